
import type { TrainingPool } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { MemoryHub, NothingToJoinError, outerSteps, parseSwarmSpec, poolTrainer, runSwarmSimulation, type SwarmPeerEvent, type SwarmSpec, type SwarmStateStore, startSwarmPeer, transformerTrainer } from '@weft/swarm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bandsSpec, SHARES, TEST } from './fixtures.js'

// Non-IID shares: each peer sees mostly two of the four classes.
const shares = SHARES
const test = TEST

const specOf = (extra: Record<string, unknown>) =>
  bandsSpec({ evaluation: { dataset: 'test', every: 4 }, ...extra })

let pool: TrainingPool
beforeAll(() => {
  pool = createWorkerPool({ size: 1 })
})
afterAll(async () => {
  await pool.close()
})

describe('the swarm simulator', () => {
  it('4 peers with DiLoCo in groups of 2 learn what no share shows alone, and their models meet', async () => {
    const result = await runSwarmSimulation({ spec: specOf({ averaging: { groupSize: 2 } }), shares: shares.slice(0, 4), test, pool })
    for (const peer of result.peers) {
      expect(peer.records).toHaveLength(20)
      expect(peer.records.every((r) => r.groupSize === 2 && r.failedParts === 0)).toBe(true)
      // Each peer's share holds two classes; the swarm's model tells all four apart.
      expect(peer.accuracy).toBeGreaterThan(0.9)
    }
    // Groups change each step: every peer averaged with at least two different partners.
    const keys = new Set(result.peers[0]?.records.map((r) => r.group.split('/').at(-1)))
    expect(keys.size).toBeGreaterThanOrEqual(2)
    // The final consensus (log2 4 = 2 rounds of averaging without training) leaves every peer with the swarm's mean.
    for (const peer of result.peers.slice(1)) {
      expect(Math.max(...peer.params.map((v, i) => Math.abs(v - (result.peers[0]?.params[i] as number))))).toBeLessThan(1e-6)
    }
  })

  it('goes on when a peer dies mid-training, and a late joiner fetches the state and ends with the swarm’s model', async () => {
    const events: [string, SwarmPeerEvent][] = []
    const result = await runSwarmSimulation({
      spec: specOf({ averaging: { groupSize: 8, partTimeoutMs: 1_000 }, memberExpiryMs: 2_000 }),
      shares,
      test,
      pool,
      kill: [{ peer: 3, atStep: 2 }],
      join: [{ peer: 4, atStep: 3 }],
      onEvent: (peer, event) => events.push([peer, event]),
    })
    const [p0, p1, p2, dead, joiner] = result.peers
    expect(dead?.killed).toBe(true)
    for (const p of [p0, p1, p2]) expect(p?.records).toHaveLength(20)
    // The joiner started from a member's saved state, not from scratch.
    const joined = events.find(([peer, e]) => peer === joiner?.id && e.type === 'joined')?.[1]
    expect(joined).toMatchObject({ type: 'joined' })
    expect((joined as { step: number }).step).toBeGreaterThanOrEqual(3)
    expect((joined as { from?: string }).from).toBeDefined()
    // One group: every live peer starts each step from the same outer parameters and momentum, the joiner included
    // (it started from a member's state at a step boundary and averaged from its first step on).
    for (const p of [p1, p2, joiner]) {
      const diff = Math.max(...(p?.params ?? []).map((v, i) => Math.abs(v - (p0?.params[i] as number))))
      expect(diff).toBeLessThan(1e-5)
    }
    // It still learned more than any two-class share can teach (at most 50% on the four-class test set).
    expect(p0?.accuracy).toBeGreaterThan(0.6)
  })
})

describe('a late joiner', () => {
  const trainerOf = (spec: SwarmSpec, i: number) => poolTrainer({ spec, pool, train: shares[i] as (typeof shares)[number], test, seed: i })
  /** A peer of `swarm` on `hub` (`peer-<i>` unless named) that trains on share `i`; states in the hub's store unless given. */
  const peerIn = (swarm: string, spec: SwarmSpec, hub: MemoryHub, i: number, o: { join?: boolean; name?: string; states?: SwarmStateStore; onEvent?: (e: SwarmPeerEvent) => void } = {}) =>
    startSwarmPeer({
      swarm,
      spec,
      transport: hub.transport(o.name ?? `peer-${i}`),
      trainer: trainerOf(spec, i),
      states: o.states ?? hub.states,
      join: o.join ?? false,
      ...(o.onEvent === undefined ? {} : { onEvent: o.onEvent }),
    })

  // Found by the chaos harness (swarm-churn): a node started again joined before it heard any member (its connections
  // and topics were a moment old), gave up after one member expiry and began the swarm over from the seeded model,
  // publishing steps 0 and 1 again while the swarm was past them.
  it('that hears of members only after a member expiry still starts from their state, not from scratch', async () => {
    const spec = specOf({ averaging: { groupSize: 8, partTimeoutMs: 1_000 }, memberExpiryMs: 500 })
    const hub = new MemoryHub()
    const events: SwarmPeerEvent[] = []
    const joiner = peerIn('late', spec, hub, 2, { join: true, onEvent: (e) => events.push(e) })
    // The members start four member expiries later.
    await new Promise((r) => setTimeout(r, 2_000))
    const members = [peerIn('late', spec, hub, 0), peerIn('late', spec, hub, 1)]
    await Promise.all([joiner.done, ...members.map((m) => m.done)])
    const joined = events.find((e) => e.type === 'joined') as { step: number; from?: string }
    expect(joined.from).toBeDefined()
    expect(joined.step).toBeGreaterThanOrEqual(1)
    // Its first step is the one it joined at: it never ran the steps the swarm had passed.
    const steps = events.filter((e) => e.type === 'step').map((e) => (e as { record: { step: number } }).record.step)
    expect(steps[0]).toBe(joined.step)
  }, 120_000)

  // Found by the chaos harness (swarm-churn): a node started again fetched the state of the member it heard of first;
  // that member was killed mid-fetch, and the node failed ("no provider left") while two other members held a state.
  it('whose state holder dies mid-fetch takes another member’s state', async () => {
    const spec = specOf({ averaging: { groupSize: 8, partTimeoutMs: 1_000 }, memberExpiryMs: 1_000 })
    const hub = new MemoryHub()
    const asked: string[] = []
    // The first holder asked dies as the fetch starts.
    const states = {
      put: hub.states.put,
      get: async (cid: string, holder: string, count: number, signal: AbortSignal) => {
        asked.push(holder)
        if (asked.length === 1) hub.cut(holder)
        return hub.states.get(cid, holder, count, signal)
      },
    }
    const members = [0, 1, 2].map((i) => peerIn('holder-dies', spec, hub, i, { states }))
    const events: SwarmPeerEvent[] = []
    const joiner = peerIn('holder-dies', spec, hub, 3, { join: true, states, onEvent: (e) => events.push(e) })
    await joiner.done
    const dead = asked[0] as string
    expect(events.find((e) => e.type === 'state-unavailable')).toMatchObject({ from: dead, reason: `${dead} cannot be reached` })
    const joined = events.find((e) => e.type === 'joined') as { step: number; from?: string }
    expect(joined.from).toBeDefined()
    expect(joined.from).not.toBe(dead)
    // It trained from there to the swarm's end with the members still alive.
    expect(joiner.step).toBe(joiner.totalSteps)
    expect(joiner.records[0]?.step).toBe(joined.step)
    const alive = members.filter((_, i) => `peer-${i}` !== dead)
    await Promise.all(alive.map((m) => m.done))
    for (const m of alive) expect(Math.max(...joiner.params().map((v, i) => Math.abs(v - (m.params()[i] as number))))).toBeLessThan(1e-5)
    await Promise.all(members.map((m) => m.leave()))
  }, 120_000)

  // Found by the chaos harness (swarm-churn): a node that joined at the swarm's last step took the members' final
  // state and never scored it; its view showed no accuracy, or an earlier life's, for the model it ended with.
  it('that joins at the last step ends with a score of the model it holds', async () => {
    const spec = specOf({ averaging: { groupSize: 8, partTimeoutMs: 1_000 }, memberExpiryMs: 1_000 })
    const last = outerSteps(spec)
    const hub = new MemoryHub()
    const events: SwarmPeerEvent[] = []
    let joiner: ReturnType<typeof startSwarmPeer> | undefined
    const members = [0, 1].map((i) =>
      peerIn('joins-late', spec, hub, i, {
        // Joins while the members train the last step: it takes the state they save at its end.
        onEvent: (e) => {
          if (joiner === undefined && e.type === 'step' && e.record.step === last - 2) joiner = peerIn('joins-late', spec, hub, 2, { name: 'joiner', join: true, onEvent: (j) => events.push(j) })
        },
      }),
    )
    await Promise.all(members.map((m) => m.done))
    const late = joiner as NonNullable<typeof joiner>
    await late.done
    expect(events.find((e) => e.type === 'joined')).toMatchObject({ step: last })
    expect(late.records).toEqual([])
    // Scored once done, on the parameters it holds.
    const scored = await trainerOf(spec, 2).evaluate?.(late.params())
    expect(late.evaluation).toEqual({ step: last, accuracy: scored?.accuracy, loss: scored?.loss, final: true })
    expect(events.find((e) => e.type === 'done')).toMatchObject({ evaluation: late.evaluation })
    // The members' model, so the members' score.
    expect(late.evaluation?.accuracy).toBeCloseTo(members[0]?.evaluation?.accuracy as number, 6)
    for (const m of members) expect(m.evaluation).toMatchObject({ step: last, final: true })
  }, 120_000)

  it('that hears of no member fails saying so, rather than beginning the swarm anew', async () => {
    const spec = specOf({ memberExpiryMs: 500 })
    const hub = new MemoryHub()
    const events: SwarmPeerEvent[] = []
    const lonely = startSwarmPeer({
      swarm: 'empty',
      spec,
      transport: hub.transport('lonely'),
      trainer: poolTrainer({ spec, pool, train: shares[0] as (typeof shares)[number], seed: 0 }),
      states: hub.states,
      join: true,
      joinWaitMs: 800,
      onEvent: (e) => events.push(e),
    })
    await expect(lonely.done).rejects.toThrow(NothingToJoinError)
    await expect(lonely.done).rejects.toThrow("heard of no member's state within 1 s: nothing to join")
    expect(events.filter((e) => e.type === 'joined' || e.type === 'step')).toEqual([])
  })
})

describe('a language-model swarm in the simulator', () => {
  it('two peers, each with half of a text, train one transformer (tfjs) that predicts both halves', async () => {
    const engine = await tfjsRuntime({ backend: 'wasm' })
    try {
      // The text: a cycle over 12 ids; peer 0 holds runs starting in its first half, peer 1 in its second.
      const cycle = Array.from({ length: 12 }, (_, i) => (i * 5) % 12)
      const stream = (offset: number, n: number) => Int32Array.from({ length: n }, (_, k) => cycle[(offset + (k % 6)) % 12] as number)
      const spec = parseSwarmSpec({
        model: { architecture: 'transformer', config: { vocabSize: 12, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, maxPositions: 16 }, context: 6 },
        dataset: 'text',
        inner: { batchSize: 4, optimizer: { kind: 'adamw', lr: 0.01, weightDecay: 0 } },
        targetSamples: 2 * 5 * 4,
        totalSamples: 2 * 5 * 4 * 12,
        minPeers: 2,
        evaluation: { dataset: 'text', every: 4 },
        averaging: { groupSize: 2 },
        seed: 3,
      })
      // Validation holds both halves: a model trained on one half alone predicts the other's runs no better than chance.
      const validation = Int32Array.from([...stream(0, 70), ...stream(6, 70)])
      const trainers = [0, 6].map((offset, i) => transformerTrainer({ spec, runtime: engine, train: stream(offset, 400), validation, seed: i }))
      const result = await runSwarmSimulation({ spec, shares: [], pool, trainers })
      const chance = Math.log(12)
      for (const peer of result.peers) {
        expect(peer.records).toHaveLength(12)
        expect(peer.records.every((r) => r.groupSize === 2 && r.contributors === 2)).toBe(true)
        expect(peer.records.at(-1)?.testLoss).toBeLessThan(chance / 3)
      }
      // The swarm's model predicts both halves' runs, though each peer saw only one.
      expect(result.peers[0]?.loss).toBeLessThan(chance / 3)
      expect(Math.max(...(result.peers[0]?.params ?? []).map((v, i) => Math.abs(v - (result.peers[1]?.params[i] as number))))).toBeLessThan(1e-6)
      for (const t of trainers) t.dispose()
    } finally {
      await engine.dispose()
    }
  })
})
