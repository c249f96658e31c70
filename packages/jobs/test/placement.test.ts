// Placement: constraints obeyed, strategies ordering nodes as they should, all-or-nothing, capacity deducted across
// replicas, cost under a deadline and a budget, capacities read from real ads, and a property over random fleets.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  type Constraints,
  capacityFromAd,
  misfit,
  type NodeCapacity,
  type PlacementRequest,
  type PlacementResult,
  place,
  REFERENCE_MATMUL_GFLOPS,
  type ResourceRequest,
} from '@weft/jobs'
import { ResourceAdSchema } from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const GIB = 2 ** 30

function node(peerId: string, over: Partial<Omit<NodeCapacity, 'peerId'>> = {}): NodeCapacity {
  return {
    peerId,
    cores: 8,
    memoryBytes: 32 * GIB,
    accelerators: 0,
    acceleratorKinds: [],
    engines: ['tfjs', 'torch'],
    datasets: [],
    labels: {},
    reserved: { cores: 0, memoryBytes: 0, accelerators: 0 },
    pricing: { coreHour: 1, gibHour: 0, acceleratorHour: 0 },
    speed: 1,
    ...over,
  }
}

const one: ResourceRequest = { cores: 1, memoryBytes: GIB, accelerators: 0 }
const none: Constraints = { labels: {} }

function request(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return { jobId: 'job-1', resources: one, constraints: none, strategy: 'binpack', placements: ['r0'], ...over }
}

const replicas = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i}`)

function peers(result: PlacementResult): string[] {
  if (!result.ok) throw new Error(`expected a placement, got: ${result.reason}`)
  return result.assignments.map((a) => a.peerId)
}

function refusal(result: PlacementResult): { reason: string; rejected: Readonly<Record<string, string>> } {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.assignments)}`)
  return result
}

describe('constraints', () => {
  const fleet = [
    node('a', { labels: { site: 'tucson', tier: 'gpu' }, accelerators: 2, acceleratorKinds: ['cuda'], datasets: ['fashion-mnist'] }),
    node('b', { labels: { site: 'boston', tier: 'cpu' }, engines: ['tfjs'] }),
    node('c', { labels: { site: 'boston', tier: 'gpu' }, accelerators: 1, acceleratorKinds: ['rocm'] }),
  ]
  const only = (over: Partial<PlacementRequest>) => peers(place(request(over), fleet))

  it('places only on nodes that carry every label, tier and allowed site', () => {
    expect(only({ constraints: { labels: { site: 'boston' } } })).toEqual(['b'])
    expect(only({ constraints: { labels: {}, tier: 'gpu' } })).toEqual(['a'])
    expect(only({ constraints: { labels: {}, tier: 'gpu', sites: ['boston'] } })).toEqual(['c'])
  })

  it('places only where the engine, data set and accelerators asked for are', () => {
    expect(only({ resources: { ...one, engine: 'torch' }, constraints: { labels: {}, sites: ['boston'] } })).toEqual(['c'])
    expect(only({ resources: { ...one, dataset: 'fashion-mnist' } })).toEqual(['a'])
    expect(only({ resources: { ...one, accelerators: 1, acceleratorKind: 'rocm' } })).toEqual(['c'])
    expect(only({ resources: { ...one, accelerators: 2 } })).toEqual(['a'])
  })

  it('never uses an excluded peer', () => {
    expect(only({ constraints: { labels: {}, exclude: ['a'] } })).toEqual(['b'])
    const r = refusal(place(request({ constraints: { labels: {}, exclude: ['a', 'b', 'c'] } }), fleet))
    expect(r.reason).toBe('no node fits r0: 3 are excluded')
  })

  it('says in one sentence why no node fits, and why each peer was rejected', () => {
    const r = refusal(place(request({ resources: { ...one, cores: 16 }, constraints: { labels: { site: 'tucson' } } }), fleet))
    expect(r.reason).toBe('no node fits r0: 2 have no label site=tucson, 1 lack cores')
    expect(r.rejected).toEqual({ a: 'offers 8 cores, needs 16', b: 'no label site=tucson', c: 'no label site=tucson' })
  })

  it('lists at most 20 rejected peers', () => {
    const many = Array.from({ length: 30 }, (_, i) => node(`p${String(i).padStart(2, '0')}`, { cores: 1 }))
    const r = refusal(place(request({ resources: { ...one, cores: 2 } }), many))
    expect(r.reason).toBe('no node fits r0: 30 lack cores')
    expect(Object.keys(r.rejected)).toHaveLength(20)
  })

  it('prefers affine nodes and avoids anti-affine ones without requiring either', () => {
    expect(only({ constraints: { labels: {}, affinity: [{ key: 'site', value: 'boston' }] } })).toEqual(['b'])
    expect(only({ constraints: { labels: {}, antiAffinity: [{ key: 'tier', value: 'gpu' }] } })).toEqual(['b'])
    expect(only({ constraints: { labels: {}, affinity: [{ key: 'site', value: 'nowhere' }] } })).toEqual(['a'])
  })
})

describe('misfit', () => {
  it('says why a node can never, or cannot now, take a replica', () => {
    const n = node('a', { labels: { site: 'tucson' }, reserved: { cores: 7, memoryBytes: 0, accelerators: 0 } })
    expect(misfit(n, one, none)).toBeUndefined()
    expect(misfit(n, { ...one, cores: 2 }, none)).toBe('1 cores free, needs 2')
    expect(misfit(n, { ...one, memoryBytes: 64 * GIB }, none)).toBe('offers 32 GiB, needs 64')
    expect(misfit(n, one, { labels: {}, sites: ['boston'] })).toBe('site tucson is not one of boston')
    expect(misfit(n, { ...one, engine: 'jax' }, none)).toBe('no engine jax')
    expect(misfit(n, { ...one, accelerators: 1 }, none)).toBe('offers 0 accelerators, needs 1')
    expect(misfit(n, one, { labels: {}, exclude: ['a'] })).toBe('excluded')
  })
})

describe('strategies', () => {
  const fleet = [node('big', { cores: 32, memoryBytes: 128 * GIB }), node('mid', { cores: 8 }), node('small', { cores: 2, memoryBytes: 4 * GIB })]

  it('binpack fills the tightest node; spread the freest', () => {
    expect(peers(place(request({ strategy: 'binpack' }), fleet))).toEqual(['small'])
    expect(peers(place(request({ strategy: 'spread' }), fleet))).toEqual(['big'])
  })

  it('binpack stacks replicas on one node while it fits; spread puts them on different nodes', () => {
    expect(peers(place(request({ strategy: 'binpack', placements: replicas(3) }), fleet))).toEqual(['small', 'small', 'mid'])
    const even = [node('a'), node('b'), node('c')]
    expect(peers(place(request({ strategy: 'spread', placements: replicas(3) }), even))).toEqual(['a', 'b', 'c'])
    expect(peers(place(request({ strategy: 'binpack', placements: replicas(3) }), even))).toEqual(['a', 'a', 'a'])
  })

  it('spread counts replicas already placed', () => {
    const even = [node('a'), node('b')]
    expect(peers(place(request({ strategy: 'spread', existing: [{ placement: 'r0', peerId: 'a' }], placements: ['r1'] }), even))).toEqual(['b'])
  })

  it('breaks ties by peer id, whatever the order of the nodes', () => {
    const even = [node('c'), node('a'), node('b')]
    expect(peers(place(request(), even))).toEqual(['a'])
    expect(peers(place(request({ strategy: 'cost' }), even))).toEqual(['a'])
  })
})

describe('capacity', () => {
  it('deducts each replica from the node, counting what is reserved', () => {
    const n = [node('a', { cores: 4, reserved: { cores: 1, memoryBytes: 0, accelerators: 0 } }), node('b', { cores: 4 })]
    expect(peers(place(request({ placements: replicas(7) }), n))).toEqual(['a', 'a', 'a', 'b', 'b', 'b', 'b'])
  })

  it('places all replicas or none', () => {
    const n = [node('a', { cores: 2 }), node('b', { cores: 2 })]
    const r = refusal(place(request({ resources: { ...one, cores: 2 }, placements: replicas(3) }), n))
    expect(r.reason).toBe('placed 2 of 3 replicas, then no node fits r2: 2 lack cores')
    expect(r.rejected).toEqual({ a: '0 cores free, needs 2', b: '0 cores free, needs 2' })
  })

  it('refuses with a reason when no node offers work', () => {
    expect(refusal(place(request(), [])).reason).toBe('no node fits r0: no nodes offer work')
  })

  it('places nothing when asked for nothing', () => {
    expect(place(request({ placements: [] }), [node('a')])).toEqual({ ok: true, assignments: [], costPerHour: 0 })
  })
})

describe('spread constraint', () => {
  const sites = ['a1', 'a2', 'b1', 'c1', 'x'].map((id) => node(id, { labels: id === 'x' ? {} : { site: id[0] as string } }))
  const spread1: Constraints = { labels: {}, spread: { key: 'site', maxPerValue: 1 } }

  it('puts at most maxPerValue replicas per site, nodes without the label counting as one site', () => {
    const got = peers(place(request({ constraints: spread1, placements: replicas(4) }), sites))
    expect(got.map((p) => sites.find((n) => n.peerId === p)?.labels.site ?? '').sort()).toEqual(['', 'a', 'b', 'c'])
    const r = refusal(place(request({ constraints: spread1, placements: replicas(5) }), sites))
    expect(r.reason).toMatch(/^placed 4 of 5 replicas, then no node fits r4: 5 would exceed 1 per site$/)
  })

  it('counts existing replicas', () => {
    const got = peers(place(request({ constraints: spread1, existing: [{ placement: 'r0', peerId: 'a1' }], placements: ['r1', 'r2'] }), sites))
    expect(got.some((p) => p.startsWith('a'))).toBe(false)
  })
})

describe('cost strategy', () => {
  // Work of 3600 core-seconds on 1 core: slow takes 2 h, fast 30 min, mid 1 h.
  const fleet = [
    node('slow', { speed: 0.5, pricing: { coreHour: 0.3, gibHour: 0, acceleratorHour: 0 } }),
    node('mid', { speed: 1, pricing: { coreHour: 0.8, gibHour: 0, acceleratorHour: 0 } }),
    node('fast', { speed: 2, pricing: { coreHour: 3, gibHour: 0, acceleratorHour: 0 } }),
  ]
  const costly = (over: Partial<PlacementRequest>) => place(request({ strategy: 'cost', estimatedCoreSeconds: 3600, ...over }), fleet)

  it('without a deadline picks the cheapest per hour', () => {
    expect(peers(costly({}))).toEqual(['slow'])
  })

  it('picks the cheapest node that meets the deadline', () => {
    const r = costly({ deadlineSeconds: 4000 })
    expect(peers(r)).toEqual(['mid'])
    expect(r.ok && r.assignments[0]).toEqual({ placement: 'r0', peerId: 'mid', costPerHour: 0.8, estimatedSeconds: 3600, estimatedCost: 0.8 })
    expect(r.ok && r.estimatedCost).toBeCloseTo(0.8)
    expect(peers(costly({ deadlineSeconds: 7200 }))).toEqual(['slow'])
    expect(peers(costly({ deadlineSeconds: 1800 }))).toEqual(['fast'])
  })

  it('refuses when no node can meet the deadline', () => {
    const r = refusal(costly({ deadlineSeconds: 1000 }))
    expect(r.reason).toBe('no node fits r0: 3 miss the deadline')
    expect(r.rejected.fast).toBe('estimated 1800 s, over the deadline of 1000 s')
  })

  it('weighs price against speed: a faster dearer node can cost less in all', () => {
    const f = [node('cheap-slow', { speed: 0.25, pricing: { coreHour: 1, gibHour: 0, acceleratorHour: 0 } }), node('dear-fast', { speed: 4, pricing: { coreHour: 4, gibHour: 0, acceleratorHour: 0 } })]
    expect(peers(place(request({ strategy: 'cost', estimatedCoreSeconds: 3600, deadlineSeconds: 1e6 }), f))).toEqual(['dear-fast'])
  })

  it('prices memory and accelerators too', () => {
    const f = [node('a', { pricing: { coreHour: 0, gibHour: 1, acceleratorHour: 0 } }), node('b', { pricing: { coreHour: 1.5, gibHour: 0, acceleratorHour: 0 } })]
    const r = place(request({ strategy: 'cost', resources: { ...one, memoryBytes: 2 * GIB } }), f)
    expect(peers(r)).toEqual(['b'])
    expect(r.ok && r.costPerHour).toBe(1.5)
  })

  it('refuses placements whose estimated cost exceeds the budget, and places those within it', () => {
    const r = refusal(costly({ deadlineSeconds: 4000, placements: replicas(2), budget: 1.5 }))
    expect(r.reason).toBe('over budget: the cheapest placement costs an estimated 1.6, the budget is 1.5')
    expect(peers(costly({ deadlineSeconds: 4000, placements: replicas(2), budget: 1.6 }))).toEqual(['mid', 'mid'])
    const b = refusal(place(request({ estimatedCoreSeconds: 3600, budget: 0.1 }), fleet))
    expect(b.reason).toMatch(/^over budget: the binpack placement \(strategy cost may cost less\)/)
  })
})

describe('capacityFromAd', () => {
  it('reads the work offer of a real encoded and decoded ad', () => {
    const ad = create(ResourceAdSchema, {
      peerId: '12D3KooWnode',
      seq: 3n,
      labels: { site: 'tucson', tier: 'gpu' },
      runtimes: [
        { name: 'tfjs', backend: 'wasm', device: 'cpu', matmulGflops: 5 },
        { name: 'torch', backend: 'cuda', device: 'H100', matmulGflops: 4 * REFERENCE_MATMUL_GFLOPS },
      ],
      datasets: [{ name: 'fashion-mnist', examples: 60_000n }],
      accelerators: [{ kind: 'cuda', name: 'H100', memoryBytes: 80n * BigInt(GIB) }],
      work: {
        cores: 16,
        memoryBytes: 64n * BigInt(GIB),
        accelerators: 1,
        reservedCores: 4,
        reservedMemoryBytes: 8n * BigInt(GIB),
        reservedAccelerators: 0,
        pricing: { coreHour: 0.1, gibHour: 0.01, acceleratorHour: 2 },
        placements: 2,
      },
    })
    const decoded = fromBinary(ResourceAdSchema, toBinary(ResourceAdSchema, ad))
    expect(capacityFromAd(decoded)).toEqual<NodeCapacity>({
      peerId: '12D3KooWnode',
      cores: 16,
      memoryBytes: 64 * GIB,
      accelerators: 1,
      acceleratorKinds: ['cuda'],
      engines: ['tfjs', 'tfjs/wasm', 'torch', 'torch/cuda'],
      datasets: ['fashion-mnist'],
      labels: { site: 'tucson', tier: 'gpu' },
      reserved: { cores: 4, memoryBytes: 8 * GIB, accelerators: 0 },
      pricing: { coreHour: 0.1, gibHour: 0.01, acceleratorHour: 2 },
      speed: 4,
    })
  })

  it('is undefined without a work offer; speed 1 and no prices when unknown; bounds hostile numbers', () => {
    expect(capacityFromAd(create(ResourceAdSchema, { peerId: 'p' }))).toBeUndefined()
    const c = capacityFromAd(
      fromBinary(ResourceAdSchema, toBinary(ResourceAdSchema, create(ResourceAdSchema, { peerId: 'p', work: { cores: Number.NaN, reservedCores: 5, reservedMemoryBytes: 10n, memoryBytes: 4n } }))),
    )
    expect(c).toMatchObject({ cores: 0, memoryBytes: 4, reserved: { cores: 0, memoryBytes: 4, accelerators: 0 }, pricing: { coreHour: 0, gibHour: 0, acceleratorHour: 0 }, speed: 1 })
    const negative = capacityFromAd(create(ResourceAdSchema, { peerId: 'p', work: { cores: 2, pricing: { coreHour: -5, gibHour: Number.POSITIVE_INFINITY } } }))
    expect(negative?.pricing).toEqual({ coreHour: 0, gibHour: 0, acceleratorHour: 0 })
  })
})

describe('property: assignments never over-commit a node and obey every constraint', () => {
  const SITES = ['s0', 's1', 's2']
  const TIERS = ['cpu', 'gpu']
  const nodeArb = fc.record({
    cores: fc.integer({ min: 0, max: 16 }),
    memGib: fc.integer({ min: 0, max: 64 }),
    accelerators: fc.integer({ min: 0, max: 4 }),
    reservedCores: fc.integer({ min: 0, max: 16 }),
    site: fc.option(fc.constantFrom(...SITES), { nil: undefined }),
    tier: fc.constantFrom(...TIERS),
    torch: fc.boolean(),
    speed: fc.constantFrom(0.5, 1, 2),
    price: fc.integer({ min: 0, max: 10 }),
  })
  const requestArb = fc.record({
    cores: fc.integer({ min: 1, max: 8 }),
    memGib: fc.integer({ min: 0, max: 16 }),
    accelerators: fc.integer({ min: 0, max: 2 }),
    torch: fc.boolean(),
    tier: fc.option(fc.constantFrom(...TIERS), { nil: undefined }),
    sites: fc.option(fc.subarray(SITES, { minLength: 1 }), { nil: undefined }),
    spread: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    exclude: fc.subarray(['n0', 'n1', 'n2', 'n3']),
    strategy: fc.constantFrom('binpack' as const, 'spread' as const, 'cost' as const),
    replicas: fc.integer({ min: 1, max: 8 }),
    deadline: fc.option(fc.integer({ min: 100, max: 2000 }), { nil: undefined }),
  })

  it('holds for random fleets and requests', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 0, maxLength: 12 }), requestArb, (specs, q) => {
        const nodes = specs.map((s, i) =>
          node(`n${i}`, {
            cores: s.cores,
            memoryBytes: s.memGib * GIB,
            accelerators: s.accelerators,
            reserved: { cores: Math.min(s.reservedCores, s.cores), memoryBytes: 0, accelerators: 0 },
            labels: { tier: s.tier, ...(s.site === undefined ? {} : { site: s.site }) },
            engines: s.torch ? ['tfjs', 'torch'] : ['tfjs'],
            speed: s.speed,
            pricing: { coreHour: s.price, gibHour: 0, acceleratorHour: 0 },
          }),
        )
        const resources: ResourceRequest = { cores: q.cores, memoryBytes: q.memGib * GIB, accelerators: q.accelerators, ...(q.torch ? { engine: 'torch' } : {}) }
        const constraints: Constraints = {
          labels: {},
          ...(q.tier === undefined ? {} : { tier: q.tier }),
          ...(q.sites === undefined ? {} : { sites: q.sites }),
          ...(q.spread === undefined ? {} : { spread: { key: 'site', maxPerValue: q.spread } }),
          exclude: q.exclude,
        }
        const result = place(
          {
            jobId: 'j',
            resources,
            constraints,
            strategy: q.strategy,
            placements: replicas(q.replicas),
            estimatedCoreSeconds: 1000,
            ...(q.deadline === undefined ? {} : { deadlineSeconds: q.deadline }),
          },
          nodes,
        )
        if (!result.ok) {
          expect(result.reason.length).toBeGreaterThan(0)
          return
        }
        expect(result.assignments.map((a) => a.placement)).toEqual(replicas(q.replicas))
        const used = new Map<string, number>()
        const perSite = new Map<string, number>()
        for (const a of result.assignments) {
          const n = nodes.find((x) => x.peerId === a.peerId) as NodeCapacity
          used.set(n.peerId, (used.get(n.peerId) ?? 0) + 1)
          const site = n.labels.site ?? ''
          perSite.set(site, (perSite.get(site) ?? 0) + 1)
          if (q.tier !== undefined) expect(n.labels.tier).toBe(q.tier)
          if (q.sites !== undefined) expect(q.sites).toContain(n.labels.site)
          if (q.torch) expect(n.engines).toContain('torch')
          expect(q.exclude).not.toContain(n.peerId)
          if (q.strategy === 'cost' && q.deadline !== undefined) expect(1000 / (q.cores * n.speed)).toBeLessThanOrEqual(q.deadline)
        }
        for (const [peer, count] of used) {
          const n = nodes.find((x) => x.peerId === peer) as NodeCapacity
          expect(n.reserved.cores + count * q.cores).toBeLessThanOrEqual(n.cores)
          expect(n.reserved.memoryBytes + count * q.memGib * GIB).toBeLessThanOrEqual(n.memoryBytes)
          expect(n.reserved.accelerators + count * q.accelerators).toBeLessThanOrEqual(n.accelerators)
        }
        if (q.spread !== undefined) for (const count of perSite.values()) expect(count).toBeLessThanOrEqual(q.spread)
      }),
      { numRuns: 500 },
    )
  })

  it('places whenever a node fits one replica and only one is asked for', () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 8 }), (specs, cores) => {
        const nodes = specs.map((s, i) => node(`n${i}`, { cores: s.cores, reserved: { cores: Math.min(s.reservedCores, s.cores), memoryBytes: 0, accelerators: 0 } }))
        const res = { ...one, cores }
        const fits = nodes.some((n) => misfit(n, res, none) === undefined)
        expect(place(request({ resources: res }), nodes).ok).toBe(fits)
      }),
      { numRuns: 300 },
    )
  })
})
