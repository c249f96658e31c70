// The job model: every form a user writes, refusals that name the field, sizes and durations, batch expansion.
import { expandBatch, type JobSpec, JobSpecError, parseBytes, parseDuration, parseJobSpec } from '@weft/jobs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const GIB = 2 ** 30

/** The JobSpecError `fn` throws. */
function specError(fn: () => unknown): JobSpecError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(JobSpecError)
    expect((err as Error).name).toBe('JobSpecError')
    return err as JobSpecError
  }
  throw new Error('expected a JobSpecError')
}

describe('parseBytes', () => {
  it.each([
    ['2GiB', 2 * GIB],
    ['512MiB', 512 * 2 ** 20],
    ['1.5GB', 1.5e9],
    ['100k', 100_000],
    ['4 Ki', 4096],
    ['1024', 1024],
    [1024, 1024],
    ['1tib', 2 ** 40],
    ['0', 0],
  ] as const)('%s → %d bytes', (v, bytes) => {
    expect(parseBytes(v)).toBe(bytes)
  })

  it.each(['', 'GiB', '-1GiB', '2 parsecs', '1e3', 'NaN'])('refuses %j', (v) => {
    expect(() => parseBytes(v)).toThrow(RangeError)
  })

  it('refuses negative, fractional-free non-finite and too large numbers', () => {
    expect(() => parseBytes(-1)).toThrow(RangeError)
    expect(() => parseBytes(Number.POSITIVE_INFINITY)).toThrow(RangeError)
    expect(() => parseBytes('9000000TiB')).toThrow(RangeError)
  })
})

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['2h', 7200],
    ['1h30m', 5400],
    ['1h 30m 15s', 5415],
    ['1d', 86_400],
    ['500ms', 0.5],
    ['2:00:00', 7200],
    ['1:30', 90],
    ['120', 120],
    [120, 120],
  ] as const)('%s → %d s', (v, seconds) => {
    expect(parseDuration(v)).toBe(seconds)
  })

  it.each(['', 'soon', '1:75', '3w', '-5s', 'h'])('refuses %j', (v) => {
    expect(() => parseDuration(v)).toThrow(RangeError)
  })
})

describe('parseJobSpec', () => {
  const batchBody = { task: 'evaluate', items: [1, 2, 3] }

  it('fills every default for the smallest spec', () => {
    const spec = parseJobSpec({ kind: 'serve', serve: { model: 'kjv' } })
    expect(spec).toEqual<JobSpec>({
      name: 'serve',
      kind: 'serve',
      resources: { cores: 1, memoryBytes: 512 * 2 ** 20, accelerators: 0 },
      constraints: { labels: {} },
      priority: 50,
      replicas: 1,
      strategy: 'binpack',
      serve: { model: 'kjv' },
    })
  })

  it('reads every field a user writes', () => {
    const spec = parseJobSpec({
      kind: 'fl',
      name: 'mnist-fl.v2',
      resources: { cores: 2, memory: '2GiB', accelerators: 1, acceleratorKind: 'cuda', engine: 'torch', dataset: 'fashion-mnist' },
      constraints: {
        labels: { region: 'us' },
        tier: 'gpu',
        sites: ['tucson', 'boston'],
        spread: { key: 'site', max: 1 },
        affinity: ['owner=lab', { key: 'disk', value: 'ssd' }],
        antiAffinity: [{ key: 'spot', value: 'true' }],
        exclude: ['12D3KooWbad'],
      },
      priority: 80,
      replicas: 3,
      deadline: '1h30m',
      budget: 12.5,
      strategy: 'cost',
      estimate: 600,
      fl: { rounds: 5 },
    })
    expect(spec).toEqual<JobSpec>({
      name: 'mnist-fl.v2',
      kind: 'fl',
      resources: { cores: 2, memoryBytes: 2 * GIB, accelerators: 1, acceleratorKind: 'cuda', engine: 'torch', dataset: 'fashion-mnist' },
      constraints: {
        labels: { region: 'us' },
        tier: 'gpu',
        sites: ['tucson', 'boston'],
        spread: { key: 'site', maxPerValue: 1 },
        affinity: [
          { key: 'owner', value: 'lab' },
          { key: 'disk', value: 'ssd' },
        ],
        antiAffinity: [{ key: 'spot', value: 'true' }],
        exclude: ['12D3KooWbad'],
      },
      priority: 80,
      replicas: 3,
      deadlineSeconds: 5400,
      budget: 12.5,
      strategy: 'cost',
      estimatedCoreSeconds: 600,
      fl: { rounds: 5 },
    })
  })

  it('takes a single site, a spread with its defaults, memory in bytes and an estimate as a duration', () => {
    const spec = parseJobSpec({ kind: 'swarm', swarm: {}, resources: { memory: 1024 }, constraints: { sites: 'tucson', spread: {} }, estimate: '10m' })
    expect(spec.constraints.sites).toEqual(['tucson'])
    expect(spec.constraints.spread).toEqual({ key: 'site', maxPerValue: 1 })
    expect(spec.resources.memoryBytes).toBe(1024)
    expect(spec.estimatedCoreSeconds).toBe(600)
  })

  it('parses a batch body with its defaults', () => {
    const spec = parseJobSpec({ kind: 'batch', batch: { task: 'evaluate', params: { model: 'm' }, shards: 4 } })
    expect(spec.batch).toEqual({ task: 'evaluate', params: { model: 'm' }, map: { kind: 'shards', count: 4 }, tolerance: 0, quorum: 2, seed: 0, maxAttempts: 4, adaptive: true })
    const grid = parseJobSpec({ kind: 'batch', batch: { task: 'sweep', grid: { lr: [0.1, 0.01], bs: [32] }, tolerance: 0.01, quorum: 3, seed: 7, maxAttempts: 3 } })
    expect(grid.batch).toMatchObject({ map: { kind: 'grid', grid: { lr: [0.1, 0.01], bs: [32] } }, tolerance: 0.01, quorum: 3, seed: 7, maxAttempts: 3 })
    expect(parseJobSpec({ kind: 'batch', batch: batchBody }).batch?.map).toEqual({ kind: 'items', items: [1, 2, 3] })
  })

  it('requires the kind body for its kind and refuses it for another', () => {
    expect(specError(() => parseJobSpec({ kind: 'batch' })).path).toBe('batch')
    const other = specError(() => parseJobSpec({ kind: 'fl', fl: {}, batch: batchBody }))
    expect(other.path).toBe('batch')
    expect(other.message).toContain('a fl job takes no batch: body')
  })

  it.each([
    [{ kind: 'train', fl: {} }, 'kind'],
    [{ kind: 'fl', fl: {}, name: 'Has Spaces' }, 'name'],
    [{ kind: 'fl', fl: {}, name: 'x'.repeat(65) }, 'name'],
    [{ kind: 'fl', fl: {}, resources: { cores: 2000 } }, 'resources.cores'],
    [{ kind: 'fl', fl: {}, resources: { cores: 0 } }, 'resources.cores'],
    [{ kind: 'fl', fl: {}, resources: { memory: 'lots' } }, 'resources.memory'],
    [{ kind: 'fl', fl: {}, resources: { accelerators: 1.5 } }, 'resources.accelerators'],
    [{ kind: 'fl', fl: {}, resources: { gpus: 1 } }, 'resources'],
    [{ kind: 'fl', fl: {}, replicas: 1001 }, 'replicas'],
    [{ kind: 'fl', fl: {}, priority: 101 }, 'priority'],
    [{ kind: 'fl', fl: {}, deadline: 'tomorrow' }, 'deadline'],
    [{ kind: 'fl', fl: {}, deadline: 0 }, 'deadline'],
    [{ kind: 'fl', fl: {}, strategy: 'random' }, 'strategy'],
    [{ kind: 'fl', fl: {}, budget: -1 }, 'budget'],
    [{ kind: 'fl', fl: {}, constraints: { spread: { key: 'site', max: 0 } } }, 'constraints.spread.max'],
    [{ kind: 'fl', fl: {}, constraints: { affinity: ['nolabel'] } }, 'constraints.affinity[0]'],
    [{ kind: 'fl', fl: {}, constraints: { tier: 'gpu', labels: { tier: 'cpu' } } }, 'constraints.tier'],
    [{ kind: 'batch', batch: { task: 'evaluate', items: [1], tolerance: 2 } }, 'batch.tolerance'],
    [{ kind: 'batch', batch: { task: 'evaluate', items: [1], quorum: 11 } }, 'batch.quorum'],
    [{ kind: 'batch', batch: { task: 'evaluate', items: [1], quorum: 3, maxAttempts: 2 } }, 'batch.maxAttempts'],
    [{ kind: 'batch', batch: { task: 'evaluate' } }, 'batch'],
    [{ kind: 'batch', batch: { task: 'evaluate', items: [1], shards: 2 } }, 'batch'],
    [{ kind: 'batch', batch: { task: 'evaluate', shards: 10_001 } }, 'batch.shards'],
    [{ kind: 'batch', batch: { task: 'evaluate', grid: { a: Array(200).fill(0), b: Array(200).fill(0) } } }, 'batch.grid'],
    [{ kind: 'batch', batch: { task: 'evaluate', params: { lr: 1 }, grid: { lr: [1, 2] } } }, 'batch.grid.lr'],
    [[], '(root)'],
  ])('refuses %j at %s', (input, path) => {
    const err = specError(() => parseJobSpec(input))
    expect(err.path).toBe(path)
    expect(err.message).toContain(`${path}: `)
  })

  it('names every bad field in one message', () => {
    const err = specError(() => parseJobSpec({ kind: 'fl', fl: {}, replicas: 0, priority: -1 }))
    expect(err.message).toMatch(/priority: .*replicas: |replicas: .*priority: /)
  })
})

describe('expandBatch', () => {
  const batchOf = (body: Record<string, unknown>) => parseJobSpec({ kind: 'batch', batch: { task: 'evaluate', ...body } }).batch as NonNullable<JobSpec['batch']>

  it('maps items to params.item, with ids t0000…', () => {
    const tasks = expandBatch(batchOf({ params: { model: 'm' }, items: ['a', 'b'] }))
    expect(tasks.map((t) => t.id)).toEqual(['t0000', 't0001'])
    expect(tasks.map((t) => t.spec)).toEqual([
      { task: 'evaluate', params: { model: 'm', item: 'a' } },
      { task: 'evaluate', params: { model: 'm', item: 'b' } },
    ])
  })

  it('maps shards to params.shard', () => {
    const tasks = expandBatch(batchOf({ shards: 3 }))
    expect(tasks.map((t) => t.spec.params.shard)).toEqual([
      { index: 0, count: 3 },
      { index: 1, count: 3 },
      { index: 2, count: 3 },
    ])
    expect(tasks.map((t) => t.index)).toEqual([0, 1, 2])
  })

  it('maps a grid to every point, whatever order its axes were written in', () => {
    const a = expandBatch(batchOf({ params: { epochs: 1 }, grid: { lr: [0.1, 0.01], bs: [16, 32, 64] } }))
    const b = expandBatch(batchOf({ params: { epochs: 1 }, grid: { bs: [16, 32, 64], lr: [0.1, 0.01] } }))
    expect(a).toEqual(b)
    expect(a).toHaveLength(6)
    expect(a.map((t) => t.spec.params)).toEqual([
      { epochs: 1, bs: 16, lr: 0.1 },
      { epochs: 1, bs: 16, lr: 0.01 },
      { epochs: 1, bs: 32, lr: 0.1 },
      { epochs: 1, bs: 32, lr: 0.01 },
      { epochs: 1, bs: 64, lr: 0.1 },
      { epochs: 1, bs: 64, lr: 0.01 },
    ])
  })

  it('derives per-task seeds deterministically from the batch seed and the index', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 50 }), (seed, n) => {
        const one = expandBatch(batchOf({ shards: n, seed }))
        const two = expandBatch(batchOf({ shards: n, seed }))
        expect(one).toEqual(two)
        for (const t of one) expect(Number.isInteger(t.seed) && t.seed >= 0 && t.seed < 2 ** 31).toBe(true)
      }),
      { numRuns: 50 },
    )
    const seeds = expandBatch(batchOf({ shards: 1000, seed: 1 })).map((t) => t.seed)
    expect(new Set(seeds).size).toBe(1000)
    const other = expandBatch(batchOf({ shards: 1000, seed: 2 })).map((t) => t.seed)
    expect(seeds.filter((s, i) => s === other[i])).toHaveLength(0)
  })

  it('expands exactly 10 000 tasks and refuses more', () => {
    expect(expandBatch(batchOf({ shards: 10_000 })).at(-1)?.id).toBe('t9999')
    const batch = batchOf({ shards: 1 })
    const err = specError(() => expandBatch({ ...batch, map: { kind: 'shards', count: 10_001 } }))
    expect(err.path).toBe('batch')
  })
})
