// What the parts of one job's run (membership, hand-outs, round drivers, evaluation) share: the job, its
// components, its clock and abort signal, events, and the wait that new candidates or updates cut short.
import type { Clock } from '../contracts/clock.js'
import type { JobEventMap, JobEventType } from '../contracts/events.js'
import type { JobRecord } from '../contracts/job-store.js'
import type { Strategy } from '../contracts/strategy.js'
import type { JobSpec } from '../job-spec.js'
import type { CoordinatorComponents, CoordinatorInit } from './options.js'

/** Thrown inside a job's run to fail the job with a clear reason. */
export class JobFailure extends Error {
  override readonly name = 'JobFailure'
}

export interface JobContext {
  readonly id: string
  readonly spec: JobSpec
  readonly strategy: Strategy
  readonly paramCount: number
  readonly components: CoordinatorComponents
  readonly init: Required<CoordinatorInit>
  readonly clock: Clock
  /** Aborted when the job is cancelled or its coordinator stops. */
  readonly signal: AbortSignal
  /** The stored job as of the last commit (its round and current model hash). */
  readonly job: JobRecord
  /** The current global model. */
  readonly global: Float32Array
  /** What an update over `examples` weighs in the aggregate: the examples, at most the spec's clients.maxExamples. */
  weight(examples: number): number
  /** Records an event (stored, logged, passed to onEvent). */
  event<K extends JobEventType>(type: K, data: JobEventMap[K], round?: number): void
  /** Wakes the run's wait: something it waits for may have changed. */
  wake(): void
  /** Waits until woken or `ms` pass on the job's clock. @throws the abort reason when the job stops */
  wait(ms: number): Promise<void>
  /** @throws the abort reason when the job is stopping */
  checkAbort(): void
  /** A signal that aborts after `ms` on the job's clock, or with the job. */
  deadline(ms: number): AbortSignal
}
