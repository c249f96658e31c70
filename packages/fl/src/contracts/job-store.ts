// The JobStore contract for federated jobs (jobs, rounds, accepted updates, models, events). Types only.
//
// A durable store (the node's SQLite + block files) makes a coordinator restartable: every accepted update is
// stored before it is acknowledged, and a round's commit (model, metrics, job position, strategy state, removal
// of its updates) is atomic, so a restarted coordinator re-folds exactly the updates it accepted.
import type { JobSpec } from '../job-spec.js'
import type { JobEvent, JobEventInput } from './events.js'
import type { StrategyState } from './strategy.js'

export type JobStatus = 'running' | 'finished' | 'failed' | 'cancelled'

/** A job as stored. Rounds are numbered from 1; round r turns global model r−1 into model r. */
export interface JobRecord {
  readonly id: string
  readonly spec: JobSpec
  readonly status: JobStatus
  /** The round in progress (rounds + 1 once finished). */
  readonly round: number
  /** Hash of the current global model (the output of round `round − 1`; round 0 is the initial model). */
  readonly modelHash: string
  /** Who submitted it (peer id or 'local'). */
  readonly submitter: string
  readonly createdAt: number
  readonly updatedAt: number
  readonly error?: string
}

/** Per-round measurements (seconds are wall-clock). */
export interface RoundMetrics {
  /** Clients asked to train (replacements included). */
  readonly sampled: number
  /** Updates accepted and aggregated. */
  readonly results: number
  /** Clients dropped (gone, failed, refused the task, or late). */
  readonly dropped: number
  /** Updates refused (late, malformed, duplicated). */
  readonly refused: number
  readonly examples: number
  /** Example-weighted mean of the clients' mean local training loss. */
  readonly trainLoss: number
  readonly bytesDown: number
  readonly bytesUp: number
  readonly seconds: {
    readonly total: number
    /** Round start until the last client acknowledged its task (model download included). */
    readonly broadcast: number
    /** Longest local training among accepted updates. */
    readonly training: number
    /** Longest update upload among accepted updates. */
    readonly upload: number
    /** Folding updates plus the strategy's finish. */
    readonly aggregation: number
  }
  /** total − training: what the fabric added to the slowest client's work. */
  readonly overheadSeconds: number
  /** Mean staleness of the aggregated updates (asynchronous jobs). */
  readonly staleness?: number
  readonly evaluation?: EvaluationMetrics
  /** Secure aggregation: the round's session, graph degree k, threshold t, input bits, clients in the sum, and the bytes of the protocol's own messages (keys, shares, unmasking; the masked inputs count in bytesUp). */
  readonly secureAggregation?: {
    readonly session: number
    readonly degree: number
    readonly threshold: number
    readonly bits: number
    readonly survivors: number
    /** The clients whose inputs are in the sum (secure rounds store no individual updates to list them by). */
    readonly contributors: readonly string[]
    readonly protocolBytes: number
  }
  /** Privacy budget spent so far, (ε, δ), with the noise multiplier and the clip norm for the next round (DP jobs). */
  readonly privacy?: { readonly epsilon: number; readonly delta: number; readonly noiseMultiplier: number; readonly clipNorm: number }
}

export interface EvaluationMetrics {
  readonly centralized?: { readonly loss: number; readonly accuracy: number; readonly examples: number; readonly seconds: number }
  readonly federated?: { readonly loss: number; readonly accuracy: number; readonly examples: number; readonly clients: number }
}

export interface RoundRecord {
  readonly jobId: string
  readonly round: number
  readonly status: 'open' | 'closed'
  readonly participants: readonly string[]
  readonly inputHash: string
  readonly outputHash?: string
  readonly startedAt: number
  readonly endedAt?: number
  readonly metrics?: RoundMetrics
  /** Secure rounds: the attempt at this round whose session runs now (an aborted session is run again as the next). */
  readonly attempt?: number
}

/** An accepted update's bookkeeping (its delta is stored beside it). */
export interface UpdateRecord {
  readonly clientId: string
  /** The round the update counts toward. */
  readonly round: number
  /** The round the client was dispatched in (= round for synchronous jobs). */
  readonly baseRound: number
  readonly examples: number
  readonly trainLoss: number
  readonly trainAccuracy: number
  readonly trainSeconds: number
  readonly uploadSeconds: number
  readonly bytes: number
}


/** Persistence of federated jobs. Methods are synchronous: both implementations are local. */
export interface JobStore {
  /** Stores a new job with its initial model. @throws Error when the id exists. */
  createJob(job: JobRecord, initialModel: Float32Array): void
  getJob(id: string): JobRecord | undefined
  listJobs(): JobRecord[]
  setJobStatus(id: string, status: JobStatus, error?: string): void
  getModel(hash: string): Float32Array | undefined
  /** Whether a model is stored, without loading it. */
  hasModel(hash: string): boolean
  /**
   * Records that round `round` started with these participants (idempotent; replaces the participant list, keeps the
   * first start time). `attempt` numbers a secure round's sessions, so a restarted coordinator never reuses one.
   */
  openRound(jobId: string, round: number, participants: readonly string[], inputHash: string, startedAt: number, attempt?: number): void
  getRound(jobId: string, round: number): RoundRecord | undefined
  listRounds(jobId: string): RoundRecord[]
  /** Stores an accepted update durably before the coordinator acknowledges it. */
  addUpdate(jobId: string, update: UpdateRecord, delta: Float32Array): void
  listUpdates(jobId: string, round: number): UpdateRecord[]
  /** Clients whose update counts toward the round, in arrival order; kept after the round commits. */
  contributors(jobId: string, round: number): string[]
  /** Whether the (client, baseRound) update was already accepted (counted or committed). */
  hasUpdate(jobId: string, clientId: string, baseRound: number): boolean
  loadDelta(jobId: string, round: number, clientId: string): Float32Array | undefined
  /**
   * Atomically: stores the round's output model and metrics, closes it, moves the job to round + 1 with the new
   * model and strategy state, and drops the round's update deltas (their (client, baseRound) keys are kept).
   */
  commitRound(jobId: string, round: number, output: Float32Array, outputHash: string, metrics: RoundMetrics, state: StrategyState, endedAt: number): void
  getStrategyState(jobId: string): StrategyState | undefined
  /** Adds evaluation results to a committed round. */
  setRoundEvaluation(jobId: string, round: number, evaluation: EvaluationMetrics): void
  /**
   * Stores an event (with its message already derived) and gives it the job's next sequence number. A store keeps a
   * bounded number of events per job (its `maxEventsPerJob`): past it the oldest are dropped, and numbers go on.
   */
  appendEvent(jobId: string, event: JobEventInput & { readonly message: string }): JobEvent
  /** Events with seq > after, oldest first (those still kept). */
  events(jobId: string, after: number, limit?: number): JobEvent[]
  /**
   * Records that `clientId` joined the job declaring `examples` (a later join replaces it). The declaration bounds
   * what the client's updates may claim, after a restart as before it.
   */
  setMember(jobId: string, clientId: string, examples: number): void
  /** The job's members with their declared examples, in order of joining. */
  members(jobId: string): MemberRecord[]
}

/** A client that joined a job, and the examples it declared when it did. */
export interface MemberRecord {
  readonly clientId: string
  readonly examples: number
}

