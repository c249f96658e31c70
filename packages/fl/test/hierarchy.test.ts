// Site aggregators (hierarchical FL): a site's one update is FedAvg's example-weighted mean of its members' updates,
// the coordinator's FedAvg over sites equals flat FedAvg over every client, and what a site cannot do is refused.
import {
  type ClientSendOutcome,
  clientSeed,
  createClientUpdatePipeline,
  decodeClientUpdate,
  fedAvg,
  hierarchyProblem,
  type JobSpec,
  type PreparedClientUpdate,
  parseJobSpec,
  runSiteTask,
  type SiteMember,
  siteAggregate,
  type TrainAssignment,
} from '@weft/fl'
import { tensorSetByteLength } from '@weft/protocol'
import { paramCount } from '@weft/runtime'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

function spec(extra: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    model: { architecture: 'mlp', inputShape: [4], hidden: [3], numClasses: 2 },
    dataset: 'synth',
    rounds: 3,
    clients: { fraction: 1, min: 1 },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: 0.1 } },
    seed: 7,
    ...extra,
  })
}

const job = spec()
const P = paramCount(job.model)

function task(hints: TrainAssignment['hints'] = {}): TrainAssignment {
  return { jobId: 'j1', round: 2, modelHash: 'ab'.repeat(32), params: new Float32Array(P), seed: 99, hints }
}

function randomDelta(seed: number): Float32Array {
  let s = seed * 2654435761
  const d = new Float32Array(P)
  for (let i = 0; i < P; i++) {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0
    d[i] = (s / 2 ** 32 - 0.5) * 0.2
  }
  return d
}

interface FakeMemberInit {
  readonly id: string
  readonly examples: number
  readonly delta: Float32Array
  readonly loss?: number
  /** Examples its header reports (default: `examples`). */
  readonly reports?: number
  readonly fails?: string
}

/** A member that "trains" to a fixed delta and sends it through the job's update pipeline, as runClientTask would. */
function member(init: FakeMemberInit, seen?: Map<string, TrainAssignment>): SiteMember {
  return {
    id: init.id,
    examples: init.examples,
    async train(t, send) {
      seen?.set(init.id, t)
      if (init.fails !== undefined) return { ok: false, stage: 'train', reason: init.fails }
      const prepared = createClientUpdatePipeline(job).prepare(init.delta.slice(), t.hints)
      const update: PreparedClientUpdate = {
        header: {
          jobId: t.jobId,
          round: t.round,
          baseHash: t.modelHash,
          examples: init.reports ?? init.examples,
          trainLoss: init.loss ?? 1,
          trainAccuracy: 0,
          trainSeconds: 0.5,
          length: 0,
        },
        set: prepared.set,
      }
      const sent = await send(update)
      if (!sent.ok) return { ok: false, stage: 'send', reason: sent.reason }
      return { ok: true, trainSeconds: 0.5, examples: init.examples, trainLoss: init.loss ?? 1 }
    },
  }
}

/** Flat FedAvg of `updates` from `global` (serverLr 1). */
function flatFedAvg(global: Float32Array, updates: readonly { id: string; delta: Float32Array; examples: number }[]): Float32Array {
  const round = fedAvg({ paramCount: global.length }).begin(global)
  for (const u of updates) round.add({ clientId: u.id, delta: u.delta, numExamples: u.examples, staleness: 0 })
  return round.finish().global
}

describe('siteAggregate', () => {
  it('the site update is exactly the FedAvg mean of its members’ updates, weighing their examples', async () => {
    const inits = [10, 25, 7, 58].map((examples, i) => ({ id: `c${i}`, examples, delta: randomDelta(i + 1), loss: i + 1 }))
    const seen = new Map<string, TrainAssignment>()
    const out = await siteAggregate({ spec: job, task: task(), members: inits.map((m) => member(m, seen)) })
    if (!out.ok) throw new Error(out.reason)
    const expected = flatFedAvg(new Float32Array(P), inits.map((m) => ({ id: m.id, delta: m.delta, examples: m.examples })))
    expect(out.delta).toEqual(expected)
    expect(out.examples).toBe(100)
    expect(out.trainLoss).toBeCloseTo((10 * 1 + 25 * 2 + 7 * 3 + 58 * 4) / 100, 12)
    expect(out.delivered).toEqual(['c0', 'c1', 'c2', 'c3'])
    expect(out.dropped).toEqual([])
    // Each member's update as encoded on the wire, and the model to each.
    expect(out.bytesUp).toBe(4 * tensorSetByteLength(createClientUpdatePipeline(job).prepare(randomDelta(1), {}).set))
    expect(out.bytesDown).toBe(4 * P * 4)
    // Every member trains the site's task with the seed it would get in a flat job.
    for (const m of inits) expect(seen.get(m.id)?.seed).toBe(clientSeed(job.seed, 2, m.id))
  })

  it('two sites forwarded to a FedAvg coordinator equal flat FedAvg over all their clients (up to float32 rounding)', async () => {
    const example = fc.integer({ min: 1, max: 500 })
    await fc.assert(
      fc.asyncProperty(fc.array(example, { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 1_000_000 }), async (counts, seed) => {
        const clients = counts.map((examples, i) => ({ id: `c${i}`, examples, delta: randomDelta(seed + i) }))
        const global = randomDelta(seed + 100)
        const flat = flatFedAvg(global, clients)
        const sites = await Promise.all(
          [clients.slice(0, 4), clients.slice(4)].map(async (members, s) => {
            const out = await siteAggregate({ spec: job, task: task(), members: members.map((m) => member(m)) })
            if (!out.ok) throw new Error(out.reason)
            return { id: `site-${s}`, delta: out.delta, examples: out.examples }
          }),
        )
        const hierarchical = flatFedAvg(global, sites)
        for (let i = 0; i < P; i++) expect(Math.abs(hierarchical[i]! - flat[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(flat[i]!)))
      }),
      { numRuns: 40 },
    )
  })

  it('siteFraction trains a seeded share of the members, and the update weighs only theirs', async () => {
    const inits = [10, 20, 30, 40].map((examples, i) => ({ id: `c${i}`, examples, delta: randomDelta(i + 1) }))
    const run = (seed: number) => siteAggregate({ spec: job, task: { ...task(), seed }, members: inits.map((m) => member(m)), siteFraction: 0.5 })
    const a = await run(5)
    const again = await run(5)
    if (!a.ok || !again.ok) throw new Error('site failed')
    expect(a.delivered).toHaveLength(2)
    expect(again.delivered).toEqual(a.delivered)
    const picked = inits.filter((m) => a.delivered.includes(m.id))
    expect(a.examples).toBe(picked.reduce((sum, m) => sum + m.examples, 0))
    expect(a.delta).toEqual(flatFedAvg(new Float32Array(P), picked.map((m) => ({ id: m.id, delta: m.delta, examples: m.examples }))))
    const draws = new Set<string>()
    for (let seed = 1; seed <= 20; seed++) {
      const r = await run(seed)
      if (r.ok) draws.add(r.delivered.join(','))
    }
    expect(draws.size).toBeGreaterThan(1)
    await expect(siteAggregate({ spec: job, task: task(), members: inits.map((m) => member(m)), siteFraction: 0 })).rejects.toThrow(RangeError)
  })

  it('refuses a member that over-reports its examples or fails, keeps the others, and fails only when none delivered', async () => {
    const out = await siteAggregate({
      spec: job,
      task: task(),
      members: [
        member({ id: 'honest', examples: 10, delta: randomDelta(1) }),
        member({ id: 'greedy', examples: 10, reports: 1000, delta: randomDelta(2) }),
        member({ id: 'broken', examples: 10, delta: randomDelta(3), fails: 'the worker died' }),
      ],
    })
    if (!out.ok) throw new Error(out.reason)
    expect(out.delivered).toEqual(['honest'])
    expect(out.examples).toBe(10)
    expect(out.delta).toEqual(flatFedAvg(new Float32Array(P), [{ id: 'honest', delta: randomDelta(1), examples: 10 }]))
    expect(out.dropped).toEqual([
      { id: 'greedy', reason: 'update reports 1000 examples; greedy holds 10' },
      { id: 'broken', reason: 'the worker died' },
    ])
    const none = await siteAggregate({ spec: job, task: task(), members: [member({ id: 'broken', examples: 10, delta: randomDelta(3), fails: 'the worker died' })] })
    expect(none.ok).toBe(false)
    if (!none.ok) expect(none.dropped).toEqual([{ id: 'broken', reason: 'the worker died' }])
  })

  it('refuses a member update for another round or model, and a second update from the same member', async () => {
    const replies: ClientSendOutcome[] = []
    const twice: SiteMember = {
      id: 'twice',
      examples: 5,
      async train(t, send) {
        const set = createClientUpdatePipeline(job).prepare(randomDelta(1), {}).set
        const header = { jobId: t.jobId, round: t.round, baseHash: t.modelHash, examples: 5, trainLoss: 1, trainAccuracy: 0, trainSeconds: 0, length: 0 }
        replies.push(await send({ header: { ...header, round: t.round + 1 }, set }))
        replies.push(await send({ header: { ...header, baseHash: 'cd'.repeat(32) }, set }))
        replies.push(await send({ header, set }))
        replies.push(await send({ header, set }))
        return { ok: true, trainSeconds: 0, examples: 5, trainLoss: 1 }
      },
    }
    const out = await siteAggregate({ spec: job, task: task(), members: [twice] })
    expect(out.ok).toBe(true)
    expect(replies.map((r) => r.ok)).toEqual([false, false, true, false])
    expect(replies[0]).toMatchObject({ reason: "update is for round 3; the site's round is 2" })
    expect(replies[3]).toMatchObject({ reason: 'twice already delivered its update of round 2' })
  })

  it('refuses tasks and jobs with differential privacy or secure aggregation, saying why', async () => {
    const members = [member({ id: 'c0', examples: 10, delta: randomDelta(1) })]
    const dp = await siteAggregate({ spec: job, task: task({ dp: { clipNorm: 1, noiseStd: 0 } }), members })
    expect(dp).toMatchObject({ ok: false, reason: expect.stringMatching(/differential privacy/) })
    const secure = await siteAggregate({ spec: job, task: task({ secure: { session: 8, weight: 1 } as never }), members })
    expect(secure).toMatchObject({ ok: false, reason: expect.stringMatching(/secure aggregation/) })
    expect(hierarchyProblem(job)).toBeUndefined()
    expect(hierarchyProblem(spec({ privacy: { dp: { mode: 'client', clipNorm: 1, noiseMultiplier: 1 } } }))).toMatch(
      /privacy\.dp .*accountant counts sampled clients .*site forwards one update mixing several clients/,
    )
    expect(hierarchyProblem(spec({ privacy: { secureAggregation: { clip: 1 } } }))).toMatch(/privacy\.secureAggregation .*site aggregator sees its members’ updates/)
  })
})

describe('runSiteTask', () => {
  it('sends the coordinator one update weighing the site’s examples, encoded with the job’s compression', async () => {
    const f16 = spec({ compression: { kind: 'float16' } })
    const sent: PreparedClientUpdate[] = []
    const inits = [3, 9].map((examples, i) => ({ id: `c${i}`, examples, delta: randomDelta(i + 1), loss: 2 * i }))
    const members: SiteMember[] = inits.map((m) => ({
      ...member(m),
      async train(t, send) {
        const set = createClientUpdatePipeline(f16).prepare(m.delta.slice(), {}).set
        const header = { jobId: t.jobId, round: t.round, baseHash: t.modelHash, examples: m.examples, trainLoss: m.loss, trainAccuracy: 0, trainSeconds: 1, length: 0 }
        const r = await send({ header, set })
        return r.ok ? { ok: true, trainSeconds: 1, examples: m.examples, trainLoss: m.loss } : { ok: false, stage: 'send', reason: r.reason }
      },
    }))
    const out = await runSiteTask(f16, task(), {
      members,
      pipeline: createClientUpdatePipeline(f16),
      send: async (u) => {
        sent.push(u)
        return { ok: true }
      },
    })
    expect(out).toMatchObject({ ok: true, examples: 12, trainLoss: (3 * 0 + 9 * 2) / 12 })
    expect(sent).toHaveLength(1)
    const header = sent[0]!.header
    expect(header).toMatchObject({ jobId: 'j1', round: 2, examples: 12, baseHash: 'ab'.repeat(32) })
    const decoded = decodeClientUpdate(f16, sent[0]!.set)
    const site = out.site!.delta
    for (let i = 0; i < P; i++) expect(Math.abs(decoded[i]! - site[i]!)).toBeLessThanOrEqual(1e-3 * Math.max(1e-2, Math.abs(site[i]!)))
    expect(out.site?.bytesUp).toBe(2 * tensorSetByteLength(sent[0]!.set))
  })

  it('a refusal by the coordinator is stage send; a site where nobody delivered is stage train', async () => {
    const ok = [member({ id: 'c0', examples: 10, delta: randomDelta(1) })]
    const refused = await runSiteTask(job, task(), { members: ok, pipeline: createClientUpdatePipeline(job), send: async () => ({ ok: false, reason: 'round 2 is closed' }) })
    expect(refused).toMatchObject({ ok: false, stage: 'send', reason: 'round 2 is closed' })
    const failed = await runSiteTask(job, task(), {
      members: [member({ id: 'c0', examples: 10, delta: randomDelta(1), fails: 'no data' })],
      pipeline: createClientUpdatePipeline(job),
      send: async () => ({ ok: true }),
    })
    expect(failed).toMatchObject({ ok: false, stage: 'train', dropped: [{ id: 'c0', reason: 'no data' }] })
  })
})
