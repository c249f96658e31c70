// What a coordinator is made of (XxxComponents), how it is tuned (XxxInit), and what it reports.
import type { HashOptions } from '@weft/protocol'
import type { Clock } from '../contracts/clock.js'
import type { JobEvent } from '../contracts/events.js'
import type { EvaluationMetrics, JobRecord, JobStore, RoundMetrics } from '../contracts/job-store.js'
import type { CentralEvaluator, CoordinatorTransport } from '../contracts/transport.js'

export interface CoordinatorLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/** Hooks for exporting measurements (Prometheus on a node). */
export interface CoordinatorMetrics {
  onRound?(jobId: string, round: number, metrics: RoundMetrics): void
  onEvaluation?(jobId: string, round: number, evaluation: EvaluationMetrics): void
  onUpdate?(jobId: string, outcome: 'accepted' | 'refused', bytes: number): void
  onJobStatus?(jobId: string, status: JobRecord['status']): void
}

export interface CoordinatorComponents {
  readonly store: JobStore
  readonly transport: CoordinatorTransport
  readonly evaluator?: CentralEvaluator
  readonly logger?: CoordinatorLogger
  readonly metrics?: CoordinatorMetrics
  /** Time and timers: round deadlines, waits, hand-out slots and request timeouts (default: the system clock). */
  readonly clock?: Clock
  /** Called with every event once it is stored (the node's event stream, a simulation's progress). */
  readonly onEvent?: (jobId: string, event: JobEvent) => void
  /** A faster sha256 for model hashes, where the platform has one. */
  readonly hash?: HashOptions
}

export interface CoordinatorInit {
  /** How often a waiting job re-reads its candidates (ms). Default 500. */
  readonly pollMs?: number
  /** Invitation deadline (ms). Default 60 000 (a client may still be loading its data set). */
  readonly inviteTimeoutMs?: number
  /** Deadline for a client to receive the model and acknowledge its task (ms). Default 60 000. */
  readonly trainAckTimeoutMs?: number
  /** Federated evaluation deadline per client (ms). Default 120 000. */
  readonly evaluateTimeoutMs?: number
  /** How long a refused invitation stands before the client is asked again (ms). Default 30 000. */
  readonly reinviteAfterMs?: number
  /** Oldest base an asynchronous (FedBuff) update may have, in server steps. Default 20. */
  readonly maxStaleness?: number
  /**
   * Model transfers of task hand-outs that run at once. Default 1. The sender's link is shared, so one at a time,
   * longest-training clients first, starts the round's critical path sooner than all at once; a hand-out frees its
   * slot when its model's bytes are sent, not when the client acknowledges, so round trips overlap the next one.
   */
  readonly dispatchConcurrency?: number
  /** Longest a hand-out holds its slot before the next one starts anyway, so a stuck client delays no one (ms). Default 2 000. */
  readonly dispatchSlotMs?: number
  /** How long a job waits for invitations still in flight once it has enough clients to start (ms). Default 5 000. */
  readonly inviteGraceMs?: number
  /** Largest model (float32 bytes) a job may have here, checked from the spec before anything is allocated. Default 256 MiB. */
  readonly maxModelBytes?: number
  /**
   * `update-refused` events recorded per client and minute; later refusals in the minute are counted and summed up
   * in one `updates-suppressed` event, so a peer that floods refused headers cannot flood the job's events. Default 10.
   */
  readonly refusalEventsPerMinute?: number
  /**
   * Invitations a job has in flight at once. A refresh invites new candidates up to it, taking them in turn from
   * where the last refresh stopped, so a flood of candidates neither opens thousands of calls nor starves the rest.
   * Default 64.
   */
  readonly maxInvitesInFlight?: number
  /** A job paused because its store is full tries to resume after this long, and again after each failed try (ms). Default 30 000. */
  readonly pauseRetryMs?: number
}

/** The defaults of CoordinatorInit, checked. @throws RangeError for a non-positive dispatchConcurrency */
export function resolveCoordinatorInit(init: CoordinatorInit): Required<CoordinatorInit> {
  const out: Required<CoordinatorInit> = {
    pollMs: init.pollMs ?? 500,
    inviteTimeoutMs: init.inviteTimeoutMs ?? 60_000,
    trainAckTimeoutMs: init.trainAckTimeoutMs ?? 60_000,
    evaluateTimeoutMs: init.evaluateTimeoutMs ?? 120_000,
    reinviteAfterMs: init.reinviteAfterMs ?? 30_000,
    maxStaleness: init.maxStaleness ?? 20,
    dispatchConcurrency: init.dispatchConcurrency ?? 1,
    dispatchSlotMs: init.dispatchSlotMs ?? 2_000,
    inviteGraceMs: init.inviteGraceMs ?? 5_000,
    maxModelBytes: init.maxModelBytes ?? 256 * 2 ** 20,
    refusalEventsPerMinute: init.refusalEventsPerMinute ?? 10,
    maxInvitesInFlight: init.maxInvitesInFlight ?? 64,
    pauseRetryMs: init.pauseRetryMs ?? 30_000,
  }
  if (!Number.isSafeInteger(out.maxInvitesInFlight) || out.maxInvitesInFlight < 1) {
    throw new RangeError(`maxInvitesInFlight must be a positive integer, got ${out.maxInvitesInFlight}`)
  }
  if (!Number.isSafeInteger(out.refusalEventsPerMinute) || out.refusalEventsPerMinute < 0) {
    throw new RangeError(`refusalEventsPerMinute must be an integer ≥ 0, got ${out.refusalEventsPerMinute}`)
  }
  if (!Number.isSafeInteger(out.dispatchConcurrency) || out.dispatchConcurrency < 1) {
    throw new RangeError(`dispatchConcurrency must be a positive integer, got ${out.dispatchConcurrency}`)
  }
  return out
}

export interface SubmitOptions {
  /** Job id (default: generated). */
  readonly id?: string
  /** Who submitted it (peer id or 'local'). */
  readonly submitter?: string
  /** Initial model (default: the engine-independent seeded initialization of `spec.model`). */
  readonly initialModel?: Float32Array
}

/** Live state of a running job beyond what the store holds. */
export interface JobLive {
  readonly members: number
  readonly available: number
  /** Set while the job is paused (its store is full): why, and since when (epoch ms). */
  readonly paused?: { readonly reason: string; readonly since: number }
  readonly round?: {
    readonly round: number
    readonly participants: number
    readonly pending: number
    readonly delivered: number
    readonly dropped: number
    readonly startedAt: number
  }
}
