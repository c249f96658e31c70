// Hierarchical federated learning: a site aggregator is, to the coordinator, one client whose weight is its site's
// examples. Asked to train, it runs the coordinator's task on its site's clients (the one client flow, each on its
// own data), folds their updates into their example-weighted mean with FedAvg's own aggregation, and forwards that
// mean as one update weighing the site's examples. Browser-safe: no Node APIs.
import { tensorSetByteLength } from '@weft/protocol'
import { deriveSeed, mulberry32, permutation } from '@weft/runtime'
import type { ClientSendOutcome, ClientTaskOutcome, PreparedClientUpdate } from './client/run-client-task.js'
import { type ClientUpdatePipeline, decodeClientUpdate } from './client/update-pipeline.js'
import type { RoundAggregator } from './contracts/strategy.js'
import type { TrainAssignment, UpdateHeader } from './contracts/transport.js'
import { headerNumbersProblem } from './coordinator/admission.js'
import { clientSeed } from './coordinator/seeds.js'
import type { JobSpec } from './job-spec.js'
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
  readonly signal?: AbortSignal
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
}

export type SiteAggregateOutcome =
  | ({ readonly ok: true } & SiteAggregate)
  | { readonly ok: false; readonly reason: string; readonly dropped: readonly SiteMemberDrop[] }

/**
 * Why `spec` cannot run with site aggregators, or undefined when it can.
 * - Client-level differential privacy clips each client's update and accounts q = m/N over sampled clients; a site
 *   update mixes several clients, so neither the clip bound nor the sampling rate would hold for it (per-client
 *   clipping inside sites with noise calibrated to a site sum is not built).
 * - Secure aggregation masks each client's input for the coordinator's sum; inside a site the aggregator would need
 *   its own SecAgg session over its members, which is not built either.
 */
export function hierarchyProblem(spec: JobSpec): string | undefined {
  if (spec.privacy.dp !== undefined) {
    return (
      'privacy.dp does not combine with site aggregators yet: the DP accountant counts sampled clients (q = m/N) and ' +
      'bounds each client by clipping its own update, but a site forwards one update mixing several clients, so neither ' +
      'the clip bound nor the sampling rate would hold for it'
    )
  }
  if (spec.privacy.secureAggregation !== undefined) {
    return (
      'privacy.secureAggregation does not combine with site aggregators yet: a site aggregator sees its members’ updates ' +
      'in the clear and forwards their mean, so the coordinator-side SecAgg session would hide nothing from it'
    )
  }
  return undefined
}

/**
 * Runs one round of a site: samples its members, has each train the task on its own data, admits and folds their
 * updates as they arrive, and computes the site's example-weighted mean update.
 * @returns the site's update, or `{ ok: false }` with the reason when no member delivered or the task cannot run in
 *   a site (differential privacy, secure aggregation)
 * @throws RangeError for no members, a repeated member id, a member's examples not a positive safe integer, or a
 *   siteFraction outside (0, 1]
 */
export async function siteAggregate(init: SiteAggregateInit): Promise<SiteAggregateOutcome> {
  const { spec, task } = init
  const members = checkMembers(init.members)
  const fraction = init.siteFraction ?? 1
  if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) throw new RangeError(`siteFraction must be a number in (0, 1], got ${String(fraction)}`)
  const dropped: SiteMemberDrop[] = []
  if (task.hints.secure !== undefined) return { ok: false, reason: 'the task asks for secure aggregation, which a site aggregator cannot take part in', dropped }
  if (task.hints.dp !== undefined) return { ok: false, reason: 'the task asks for differential privacy, which a site aggregator cannot account for', dropped }
  const sampled = sampleMembers(members, fraction, task.seed)
  const length = task.params.length
  const aggregator: RoundAggregator = fedAvg({ paramCount: length }).begin(new Float32Array(length))
  const delivered = new Set<string>()
  let examples = 0
  let lossSum = 0
  let trainSeconds = 0
  let bytesUp = 0
  let open = true

  /** The aggregator's admission of one member's update: the same checks a coordinator makes, then the fold. */
  const receive = (member: SiteMember, update: PreparedClientUpdate): ClientSendOutcome => {
    const refusal = memberUpdateProblem(task, member, update.header, update.masked !== undefined)
    if (refusal !== undefined) return { ok: false, reason: refusal }
    if (!open) return { ok: false, reason: `round ${task.round} of the site is closed` }
    if (delivered.has(member.id)) return { ok: false, reason: `${member.id} already delivered its update of round ${task.round}` }
    let delta: Float32Array
    try {
      delta = decodeClientUpdate(spec, update.set)
    } catch (err) {
      return { ok: false, reason: (err as Error).message }
    }
    if (delta.length !== length) return { ok: false, reason: `update has ${delta.length} values; the model has ${length}` }
    for (let i = 0; i < delta.length; i++) if (!Number.isFinite(delta[i])) return { ok: false, reason: `update value ${i} is not finite` }
    aggregator.add({ clientId: member.id, delta, numExamples: update.header.examples, staleness: 0 })
    delivered.add(member.id)
    examples += update.header.examples
    lossSum += update.header.examples * update.header.trainLoss
    trainSeconds = Math.max(trainSeconds, update.header.trainSeconds)
    bytesUp += tensorSetByteLength(update.set)
    return { ok: true }
  }

  const outcomes = await Promise.all(
    sampled.map(async (member): Promise<ClientTaskOutcome> => {
      const memberTask: TrainAssignment = { ...task, seed: clientSeed(spec.seed, task.round, member.id) }
      try {
        return await member.train(memberTask, async (update) => receive(member, update), init.signal)
      } catch (err) {
        return { ok: false, stage: 'train', reason: `its task failed: ${(err as Error)?.message ?? String(err)}` }
      }
    }),
  )
  open = false
  sampled.forEach((member, i) => {
    const outcome = outcomes[i]
    if (delivered.has(member.id)) return
    dropped.push({ id: member.id, reason: outcome?.ok === false ? outcome.reason : 'it ended without sending an update' })
  })
  if (aggregator.count === 0) {
    const why = dropped.map((d) => `${d.id}: ${d.reason}`).join('; ')
    return { ok: false, reason: `no member of the site delivered an update in round ${task.round} (${why})`, dropped }
  }
  return {
    ok: true,
    delta: aggregator.finish().global,
    examples,
    trainLoss: lossSum / examples,
    trainSeconds,
    delivered: sampled.filter((m) => delivered.has(m.id)).map((m) => m.id),
    dropped,
    bytesUp,
    bytesDown: sampled.length * task.params.byteLength,
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
    ...(c.signal === undefined ? {} : { signal: c.signal }),
  })
  if (!aggregated.ok) return { ok: false, stage: 'train', reason: aggregated.reason, dropped: aggregated.dropped }
  const { ok: _ok, ...site } = aggregated
  let update: PreparedClientUpdate
  try {
    // No DP or secure-aggregation hints reach a site (siteAggregate refused them): only compression applies.
    const prepared = c.pipeline.prepare(site.delta.slice(), {})
    update = {
      header: {
        jobId: task.jobId,
        round: task.round,
        baseHash: task.modelHash,
        examples: site.examples,
        trainLoss: site.trainLoss,
        trainAccuracy: 0,
        trainSeconds: site.trainSeconds,
        length: 0,
      },
      set: prepared.set,
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
function memberUpdateProblem(task: TrainAssignment, member: SiteMember, h: UpdateHeader, masked: boolean): string | undefined {
  if (masked) return 'a site aggregator takes updates in the clear, not masked inputs'
  if (h.jobId !== task.jobId) return `update is for job ${h.jobId}; the site trains job ${task.jobId}`
  if (h.round !== task.round) return `update is for round ${h.round}; the site's round is ${task.round}`
  if (h.baseHash !== task.modelHash) return `update was trained from model ${h.baseHash.slice(0, 12)}; the round's model is ${task.modelHash.slice(0, 12)}`
  const numbers = headerNumbersProblem(h)
  if (numbers !== undefined) return numbers
  if (h.examples > member.examples) return `update reports ${h.examples} examples; ${member.id} holds ${member.examples}`
  return undefined
}
