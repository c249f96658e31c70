// Admission of an update by its header, before its data moves: one function, of what the job knows now.
import type { Admission, UpdateHeader } from '../contracts/transport.js'

/** The round in progress, as admission sees it. */
export interface AdmissionRound {
  readonly round: number
  readonly open: boolean
  readonly participants: ReadonlySet<string>
  readonly delivered: ReadonlySet<string>
  readonly inputHash: string
  /** Secure rounds: the length of a masked input (the model's parameters, plus the clip bit). */
  readonly secureLength?: number
}

/** What admission reads of a job. */
export interface AdmissionView {
  readonly jobId: string
  /** The job is being cancelled or its coordinator stops. */
  readonly stopping: boolean
  readonly asynchronous: boolean
  readonly paramCount: number
  /** Oldest base an asynchronous update may have, in server steps. */
  readonly maxStaleness: number
  /** The stored job's round (the next to run when none is in progress). */
  readonly jobRound: number
  readonly current: AdmissionRound | undefined
  /** An earlier round's participants and input model (asynchronous updates trained on an older step). */
  pastRound(round: number): { readonly participants: readonly string[]; readonly inputHash: string } | undefined
  /** Whether `client`'s update from `baseRound` was already accepted. */
  alreadyCounted(client: string, baseRound: number): boolean
  /** The examples `client` declared when it accepted the invitation (0: not known, e.g. after a restart). */
  declaredExamples(client: string): number
}

const refuse = (reason: string): Admission => ({ ok: false, reason })

/**
 * What is wrong with the numbers of an update header, or undefined: examples a positive safe integer, the train
 * loss finite, the train accuracy in [0, 1], the train seconds finite and not negative. A header's numbers reach
 * the strategy's weights, the store and the metrics: one out of range must never get that far.
 */
export function headerNumbersProblem(h: UpdateHeader): string | undefined {
  if (!Number.isSafeInteger(h.examples) || h.examples < 1) return `update reports ${h.examples} examples; expected a positive integer below 2^53`
  if (!Number.isFinite(h.trainLoss)) return `update reports a train loss of ${h.trainLoss}; expected a finite number`
  if (!Number.isFinite(h.trainAccuracy) || h.trainAccuracy < 0 || h.trainAccuracy > 1) return `update reports a train accuracy of ${h.trainAccuracy}; expected 0..1`
  if (!Number.isFinite(h.trainSeconds) || h.trainSeconds < 0) return `update reports ${h.trainSeconds} train seconds; expected a finite number ≥ 0`
  return undefined
}

/**
 * Decides on an update from `from` by its header: right job state, length, example count, round, sender, base model,
 * and not counted before.
 * @returns `{ ok: true }` or the refusal with the reason sent back to the client
 */
export function admitUpdate(view: AdmissionView, from: string, h: UpdateHeader): Admission {
  const rs = view.current
  if (view.stopping) return refuse(`job ${view.jobId} is stopping`)
  const expected = rs?.secureLength ?? view.paramCount
  if (h.length !== expected) {
    return refuse(`update has ${h.length} values; ${rs?.secureLength === undefined ? 'the model has' : 'a masked input of this round has'} ${expected}`)
  }
  const numbers = headerNumbersProblem(h)
  if (numbers !== undefined) return refuse(numbers)
  // An update weighs by its examples: a client may not weigh more than it declared when it joined.
  const declared = view.declaredExamples(from)
  if (declared > 0 && h.examples > declared) return refuse(`update reports ${h.examples} examples; ${from} declared ${declared} when it joined`)
  const current = rs?.round ?? view.jobRound
  if (view.asynchronous) {
    if (h.round > current) return refuse(`server step ${h.round} has not started (the job is at step ${current})`)
    if (current - h.round > view.maxStaleness) return refuse(`update from step ${h.round} is ${current - h.round} steps stale (at most ${view.maxStaleness})`)
    const live = h.round === current ? rs : undefined
    const past = live === undefined ? view.pastRound(h.round) : undefined
    const dispatched = live !== undefined ? live.participants.has(from) : (past?.participants.includes(from) ?? false)
    if (!dispatched) return refuse(`${from} was not asked to train at step ${h.round} of job ${view.jobId}`)
    if (rs === undefined || !rs.open) return refuse(`server step ${current} is closing; send again`)
    if (view.alreadyCounted(from, h.round)) return refuse(`update from step ${h.round} already counted`)
    const inputHash = h.round === current ? rs.inputHash : past?.inputHash
    if (h.baseHash !== inputHash) return refuse(`update was trained from model ${h.baseHash.slice(0, 12)}, not step ${h.round}'s model`)
    return { ok: true }
  }
  if (h.round < current || (h.round === current && (rs === undefined || !rs.open))) {
    return refuse(`round ${h.round} is closed (the job is at round ${rs?.open === true ? current : current + 1})`)
  }
  if (h.round > current || rs === undefined) return refuse(`round ${h.round} has not started (the job is at round ${current})`)
  if (!rs.participants.has(from)) return refuse(`${from} was not asked to train in round ${h.round} of job ${view.jobId}`)
  if (rs.delivered.has(from) || view.alreadyCounted(from, h.round)) return refuse(`update for round ${h.round} already counted`)
  if (h.baseHash !== rs.inputHash) {
    return refuse(`update was trained from model ${h.baseHash.slice(0, 12)}, not round ${h.round}'s model ${rs.inputHash.slice(0, 12)}`)
  }
  return { ok: true }
}
