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
  MASKED_TENSOR,
  SecureClientSessions,
  SecureRound,
  secureCohortMinimum,
  secureInput,
  type SiteMember,
  type SiteSecureChannel,
  siteAggregate,
  type TrainAssignment,
} from '@weft/fl'
import { createEd25519Directory, decodeSecAggMessage, encodeSecAggMessage, type SecAggMessage } from '@weft/secagg'
import { createTensor, tensorSetByteLength } from '@weft/protocol'
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

  it('refuses tasks and jobs with differential privacy, and a secure job without a channel to its members, saying why', async () => {
    const members = [member({ id: 'c0', examples: 10, delta: randomDelta(1) })]
    const dp = await siteAggregate({ spec: job, task: task({ dp: { clipNorm: 1, noiseStd: 0 } }), members })
    expect(dp).toMatchObject({ ok: false, reason: expect.stringMatching(/differential privacy/) })
    const secure = await siteAggregate({ spec: secureJob, task: task(), members })
    expect(secure).toMatchObject({ ok: false, reason: expect.stringMatching(/asks for secure aggregation; this site has no secure channel/) })
    expect(hierarchyProblem(job)).toBeUndefined()
    expect(hierarchyProblem(spec({ privacy: { dp: { mode: 'client', clipNorm: 1, noiseMultiplier: 1 } } }))).toMatch(
      /privacy\.dp .*accountant counts sampled clients .*site forwards one update mixing several clients/,
    )
    expect(hierarchyProblem(secureJob)).toBeUndefined()
  })
})

// Two sites, or a site of three, hold too few clients for SecAgg+ to plan for dropouts: this job assumes none.
const secureJob = spec({ clients: { fraction: 1, min: 2 }, privacy: { secureAggregation: { clip: 1, dropoutRate: 0 } } })

/** In-process secure sessions for members and aggregators: each id's sessions, and the channel a server uses. */
function secureFleet() {
  const identities = createEd25519Directory()
  const sessions = new Map<string, SecureClientSessions>()
  const refuseSetup = new Set<string>()
  const of = (id: string): SecureClientSessions => {
    let s = sessions.get(id)
    if (s === undefined) {
      s = new SecureClientSessions(id, { identity: identities.identityOf(id), minClients: () => secureCohortMinimum(secureJob) })
      sessions.set(id, s)
    }
    return s
  }
  const secagg: SiteSecureChannel['secagg'] = async (client, message) => {
    if (message.type === 'setup' && refuseSetup.has(client)) return { ok: false, reason: 'unreachable' }
    try {
      // Through the wire codec, as on the mesh.
      const reply = of(client).handle(decodeSecAggMessage(encodeSecAggMessage(message)) as SecAggMessage)
      return { ok: true, ...(reply === undefined ? {} : { reply }), bytes: 0 }
    } catch (err) {
      return { ok: false, reason: (err as Error).message }
    }
  }
  return { of, secagg, refuseSetup }
}

/** A member that masks its fixed delta in the session its task names, as runClientTask does under secure aggregation. */
function secureMember(id: string, examples: number, delta: Float32Array, fleet: ReturnType<typeof secureFleet>, clear = false): SiteMember {
  return {
    id,
    examples,
    async train(t, send, signal) {
      const header = { jobId: t.jobId, round: t.round, baseHash: t.modelHash, examples, trainLoss: 1, trainAccuracy: 0, trainSeconds: 0.5, length: 0 }
      let sent: ClientSendOutcome
      if (clear) {
        sent = await send({ header, set: createClientUpdatePipeline(secureJob).prepare(delta.slice(), {}).set })
      } else {
        const hint = t.hints.secure!
        try {
          const masked = await fleet.of(id).mask(t.jobId, hint.session, secureInput(delta, hint, undefined, 1), 5_000, signal)
          sent = await send({ header: { ...header, length: masked.vector.length, secureSession: hint.session }, set: [createTensor(MASKED_TENSOR, 'uint32', [masked.vector.length], masked.vector)], masked: masked.vector })
        } catch (err) {
          return { ok: false, stage: 'prepare', reason: (err as Error).message }
        }
      }
      return sent.ok ? { ok: true, trainSeconds: 0.5, examples, trainLoss: 1 } : { ok: false, stage: 'send', reason: sent.reason }
    },
  }
}

/** Largest |a_i − b_i|. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)))
  return m
}

describe('secure aggregation inside a site', () => {
  const sizes = [3, 5, 9]
  const deltas = sizes.map((_, i) => randomDelta(i + 11))

  it('the aggregator unmasks only its members’ weighted sum: the site update is their FedAvg mean up to quantization', async () => {
    const fleet = secureFleet()
    const members = sizes.map((n, i) => secureMember(`m${i}`, n, deltas[i]!, fleet))
    const out = await siteAggregate({ spec: secureJob, task: task(), members, secure: { secagg: fleet.secagg } })
    if (!out.ok) throw new Error(out.reason)
    const plain = flatFedAvg(new Float32Array(P), sizes.map((n, i) => ({ id: `m${i}`, delta: deltas[i]!, examples: n })))
    expect(maxDiff(out.delta, plain)).toBeLessThan(1e-4)
    expect(out).toMatchObject({ examples: 17, delivered: ['m0', 'm1', 'm2'], dropped: [], secure: { survivors: 3 } })
    expect(out.secure!.protocolBytes).toBeGreaterThanOrEqual(0)
  })

  it('refuses a member’s update sent in the clear, drops a member whose session failed, and still sums the rest', async () => {
    // A site of six that plans for a third of its members dropping out.
    const droppy = spec({ clients: { fraction: 1, min: 2 }, privacy: { secureAggregation: { clip: 1, dropoutRate: 0.34 } } })
    const fleet = secureFleet()
    fleet.refuseSetup.add('m1')
    const n = [...sizes, 4, 6]
    const d = n.map((_, i) => randomDelta(i + 11))
    const members = [...n.map((x, i) => secureMember(`m${i}`, x, d[i]!, fleet)), secureMember('leaky', 4, randomDelta(5), fleet, true)]
    const out = await siteAggregate({ spec: droppy, task: task(), members, secure: { secagg: fleet.secagg, phaseMs: 2_000 } })
    if (!out.ok) throw new Error(out.reason)
    expect(out.delivered).toEqual(['m0', 'm2', 'm3', 'm4'])
    expect(out.dropped).toEqual([
      { id: 'm1', reason: 'secure aggregation: unreachable' },
      { id: 'leaky', reason: 'the site runs secure aggregation: send a masked input, not the update' },
    ])
    const plain = flatFedAvg(new Float32Array(P), [0, 2, 3, 4].map((i) => ({ id: `m${i}`, delta: d[i]!, examples: n[i]! })))
    expect(maxDiff(out.delta, plain)).toBeLessThan(1e-4)
    expect(out.secure).toMatchObject({ survivors: 4, threshold: 3 })
  })

  it('ends every member’s task at once when too few complete the share exchange (no dropout planned for)', async () => {
    const fleet = secureFleet()
    fleet.refuseSetup.add('m1')
    const members = sizes.map((n, i) => secureMember(`m${i}`, n, deltas[i]!, fleet))
    const out = await siteAggregate({ spec: secureJob, task: task(), members, secure: { secagg: fleet.secagg, phaseMs: 2_000 } })
    const tooFew = 'secure aggregation: 0 of 3 members completed the share exchange; the session needs 2'
    // Not at the members' 5 s mask deadline ("shares … did not arrive"): each is told why, from the session.
    expect(out).toMatchObject({ ok: false, dropped: [{ id: 'm0', reason: tooFew }, { id: 'm1', reason: 'secure aggregation: unreachable' }, { id: 'm2', reason: tooFew }] })
  })

  it('refuses a site smaller than the job’s secure cohort minimum before anything is masked', async () => {
    const fleet = secureFleet()
    const out = await siteAggregate({ spec: secureJob, task: task(), members: [secureMember('m0', 3, deltas[0]!, fleet)], secure: { secagg: fleet.secagg } })
    expect(out).toMatchObject({ ok: false, reason: 'the site sampled 1 members; a secure session of this job needs at least 2' })
  })

  it('two sites masked in the coordinator’s session sum to flat FedAvg over all their members (two levels of SecAgg)', async () => {
    const fleet = secureFleet()
    const sites = [
      { id: 'siteA', members: [0, 1].map((i) => ({ id: `a${i}`, n: sizes[i]!, delta: deltas[i]! })) },
      { id: 'siteB', members: [2, 0, 1].map((i, k) => ({ id: `b${k}`, n: sizes[i]! + k, delta: randomDelta(40 + k) })) },
    ]
    const coordinator = new SecureRound({
      jobId: 'j1',
      round: 2,
      attempt: 0,
      participants: sites.map((s) => s.id),
      config: secureJob.privacy.secureAggregation!,
      vectorLength: P,
      transport: { secagg: fleet.secagg },
      phaseMs: 5_000,
      signal: new AbortController().signal,
    })
    const siteExamples = sites.map((s) => s.members.reduce((a, m) => a + m.n, 0))
    const maxSite = Math.max(...siteExamples)
    const started = coordinator.start()
    const forwarded: PreparedClientUpdate[] = []
    const outcomes = await Promise.all(
      sites.map((s, k) =>
        runSiteTask(secureJob, task({ secure: { session: coordinator.session, weight: siteExamples[k]! / maxSite, clipBit: false } }), {
          members: s.members.map((m) => secureMember(m.id, m.n, m.delta, fleet)),
          pipeline: createClientUpdatePipeline(secureJob),
          secure: { secagg: fleet.secagg, sessions: fleet.of(s.id), maskTimeoutMs: 5_000 },
          send: async (u) => {
            forwarded.push(u)
            coordinator.receiveMasked({ type: 'masked-input', jobId: 'j1', round: coordinator.session, sender: s.id, modulusBits: 32, bits: coordinator.plan.bits, vector: u.masked! }, s.id)
            return { ok: true }
          },
        }),
      ),
    )
    await started
    expect(outcomes.map((o) => o.ok)).toEqual([true, true])
    // Nothing a site forwards is in the clear: one masked uint32 vector in the coordinator's session.
    for (const u of forwarded) expect(u.header.secureSession).toBe(coordinator.session)
    const sum = await coordinator.finish()
    if (!sum.ok) throw new Error(sum.reason)
    const weight = siteExamples.reduce((a, n) => a + n / maxSite, 0)
    const mean = sum.value.total.map((v) => v / weight)
    const flat = flatFedAvg(new Float32Array(P), sites.flatMap((s) => s.members.map((m) => ({ id: m.id, delta: m.delta, examples: m.n }))))
    expect(maxDiff(mean, flat)).toBeLessThan(2e-4)
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
