// Hierarchical federated learning: a site aggregator is, to the coordinator, one client whose weight is its site's
// examples. Asked to train, it runs the coordinator's task on its site's clients (the one client flow, each on its
// own data), folds their updates into their example-weighted mean with FedAvg's own aggregation, and forwards that
// mean as one update weighing the site's examples. Under secure aggregation the site runs its own SecAgg+ session
// over its members, so the aggregator learns only their weighted sum, and masks the site's mean in the coordinator's
// session, so the coordinator learns only the sum over sites. Browser-safe: no Node APIs.
import { type Tensor, tensorSetByteLength, tensorValues } from '@weft/protocol'
import { deriveSeed, mulberry32, permutation } from '@weft/runtime'
import type { ClientSendOutcome, ClientTaskOutcome, PreparedClientUpdate } from './client/run-client-task.js'
import { type ClientUpdatePipeline, decodeClientUpdate } from './client/update-pipeline.js'
import type { ClientTrainHints, RoundAggregator } from './contracts/strategy.js'
import type { SecAggTransport, TrainAssignment, UpdateHeader } from './contracts/transport.js'
import { headerNumbersProblem } from './coordinator/admission.js'
import { clientSeed } from './coordinator/seeds.js'
import type { JobSpec } from './job-spec.js'
import { maskedInputProblem, maskedSet } from './model-set.js'
import { type SecureClientSessions, SecureRound, secureCohortMinimum, secureInput } from './secure-aggregation.js'
import { fedAvg } from './strategies/fed-avg.js'

/** One client of a site, as its aggregator drives it. */
export interface SiteMember {
  /** The member's id (its training seed in a round is `clientSeed(spec.seed, round, id)`, as in a flat job). */
  readonly id: string
  /** Examples the member holds: the most its update may weigh in the site's mean. */
  readonly examples: number
  /**
   * Runs `task` on the member: the one client flow (`runClientTask`) on the member's own data, its update leaving
   * through `send`, which is the site aggregator's admission. Should not throw; a throw counts as a failed task.
   */
  train(task: TrainAssignment, send: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>, signal?: AbortSignal): Promise<ClientTaskOutcome>
}

export interface SiteAggregateInit {
  /** The job (its compression decides how members' updates are decoded). */
  readonly spec: JobSpec
  /** The task the coordinator handed the site: every member trains it from the same global model. */
  readonly task: TrainAssignment
  readonly members: readonly SiteMember[]
  /**
   * Share of the members that train each round, in (0, 1]: max(1, ⌈f·n⌉) of them, drawn with a PRNG seeded by the
   * task's seed. Default 1: all of them.
   */
  readonly siteFraction?: number
  /**
   * How the aggregator reaches its members' secure-aggregation sessions (the coordinator's own channel). Needed for
   * a job with privacy.secureAggregation: the site then runs one SecAgg+ session over the members it sampled.
   */
  readonly secure?: SiteSecureChannel
  readonly signal?: AbortSignal
}

/** The site's secure-aggregation channel to its members. */
export interface SiteSecureChannel {
  readonly secagg: SecAggTransport['secagg']
  /** Longest each phase of the site's session may take (ms). Default: half the job's round deadline, at most 60 s. */
  readonly phaseMs?: number
}

/** A member left out of the site's update, and why. */
export interface SiteMemberDrop {
  readonly id: string
  readonly reason: string
}

/** What a site's round came to: the one update it forwards and what it cost inside the site. */
export interface SiteAggregate {
  /** Σ nᵢΔᵢ / Σ nᵢ over the members that delivered (FedAvg's own fold, float64, rounded once to float32). */
  readonly delta: Float32Array
  /** Σ nᵢ: the update's weight at the coordinator. */
  readonly examples: number
  /** Example-weighted mean of the members' train losses. */
  readonly trainLoss: number
  /** The slowest member's training time (members train at the same time). */
  readonly trainSeconds: number
  /** Members whose updates are in the mean, in the site's order. */
  readonly delivered: readonly string[]
  /** Members sampled this round whose updates are not in it. */
  readonly dropped: readonly SiteMemberDrop[]
  /** Bytes of the updates the members sent the aggregator, as encoded on the wire (the job's compression). */
  readonly bytesUp: number
  /** Bytes of the model handed to the sampled members. */
  readonly bytesDown: number
  /** Under secure aggregation: the site's session and what its own messages (keys, shares, unmasking) cost. */
  readonly secure?: { readonly session: number; readonly threshold: number; readonly survivors: number; readonly protocolBytes: number }
}

export type SiteAggregateOutcome =
  | ({ readonly ok: true } & SiteAggregate)
  | { readonly ok: false; readonly reason: string; readonly dropped: readonly SiteMemberDrop[] }

/**
 * Why `spec` cannot run with site aggregators, or undefined when it can. Client-level differential privacy clips each
 * client's update and accounts q = m/N over sampled clients; a site update mixes several clients, so neither the clip
 * bound nor the sampling rate would hold for it (per-client clipping inside sites with noise calibrated to a site sum
 * is not built). Secure aggregation combines: the site runs its own session over its members.
 */
export function hierarchyProblem(spec: JobSpec): string | undefined {
  if (spec.privacy.dp !== undefined) {
    return (
      'privacy.dp does not combine with site aggregators yet: the DP accountant counts sampled clients (q = m/N) and ' +
      'bounds each client by clipping its own update, but a site forwards one update mixing several clients, so neither ' +
      'the clip bound nor the sampling rate would hold for it'
    )
  }
  return undefined
}

/**
 * Runs one round of a site: samples its members, has each train the task on its own data, admits and folds their
 * updates as they arrive, and computes the site's example-weighted mean update.
 * Under secure aggregation each sampled member masks its weighted update in the site's session and the aggregator
 * unmasks only their sum (the members that completed the session).
 * @returns the site's update, or `{ ok: false }` with the reason when no member delivered, the site's secure session
 *   did not complete, or the task cannot run in a site (differential privacy)
 * @throws RangeError for no members, a repeated member id, a member's examples not a positive safe integer, or a
 *   siteFraction outside (0, 1]
 */
export async function siteAggregate(init: SiteAggregateInit): Promise<SiteAggregateOutcome> {
  const { spec, task } = init
  const members = checkMembers(init.members)
  const fraction = init.siteFraction ?? 1
  if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) throw new RangeError(`siteFraction must be a number in (0, 1], got ${String(fraction)}`)
  const dropped: SiteMemberDrop[] = []
  if (task.hints.dp !== undefined) return { ok: false, reason: 'the task asks for differential privacy, which a site aggregator cannot account for', dropped }
  const sampled = sampleMembers(members, fraction, task.seed)
  const length = task.params.length
  let secure: SiteSession | undefined
  if (spec.privacy.secureAggregation !== undefined) {
    const begun = beginSiteSession(init, sampled)
    if (!begun.ok) return { ok: false, reason: begun.reason, dropped }
    secure = begun.session
  }
  const aggregator: RoundAggregator = fedAvg({ paramCount: length }).begin(new Float32Array(length))
  const delivered = new Set<string>()
  let examples = 0
  let lossSum = 0
  let trainSeconds = 0
  let bytesUp = 0
  let open = true

  /** The aggregator's admission of one member's update: the same checks a coordinator makes, then the fold. */
  const receive = (member: SiteMember, update: PreparedClientUpdate): ClientSendOutcome => {
    const refusal = memberUpdateProblem(task, member, update.header)
    if (refusal !== undefined) return { ok: false, reason: refusal }
    if (!open) return { ok: false, reason: `round ${task.round} of the site is closed` }
    if (delivered.has(member.id)) return { ok: false, reason: `${member.id} already delivered its update of round ${task.round}` }
    if (secure !== undefined) {
      const verdict = secure.receive(member.id, update)
      if (!verdict.ok) return verdict
    } else {
      if (update.header.secureSession !== undefined) return { ok: false, reason: 'the site takes updates in the clear in this job, not masked inputs' }
      let delta: Float32Array
      try {
        delta = decodeClientUpdate(spec, update.set)
      } catch (err) {
        return { ok: false, reason: (err as Error).message }
      }
      if (delta.length !== length) return { ok: false, reason: `update has ${delta.length} values; the model has ${length}` }
      for (let i = 0; i < delta.length; i++) if (!Number.isFinite(delta[i])) return { ok: false, reason: `update value ${i} is not finite` }
      aggregator.add({ clientId: member.id, delta, numExamples: update.header.examples, staleness: 0 })
    }
    delivered.add(member.id)
    examples += update.header.examples
    lossSum += update.header.examples * update.header.trainLoss
    trainSeconds = Math.max(trainSeconds, update.header.trainSeconds)
    bytesUp += tensorSetByteLength(update.set)
    return { ok: true }
  }

  // A member dropped by the secure session (a phase it failed) cannot deliver: its task is cut short.
  const cut = new Map(sampled.map((m) => [m.id, new AbortController()]))
  const cutReasons = new Map<string, string>()
  const outcomes = Promise.all(
    sampled.map(async (member): Promise<ClientTaskOutcome> => {
      const hints: ClientTrainHints = secure === undefined ? task.hints : { ...task.hints, secure: secure.hint(member.id) }
      const memberTask: TrainAssignment = { ...task, hints, seed: clientSeed(spec.seed, task.round, member.id) }
      const signal = AbortSignal.any([(cut.get(member.id) as AbortController).signal, ...(init.signal === undefined ? [] : [init.signal])])
      try {
        return await member.train(memberTask, async (update) => receive(member, update), signal)
      } catch (err) {
        return { ok: false, stage: 'train', reason: `its task failed: ${(err as Error)?.message ?? String(err)}` }
      }
    }),
  )
  if (secure !== undefined) {
    await secure.round.start()
    // A member that failed a phase cannot deliver; when too few completed the share exchange, none can be unmasked:
    // their tasks end now rather than at their mask deadline.
    const { ready } = secure.round
    const tooFew = ready.size < secure.needed ? `${ready.size} of ${sampled.length} members completed the share exchange; the session needs ${secure.needed}` : undefined
    for (const m of sampled) {
      const failed = secure.round.failed.get(m.id)
      const reason = failed !== undefined ? `secure aggregation: ${failed}` : tooFew !== undefined ? `secure aggregation: ${tooFew}` : undefined
      if (reason === undefined) continue
      cutReasons.set(m.id, reason)
      cut.get(m.id)?.abort(new Error(reason))
    }
  }
  const settled = await outcomes
  open = false
  sampled.forEach((member, i) => {
    const outcome = settled[i]
    if (delivered.has(member.id)) return
    const reason = cutReasons.get(member.id) ?? (outcome?.ok === false ? outcome.reason : 'it ended without sending an update')
    dropped.push({ id: member.id, reason })
  })
  if (delivered.size === 0) {
    const why = dropped.map((d) => `${d.id}: ${d.reason}`).join('; ')
    return { ok: false, reason: `no member of the site delivered an update in round ${task.round} (${why})`, dropped }
  }
  let delta: Float32Array
  let secureSummary: SiteAggregate['secure']
  if (secure !== undefined) {
    const sum = await secure.finish(delivered.size)
    if (!sum.ok) return { ok: false, reason: `the site's secure aggregation of round ${task.round} did not complete: ${sum.reason}`, dropped }
    // Every masked input that arrived is in the sum (SecAgg+ unmasks all of them or fails).
    delta = sum.mean
    secureSummary = sum.summary
  } else {
    delta = aggregator.finish().global
  }
  return {
    ok: true,
    delta,
    examples,
    trainLoss: lossSum / examples,
    trainSeconds,
    delivered: sampled.filter((m) => delivered.has(m.id)).map((m) => m.id),
    dropped,
    bytesUp,
    bytesDown: sampled.length * task.params.byteLength,
    ...(secureSummary === undefined ? {} : { secure: secureSummary }),
  }
}

export interface SiteTaskComponents {
  readonly members: readonly SiteMember[]
  /** The site's own update pipeline towards the coordinator (the job's compression, error feedback kept per job). */
  readonly pipeline: ClientUpdatePipeline
  /** Sends the site's update to the coordinator. */
  readonly send: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>
  /** See `SiteAggregateInit.siteFraction`. */
  readonly siteFraction?: number
  /**
   * Secure aggregation (a job with privacy.secureAggregation): the channel to the members' sessions, and the
   * aggregator's own client sessions, in which it masks the site's update for the coordinator's session.
   */
  readonly secure?: SiteSecureChannel & { readonly sessions: SecureClientSessions; readonly maskTimeoutMs?: number }
  readonly signal?: AbortSignal
}

/** How a site's task ended (as a client's would), with what happened inside the site when it got that far. */
export type SiteTaskOutcome = ClientTaskOutcome & { readonly site?: SiteAggregate; readonly dropped?: readonly SiteMemberDrop[] }

/**
 * The site aggregator's side of one round, as `runClientTask` is a client's: runs `siteAggregate`, encodes the mean
 * with the job's compression, and sends it to the coordinator as one update weighing the site's examples.
 * @returns the outcome (a failed sub-round is stage `train`; the coordinator's refusal is stage `send`)
 * @throws RangeError as `siteAggregate`
 */
export async function runSiteTask(spec: JobSpec, task: TrainAssignment, c: SiteTaskComponents): Promise<SiteTaskOutcome> {
  const aggregated = await siteAggregate({
    spec,
    task,
    members: c.members,
    ...(c.siteFraction === undefined ? {} : { siteFraction: c.siteFraction }),
    ...(c.secure === undefined ? {} : { secure: c.secure }),
    ...(c.signal === undefined ? {} : { signal: c.signal }),
  })
  if (!aggregated.ok) return { ok: false, stage: 'train', reason: aggregated.reason, dropped: aggregated.dropped }
  const { ok: _ok, ...site } = aggregated
  let update: PreparedClientUpdate
  try {
    const header: UpdateHeader = {
      jobId: task.jobId,
      round: task.round,
      baseHash: task.modelHash,
      examples: site.examples,
      trainLoss: site.trainLoss,
      trainAccuracy: 0,
      trainSeconds: site.trainSeconds,
      length: 0,
    }
    const hint = task.hints.secure
    const config = spec.privacy.secureAggregation
    if (hint !== undefined && config !== undefined) {
      // The coordinator's session: the site's mean, weighted, masked; the coordinator sees only the sum over sites.
      if (c.secure === undefined) throw new Error('the task asks for secure aggregation; this site has no secure sessions')
      const masked = await c.secure.sessions.mask(task.jobId, hint.session, secureInput(site.delta, hint, undefined, config.clip), c.secure.maskTimeoutMs ?? 120_000, c.signal)
      update = { header: { ...header, length: masked.vector.length, secureSession: hint.session }, set: maskedSet(masked.vector), masked: masked.vector }
    } else {
      // No DP hints reach a site (siteAggregate refused them): only compression applies.
      update = { header, set: c.pipeline.prepare(site.delta.slice(), {}).set }
    }
  } catch (err) {
    return { ok: false, stage: 'prepare', reason: `could not prepare the site's update: ${(err as Error).message}`, trainSeconds: site.trainSeconds, site }
  }
  const sent = await c.send(update)
  if (!sent.ok) return { ok: false, stage: 'send', reason: sent.reason, trainSeconds: site.trainSeconds, site }
  return { ok: true, trainSeconds: site.trainSeconds, examples: site.examples, trainLoss: site.trainLoss, site }
}

function checkMembers(members: readonly SiteMember[]): readonly SiteMember[] {
  if (!Array.isArray(members) || members.length === 0) throw new RangeError('members must name at least one site member')
  const ids = new Set<string>()
  for (const m of members) {
    if (ids.has(m.id)) throw new RangeError(`members has a repeated id ${m.id}`)
    ids.add(m.id)
    if (!Number.isSafeInteger(m.examples) || m.examples < 1) throw new RangeError(`member ${m.id} has ${m.examples} examples; expected a positive integer`)
  }
  return members
}

/** max(1, ⌈f·n⌉) members drawn with the task's seed, kept in the site's order. */
function sampleMembers(members: readonly SiteMember[], fraction: number, seed: number): readonly SiteMember[] {
  if (fraction >= 1) return members
  const k = Math.max(1, Math.ceil(fraction * members.length))
  const picked = new Set(permutation(members.length, mulberry32(deriveSeed(seed, 0x5173))).subarray(0, k))
  return members.filter((_, i) => picked.has(i))
}

/** Why a member's update header does not fit the site's task, or undefined when it does. */
function memberUpdateProblem(task: TrainAssignment, member: SiteMember, h: UpdateHeader): string | undefined {
  if (h.jobId !== task.jobId) return `update is for job ${h.jobId}; the site trains job ${task.jobId}`
  if (h.round !== task.round) return `update is for round ${h.round}; the site's round is ${task.round}`
  if (h.baseHash !== task.modelHash) return `update was trained from model ${h.baseHash.slice(0, 12)}; the round's model is ${task.modelHash.slice(0, 12)}`
  const numbers = headerNumbersProblem(h)
  if (numbers !== undefined) return numbers
  if (h.examples > member.examples) return `update reports ${h.examples} examples; ${member.id} holds ${member.examples}`
  return undefined
}

/** The site's secure session of one round: the aggregator as its members' SecAgg+ server. */
interface SiteSession {
  readonly round: SecureRound
  /** The fewest masked inputs the session can unmask a sum of (the job's secure cohort minimum). */
  readonly needed: number
  /** The member's part of the task: its session and weight. */
  hint(member: string): { readonly session: number; readonly weight: number; readonly clipBit: false }
  /** Takes a member's masked input (refused: not masked, another session, a phase it missed, wrong length). */
  receive(member: string, update: PreparedClientUpdate): ClientSendOutcome
  /** Unmasks the sum once the members are done; the site's mean is the weighted sum over the weights in it. */
  finish(
    delivered: number,
  ): Promise<{ ok: true; mean: Float32Array; summary: NonNullable<SiteAggregate['secure']> } | { ok: false; reason: string }>
}

/**
 * Opens the site's session over the sampled members, weighing each as the coordinator weighs its clients (declared
 * examples over the most any holds, so quantization keeps its range). A site smaller than the job's secure cohort
 * minimum is refused: its members would refuse the session anyway, and a smaller sum would reveal more of each.
 */
function beginSiteSession(init: SiteAggregateInit, sampled: readonly SiteMember[]): { ok: true; session: SiteSession } | { ok: false; reason: string } {
  const { spec, task } = init
  const config = spec.privacy.secureAggregation
  if (config === undefined) return { ok: false, reason: 'the job does not ask for secure aggregation' }
  if (init.secure === undefined) return { ok: false, reason: 'the job asks for secure aggregation; this site has no secure channel to its members' }
  const needed = secureCohortMinimum(spec)
  if (sampled.length < needed) {
    return { ok: false, reason: `the site sampled ${sampled.length} members; a secure session of this job needs at least ${needed}` }
  }
  const maxExamples = Math.max(...sampled.map((m) => m.examples))
  const weights = new Map(sampled.map((m) => [m.id, m.examples / maxExamples]))
  let round: SecureRound
  try {
    round = new SecureRound({
      jobId: task.jobId,
      round: task.round,
      attempt: 0,
      participants: sampled.map((m) => m.id),
      config,
      vectorLength: task.params.length,
      transport: { secagg: init.secure.secagg },
      phaseMs: init.secure.phaseMs ?? Math.min(60_000, (spec.timeouts.roundSeconds * 1000) / 2),
      signal: init.signal ?? new AbortController().signal,
    })
  } catch (err) {
    return { ok: false, reason: `privacy.secureAggregation: ${(err as Error).message}` }
  }
  return {
    ok: true,
    session: {
      round,
      needed,
      hint: (member) => ({ session: round.session, weight: weights.get(member) as number, clipBit: false }),
      receive(member, update) {
        const h = update.header
        if (h.secureSession !== round.session) {
          return { ok: false, reason: h.secureSession === undefined ? 'the site runs secure aggregation: send a masked input, not the update' : `masked input for session ${h.secureSession}; the site runs session ${round.session}` }
        }
        const t = update.set[0] as Tensor<'uint32'>
        const notMasked = update.masked !== undefined ? undefined : (maskedInputProblem(update.set) ?? (t.data.byteLength === (t.shape[0] as number) * 4 ? undefined : 'the masked input’s bytes do not match its shape'))
        if (notMasked !== undefined) return { ok: false, reason: notMasked }
        const vector = update.masked ?? tensorValues(t)
        try {
          round.receiveMasked({ type: 'masked-input', jobId: task.jobId, round: round.session, sender: member, modulusBits: 32, bits: round.plan.bits, vector }, member)
        } catch (err) {
          return { ok: false, reason: (err as Error).message }
        }
        return { ok: true }
      },
      async finish(delivered) {
        if (delivered < needed) return { ok: false, reason: `${delivered} masked inputs arrived; ${needed} needed` }
        const out = await round.finish()
        if (!out.ok) return out
        const { total, survivors, protocolBytes } = out.value
        const weight = survivors.reduce((sum, id) => sum + (weights.get(id) ?? 0), 0)
        const mean = new Float32Array(task.params.length)
        for (let i = 0; i < mean.length; i++) mean[i] = (total[i] as number) / weight
        return { ok: true, mean, summary: { session: round.session, threshold: round.plan.threshold, survivors: survivors.length, protocolBytes } }
      },
    },
  }
}
