// The job record: everything an owner knows of a job it schedules (its placements, batch tasks and events), as the
// scheduler keeps it in memory and in jobs.db; what it has cost; and the error a refused request to the scheduler
// carries.
import type { BatchTask, JobSpec, TaskResult } from '@weft/jobs'
import { addUsage, emptyUsage, priceOf, type Usage } from './capacity.js'

export type JobState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled'
export type PlacementRecordState = 'pending' | 'reserved' | 'running' | 'done' | 'failed'

/** One replica of a job, as its owner tracks it. */
export interface PlacementRecord {
  readonly name: string
  peerId: string | null
  state: PlacementRecordState
  attempts: number
  nextAttemptAt: number
  detail: string
  /** Heartbeats in a row its node did not answer, and when it last answered (ms). */
  missed: number
  answeredAt: number
  /** Units held so far (from the node's heartbeat answers), and its prices when placed. */
  usage: Usage
  pricing: { coreHour: number; gibHour: number; acceleratorHour: number }
  /** Nodes it failed on: never placed there again. */
  excluded: string[]
}

/** One batch task, as its owner verifies it. */
export interface TaskRecord {
  readonly id: string
  readonly index: number
  readonly spec: BatchTask['spec']
  readonly seed: number
  state: 'pending' | 'accepted' | 'failed'
  /** Agreeing results that accept it: 1 for a trusted first worker, the job's quorum otherwise (0: not yet sent). */
  quorum: number
  /** Results wanted before the next decision: the quorum, one more for a worker with a recent bad result, more after disagreement. */
  needed: number
  results: Array<TaskResult & { receipt: string; signature: string }>
  /** Workers asked so far (each once) and those still computing. */
  asked: string[]
  inflight: string[]
  /** The last failures of workers asked (at most 8). */
  errors: string[]
  resultCid?: string
  result?: unknown
  reason?: string
}

export interface JobEvent {
  readonly at: number
  readonly message: string
}

/** Everything the owner knows of a job; serialised to jobs.db as JSON. */
export interface JobRecord {
  readonly id: string
  /** The spec as its submitter wrote it (what announcements carry, parsed again by a node taking it over). */
  readonly input: unknown
  readonly spec: JobSpec
  owner: string
  epoch: number
  state: JobState
  reason: string
  readonly submittedAt: number
  finishedAt: number | null
  placements: PlacementRecord[]
  tasks: TaskRecord[]
  events: JobEvent[]
  /** Placements moved after a loss or failure. */
  reschedules: number
  /** Credits of the countersigned receipts of this job. */
  receiptCredit: number
  receipts: number
}

/** A refused request to the scheduler: `status` is the HTTP status the API answers. */
export class JobRequestError extends Error {
  override readonly name = 'JobRequestError'
  constructor(
    readonly status: 400 | 404 | 409 | 503,
    message: string,
  ) {
    super(message)
  }
}

/** What the job has cost so far: each placement's units at its node's prices, and the receipts' credits. */
export function jobCost(job: JobRecord): { total: number; placements: Array<{ name: string; peerId: string | null; usage: Usage; cost: number }>; usage: Usage; receiptCredit: number } {
  const usage = emptyUsage()
  const placements = job.placements.map((p) => {
    addUsage(usage, p.usage)
    return { name: p.name, peerId: p.peerId, usage: p.usage, cost: priceOf(p.usage, p.pricing) }
  })
  return { total: placements.reduce((s, p) => s + p.cost, 0), placements, usage, receiptCredit: job.receiptCredit }
}
