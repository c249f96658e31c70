// Partitioner laws (fast-check): every example assigned exactly once, determinism by seed; Dirichlet skew grows as alpha falls.
import {
  formatLabelTable,
  labelSkew,
  labelTable,
  type Partition,
  type PartitionScheme,
  parsePartitionSpec,
  partition,
  partitionDataset,
  partitionDirichlet,
  partitionShards,
  partitionQuantitySkew,
  inMemoryDataset,
} from '@weft/data'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const schemeArb: fc.Arbitrary<PartitionScheme> = fc.oneof(
  fc.constant({ scheme: 'iid' as const }),
  fc.double({ min: 0.01, max: 100, noNaN: true }).map((alpha) => ({ scheme: 'dirichlet' as const, alpha })),
  fc.integer({ min: 1, max: 4 }).map((shardsPerClient) => ({ scheme: 'shards' as const, shardsPerClient })),
  fc.double({ min: 0, max: 3, noNaN: true }).map((exponent) => ({ scheme: 'quantity-skew' as const, exponent })),
)

const caseArb = fc
  .record({
    numClasses: fc.integer({ min: 1, max: 12 }),
    n: fc.integer({ min: 1, max: 400 }),
    clients: fc.integer({ min: 1, max: 20 }),
    seed: fc.integer(),
    scheme: schemeArb,
  })
  .chain((c) => fc.array(fc.integer({ min: 0, max: c.numClasses - 1 }), { minLength: c.n, maxLength: c.n }).map((labels) => ({ ...c, labels })))
  .filter((c) => c.clients * (c.scheme.scheme === 'shards' ? c.scheme.shardsPerClient : 1) <= c.n)

function flat(p: Partition): number[] {
  return p.flatMap((a) => Array.from(a)).sort((a, b) => a - b)
}

describe('partitioners', () => {
  it('assign every example to exactly one client', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const p = partition(c.labels, c.scheme, { clients: c.clients, seed: c.seed })
        expect(p.length).toBe(c.clients)
        expect(flat(p)).toEqual(Array.from({ length: c.n }, (_, i) => i))
      }),
      { numRuns: 300 },
    )
  })

  it('are deterministic for a seed, and the seed matters', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const a = partition(c.labels, c.scheme, { clients: c.clients, seed: c.seed })
        const b = partition([...c.labels], c.scheme, { clients: c.clients, seed: c.seed })
        expect(b).toEqual(a)
      }),
      { numRuns: 100 },
    )
    const labels = Array.from({ length: 500 }, (_, i) => i % 10)
    for (const scheme of [{ scheme: 'iid' }, { scheme: 'dirichlet', alpha: 0.5 }, { scheme: 'shards', shardsPerClient: 2 }, { scheme: 'quantity-skew', exponent: 1 }] as const) {
      expect(partition(labels, scheme, { clients: 5, seed: 1 })).not.toEqual(partition(labels, scheme, { clients: 5, seed: 2 }))
    }
  })

  it('Dirichlet label skew grows as alpha falls (fixed seed)', () => {
    const labels = Array.from({ length: 6000 }, (_, i) => i % 10)
    const skews = [100, 10, 1, 0.5, 0.1].map((alpha) => labelSkew(labelTable(partitionDirichlet(labels, { clients: 10, alpha, seed: 1 }), labels, 10)))
    for (let k = 1; k < skews.length; k++) {
      expect(skews[k]!.meanTotalVariation).toBeGreaterThan(skews[k - 1]!.meanTotalVariation)
      expect(skews[k]!.meanEntropy).toBeLessThan(skews[k - 1]!.meanEntropy)
    }
    expect(skews[0]!.meanEntropy).toBeGreaterThan(0.98 * Math.log2(10))
    expect(skews[4]!.meanTotalVariation).toBeGreaterThan(0.5)
  })

  it('Dirichlet minSize redraws until every client is big enough', () => {
    const labels = Array.from({ length: 1000 }, (_, i) => i % 10)
    const p = partitionDirichlet(labels, { clients: 10, alpha: 0.1, seed: 3, minSize: 20 })
    expect(Math.min(...p.map((a) => a.length))).toBeGreaterThanOrEqual(20)
  })

  it('shards give a client about shardsPerClient classes; quantity skew follows the power law', () => {
    const labels = Array.from({ length: 6000 }, (_, i) => Math.floor(i / 600))
    const s = labelSkew(labelTable(partitionShards(labels, { clients: 10, shardsPerClient: 2, seed: 1 }), labels, 10))
    expect(s.meanClassesPerClient).toBeLessThanOrEqual(2)
    const sizes = partitionQuantitySkew(labels, { clients: 10, exponent: 1.5, seed: 1 }).map((a) => a.length).sort((a, b) => b - a)
    expect(sizes[0]! / sizes[1]!).toBeCloseTo(2 ** 1.5, 1)
    const equal = partitionQuantitySkew(labels, { clients: 10, exponent: 0, seed: 1 }).map((a) => a.length)
    expect(new Set(equal)).toEqual(new Set([600]))
  })

  it('reject bad options naming the argument', () => {
    expect(() => partitionDirichlet([0, 1], { clients: 2, alpha: 0 })).toThrow(/alpha/)
    expect(() => partitionShards([0, 1, 2], { clients: 2, shardsPerClient: 2 })).toThrow(RangeError)
    expect(() => partition([0, 1], { scheme: 'iid' }, { clients: 3 })).toThrow(/clients/)
  })
})

describe('label table and named partitions', () => {
  it('counts per client and class, with totals, and formats them', () => {
    const labels = [0, 1, 1, 2, 2, 2]
    const t = labelTable([Int32Array.of(0, 1), Int32Array.of(2, 3, 4, 5)], labels, 3)
    expect(t.counts.map((r) => Array.from(r))).toEqual([[1, 1, 0], [0, 1, 3]])
    expect(Array.from(t.classTotals)).toEqual([1, 2, 3])
    expect(Array.from(t.clientTotals)).toEqual([2, 4])
    const text = formatLabelTable(t, { classNames: ['a', 'b', 'c'] })
    expect(text.split('\n')).toEqual(['client  a  b  c  total', '------  -  -  -  -----', '0       1  1  0      2', '1       0  1  3      4', '------  -  -  -  -----', 'total   1  2  3      6'])
  })

  it('partitionDataset gives the named client share; specs are validated', () => {
    const n = 200
    const ds = inMemoryDataset({
      name: 'toy',
      featureShape: [1],
      numClasses: 4,
      features: { dtype: 'float32', data: Float32Array.from({ length: n }, (_, i) => i) },
      labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    })
    const spec = parsePartitionSpec({ dataset: 'toy', scheme: 'dirichlet', alpha: 0.5, clients: 10, part: 3, seed: 1 })
    const part = partitionDataset(ds, spec)
    const expected = partitionDirichlet(ds.labels(), { clients: 10, alpha: 0.5, seed: 1 })[3]!
    expect(part.size).toBe(expected.length)
    expect(Array.from(part.labels())).toEqual(Array.from(expected, (i) => i % 4))
    expect(part.name).toBe('toy#dirichlet(0.5)@1:3/10')
    expect(() => parsePartitionSpec({ dataset: 'toy', scheme: 'dirichlet', clients: 10, part: 3 })).toThrow(/spec\.alpha/)
    expect(() => parsePartitionSpec({ dataset: 'toy', scheme: 'iid', clients: 10, part: 10 })).toThrow(/spec\.part/)
    expect(() => parsePartitionSpec({ dataset: 'toy', scheme: 'iid', clients: 2, part: 0, alhpa: 1 })).toThrow(/alhpa/)
  })
})
