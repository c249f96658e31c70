// Matchmaking, the butterfly all-reduce and the outer step, over the in-memory network: what each member ends with,
// a member that stalls or dies, and members that send poison.
import { createTensor, encodeTensorSet } from '@weft/protocol'
import { describe, expect, it } from 'vitest'
import {
  allReduce,
  applyOuterStep,
  type GroupMember,
  groupFor,
  gridDimensions,
  layoutFor,
  MemberTable,
  MemoryHub,
  type OwnerStep,
  PartEncoder,
  PartServer,
  parseSwarmSpec,
  partsOf,
  reduceContributions,
} from '@weft/swarm'

const members = (n: number, bandwidth = (i: number) => 1 + i): GroupMember[] =>
  Array.from({ length: n }, (_, i) => ({ peer: `peer-${String(i).padStart(2, '0')}`, bandwidth: bandwidth(i) }))

describe('matchmaking', () => {
  it('mixes 8 members in groups of 2 to the swarm mean in log2(8) = 3 steps, with keys that change every step', () => {
    const ms = members(8)
    expect(gridDimensions(8, 2)).toBe(3)
    let values = new Map(ms.map((m, i) => [m.peer, i * i]))
    const mean = [...values.values()].reduce((a, b) => a + b) / 8
    const keys = new Set<string>()
    for (let step = 0; step < 3; step++) {
      const next = new Map<string, number>()
      for (const m of ms) {
        const g = groupFor('s', step, m.peer, ms, 2)
        expect(g.members).toHaveLength(2)
        keys.add(g.key)
        next.set(m.peer, g.members.reduce((s, x) => s + (values.get(x.peer) as number), 0) / g.members.length)
      }
      values = next
    }
    for (const v of values.values()) expect(v).toBeCloseTo(mean, 12)
    expect(keys.size).toBe(12) // 4 groups per step, none reused
  })

  it('mixes a swarm that does not fill the grid (12 members in groups of 2): the layout changes each cycle', () => {
    const ms = members(12)
    let values = new Map(ms.map((m, i) => [m.peer, i * i]))
    const mean = [...values.values()].reduce((a, b) => a + b) / 12
    const spread = () => Math.sqrt([...values.values()].reduce((s, v) => s + (v - mean) ** 2, 0) / 12)
    const start = spread()
    for (let step = 0; step < 16; step++) {
      const next = new Map<string, number>()
      for (const m of ms) {
        const g = groupFor('s', step, m.peer, ms, 2)
        next.set(m.peer, g.members.reduce((s, x) => s + (values.get(x.peer) as number), 0) / g.members.length)
      }
      values = next
    }
    // Four cycles of four steps: with one fixed layout the spread stalls near a fifth of where it started.
    expect(spread() / start).toBeLessThan(1e-2)
  })

  it('puts a swarm no larger than the group size in one group, and finds a member that is not listed', () => {
    const ms = members(3)
    expect(groupFor('s', 5, 'peer-01', ms, 4).members.map((m) => m.peer)).toEqual(['peer-00', 'peer-01', 'peer-02'])
    expect(() => groupFor('s', 0, 'stranger', ms, 4)).toThrow(/not among/)
  })

  it('cuts shards in proportion to bandwidth, parts no larger than asked, covering the vector once', () => {
    const parts = partsOf(1000, members(3, (i) => [1, 2, 7][i] as number), 300)
    expect(parts.map((p) => p.offset + p.length).at(-1)).toBe(1000)
    for (let i = 1; i < parts.length; i++) expect(parts[i]?.offset).toBe((parts[i - 1]?.offset ?? 0) + (parts[i - 1]?.length ?? 0))
    const owned = (peer: string) => parts.filter((p) => p.owner === peer).reduce((s, p) => s + p.length, 0)
    expect([owned('peer-00'), owned('peer-01'), owned('peer-02')]).toEqual([100, 200, 700])
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(300)
  })
})

describe('what a lying member can claim', () => {
  it('a huge declared bandwidth counts at most 4x the median: the liar cannot own most of the vector', () => {
    const parts = partsOf(600, members(3, (i) => [1, 1, 1e9][i] as number), 1000)
    const owned = (peer: string) => parts.filter((p) => p.owner === peer).reduce((s, p) => s + p.length, 0)
    expect([owned('peer-00'), owned('peer-01'), owned('peer-02')]).toEqual([100, 100, 400])
  })

  it('a member claiming the whole target counts for at most twice an equal share', () => {
    let now = 0
    const table = new MemberTable('me', 10_000, () => now)
    const report = (peer: string, stepSamples: number) => ({
      peer,
      step: 3,
      stepSamples,
      totalSamples: stepSamples,
      loss: 0,
      accuracy: 0,
      consensusDistance: 0,
      bandwidth: 1,
      stateCid: '',
      stateStep: 0,
      leaving: false,
    })
    table.add(report('liar', 1_000_000))
    table.add(report('honest', 100))
    now = 1
    // Three members, target 900: an equal share is 300; the liar counts for 600 at most, the honest one for its 100.
    expect(table.samplesIn(3, 900)).toBe(700)
    // Shares that do not divide evenly still give a whole number of samples (the status view carries it as one).
    expect(table.samplesIn(3, 1000)).toBe(766)
  })
})

describe('reduction rules', () => {
  it('weights the mean by samples; the median and trimmed mean ignore one wild value', () => {
    const c = (from: string, weight: number, v: number[]) => ({ from, weight, values: Float32Array.from(v) })
    const cs = [c('a', 1, [1, 10]), c('b', 3, [3, 10]), c('c', 0, [2, 10]), c('d', 1, [2, 1000]), c('e', 1, [2, 10])]
    expect([...reduceContributions({ reduction: 'mean', trim: 0 }, cs.slice(0, 2))]).toEqual([2.5, 10])
    expect([...reduceContributions({ reduction: 'median', trim: 0 }, cs)]).toEqual([2, 10])
    expect([...reduceContributions({ reduction: 'trimmed-mean', trim: 0.2 }, cs)]).toEqual([2, 10])
  })
})

describe('the outer step', () => {
  const spec = parseSwarmSpec({ model: { architecture: 'logreg', inputShape: [2], numClasses: 2 }, dataset: 'd', targetSamples: 10, totalSamples: 10 })
  it('under average moves to the mean; under diloco applies Nesterov momentum to θ − mean', () => {
    const avg = { params: Float32Array.from([1, 1]), momentum: new Float32Array(2) }
    applyOuterStep({ kind: 'average' }, avg, Float32Array.from([0, 2]))
    expect([...avg.params]).toEqual([0, 2])
    const st = { params: Float32Array.from([1, 1]), momentum: new Float32Array(2) }
    const outer = spec.outer
    expect(outer).toEqual({ kind: 'diloco', lr: 0.7, momentum: 0.9, nesterov: true })
    const rms = applyOuterStep(outer, st, Float32Array.from([0, 1]))
    // Δ = (1, 0); m = Δ; θ = 1 − 0.7·(Δ + 0.9·m) = 1 − 0.7·1.9
    expect(st.params[0]).toBeCloseTo(1 - 0.7 * 1.9, 6)
    expect(st.params[1]).toBe(1)
    expect(rms).toBeCloseTo(Math.SQRT1_2, 6)
    applyOuterStep(outer, st, st.params.slice())
    expect(st.momentum[0]).toBeCloseTo(0.9, 6) // no new Δ: momentum decays and still moves θ
  })
})

/** A group of members on one hub, each with its part server, ready to all-reduce step 0. */
function group(n: number, opts: { partTimeoutMs?: number; compression?: 'none' | 'float16' | 'int8'; reduction?: 'mean' | 'median'; length?: number } = {}) {
  const hub = new MemoryHub()
  const ms = members(n, () => 1)
  const length = opts.length ?? 10
  const reference = new Float32Array(length)
  const offences: string[] = []
  const compression = opts.compression ?? 'none'
  const peers = ms.map((m) => {
    const transport = hub.transport(m.peer)
    const g = groupFor('s', 0, m.peer, ms, 8)
    const view: OwnerStep = { step: 0, group: g, parts: layoutFor(g, length), reference }
    const server = new PartServer({
      self: m.peer,
      reduction: opts.reduction ?? 'mean',
      trim: 0,
      compression,
      partTimeoutMs: opts.partTimeoutMs ?? 2_000,
      maxRmsDistance: 5,
      maxWeight: 100,
      stepView: async (step) => (step === 0 ? view : undefined),
      onOffence: (peer, reason) => offences.push(`${m.peer} ← ${peer}: ${reason}`),
    })
    transport.serve((from, request) => server.handle(from, request))
    return { peer: m.peer, transport, server, view, encoder: new PartEncoder(compression, length) }
  })
  const run = (i: number, values: Float32Array, weight = 1) => {
    const p = peers[i] as (typeof peers)[number]
    return allReduce({ self: p.peer, view: p.view, values, weight, transport: p.transport, server: p.server, encoder: p.encoder, compression, exchangeTimeoutMs: 10_000, maxRmsDistance: 5 })
  }
  return { hub, peers, run, offences }
}

describe('the butterfly all-reduce', () => {
  it('gives every member of a group of 4 the sample-weighted mean', async () => {
    const { run } = group(4)
    const results = await Promise.all([0, 1, 2, 3].map((i) => run(i, new Float32Array(10).fill(i), i + 1)))
    const mean = (0 * 1 + 1 * 2 + 2 * 3 + 3 * 4) / 10
    for (const r of results) {
      expect(r.failedParts).toBe(0)
      expect(r.minContributors).toBe(4)
      for (const v of r.mean) expect(v).toBeCloseTo(mean, 6)
    }
    // Each member sent its values of the 3 parts it does not own and got 3 reductions back.
    expect(results[0]?.bytesSent).toBeGreaterThan(0)
  })

  it('finishes without a member that never comes, after the part timeout, and without one that dies holding parts', async () => {
    const { run, hub, peers } = group(4, { partTimeoutMs: 300 })
    hub.cut(peers[3]?.peer as string)
    const results = await Promise.all([0, 1, 2].map((i) => run(i, new Float32Array(10).fill(i))))
    for (const r of results) {
      // The dead member's part keeps each member's own values; the others are the mean of the 3 that came.
      expect(r.failedParts).toBe(1)
      expect(r.minContributors).toBe(3)
      const owned = new Set(peers[0]?.view.parts.filter((p) => p.owner !== peers[3]?.peer).flatMap((p) => Array.from({ length: p.length }, (_, k) => p.offset + k)))
      for (const k of owned) expect(r.mean[k]).toBeCloseTo(1, 6)
    }
  })

  it('drops a member that sends NaN or a huge update, records it, and the others’ mean stays finite and unmoved', async () => {
    const { run, offences, peers } = group(4)
    // The attacker skips the honest encoder (which refuses NaN): it writes its own float32 part full of NaN.
    const attack = async (i: number, fill: number) => {
      const p = peers[i] as (typeof peers)[number]
      await Promise.allSettled(
        p.view.parts
          .filter((part) => part.owner !== p.peer)
          .map((part) => {
            const values = encodeTensorSet([createTensor('delta', 'float32', [part.length], new Float32Array(part.length).fill(fill))])
            const request = { group: p.view.group.key, step: 0, part: part.index, offset: part.offset, length: part.length, weight: 100, values }
            return p.transport.exchange(part.owner, request, AbortSignal.timeout(5_000))
          }),
      )
    }
    const [r0, r1] = await Promise.all([run(0, new Float32Array(10).fill(1)), run(1, new Float32Array(10).fill(3)), attack(2, Number.NaN), attack(3, 1e30)])
    // Members 0 and 1 average only each other where they own parts; the attackers' own parts time out and keep their values.
    for (const r of [r0, r1]) {
      for (const v of r?.mean ?? []) expect(Number.isFinite(v) && v >= 1 && v <= 3).toBe(true)
    }
    const ownedBy0 = peers[0]?.view.parts.find((p) => p.owner === peers[0]?.peer)
    expect(r0?.mean[ownedBy0?.offset ?? 0]).toBeCloseTo(2, 6)
    expect(offences.some((o) => o.includes('← peer-02') && /finite|NaN/.test(o))).toBe(true)
    expect(offences.some((o) => o.includes('← peer-03') && /rms/.test(o))).toBe(true)
  })

  it('int8 with error feedback: what rounding withheld is sent next time, so repeated rounds average exactly', async () => {
    const { run, peers } = group(2, { compression: 'int8', length: 2048 })
    const a = Float32Array.from({ length: 2048 }, (_, i) => Math.sin(i) * 0.5)
    const b = Float32Array.from({ length: 2048 }, (_, i) => Math.cos(i) * 0.5)
    const [ra] = await Promise.all([run(0, a), run(1, b)])
    let err = 0
    for (let i = 0; i < 2048; i++) err = Math.max(err, Math.abs((ra?.mean[i] as number) - ((a[i] as number) + (b[i] as number)) / 2))
    expect(err).toBeGreaterThan(0) // int8 is lossy...
    expect(err).toBeLessThan(0.01) // ...by about one step of 1/127 of the block's range
    expect(peers[0]?.encoder.residualNorm()).toBeGreaterThan(0)
  })
})
