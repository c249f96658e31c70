// The coordinator role: runs federated jobs round by round over any CoordinatorTransport, persisting to a JobStore.
//
// One path for an update: the transport asks `admit` when an update's header arrives (wrong job, round, shape or
// sender is refused before any data moves), then hands the data to `deliver`, which checks the values, stores the
// update durably, folds it into the round's aggregation and only then reports it accepted.
import type { HashOptions } from '@weft/protocol'
import { deriveSeed, initialFlatParams, mulberry32, paramCount, permutation } from '@weft/runtime'
import { type SecureAggregationConfig, withDifferentialPrivacy } from './privacy.js'
import { createStrategy } from './strategies/create-strategy.js'
import type { JobSpec } from './job-spec.js'
import { minResults } from './job-spec.js'
import type { EvaluationMetrics, JobEvent, JobRecord, JobStore, RoundMetrics } from './job-store.js'
import { modelHash } from './model-set.js'
import { type SecAggTransport, SECURE_ATTEMPTS, SecureRound } from './secure-aggregation.js'
import type { ClientTrainHints, RoundAggregator, Strategy } from './strategy.js'
import type { Admission, CentralEvaluator, ClientEvaluation, CoordinatorTransport, TrainAssignment, UpdateHeader } from './transport.js'

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
  /** Milliseconds clock (default Date.now). */
  readonly now?: () => number
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
  readonly round?: {
    readonly round: number
    readonly participants: number
    readonly pending: number
    readonly delivered: number
    readonly dropped: number
    readonly startedAt: number
  }
}

export interface Coordinator {
  /**
   * Stores a job and starts running it.
   * @throws InvalidJobSpecError-like errors from the strategy config; Error when the central evaluator lacks the data set
   */
  submit(spec: JobSpec, options?: SubmitOptions): JobRecord
  /** Resumes every stored job whose status is 'running' (after a restart). Returns their ids. */
  resumeAll(): string[]
  /** Cancels a running job. Returns false when it is not running here. */
  cancel(jobId: string, reason?: string): boolean
  /** Decides on an update header before its data is received. */
  admit(from: string, header: UpdateHeader): Admission
  /** Checks, stores and aggregates a received update. */
  deliver(from: string, header: UpdateHeader, delta: Float32Array, transfer: { readonly bytes: number; readonly seconds: number }): Admission
  /** Secure aggregation: checks a client's masked input (the header's `secureSession` names its session) and keeps it for the round's sum. */
  deliverMasked(from: string, header: UpdateHeader, masked: Uint32Array, transfer: { readonly bytes: number; readonly seconds: number }): Admission
  /** A client's peer went away: it is dropped from the rounds it is in. */
  clientGone(clientId: string, reason: string): void
  /**
   * A client reports that its task of `round` in job `jobId` failed: the round stops waiting for it (it is dropped
   * with the reason; an asynchronous job frees its slot). A report for another round than the client's task is ignored.
   */
  taskFailed(jobId: string, clientId: string, round: number, reason: string): void
  /** Candidates may have changed (new peers, new ads): waiting jobs look again now. */
  wake(): void
  /** Resolves with the job's record when it stops running here (finished, failed, cancelled or coordinator stopped). */
  done(jobId: string): Promise<JobRecord>
  isRunning(jobId: string): boolean
  live(jobId: string): JobLive | undefined
  /** Stops every job without changing its stored status, so `resumeAll` continues it later. */
  stop(): Promise<void>
}

/**
 * The seed of a client's local training in a round: a function of the job seed, the round and the client id only,
 * so a round can be re-run (and checked) whatever order the clients were dispatched in.
 */
export function clientSeed(jobSeed: number, round: number, clientId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < clientId.length; i++) h = Math.imul(h ^ clientId.charCodeAt(i), 0x01000193) >>> 0
  return deriveSeed(jobSeed, round, h) & 0x7fffffff
}

/** Thrown inside a job's loop to fail it with a clear reason. */
class JobFailure extends Error {
  override name = 'JobFailure'
}

/** Creates a coordinator. */
/** The job's strategy: its aggregation rule, wrapped with differential privacy when the spec asks for it. */
export function createJobStrategy(spec: JobSpec): Strategy {
  const rule = createStrategy(spec.strategy, { paramCount: paramCount(spec.model) })
  return spec.privacy.dp === undefined ? rule : withDifferentialPrivacy(rule, spec.privacy.dp)
}

function privacyMetrics(strategy: Strategy): Pick<RoundMetrics, 'privacy'> {
  if (strategy.privacy === undefined) return {}
  const { epsilon, delta, noiseMultiplier, clipNorm } = strategy.privacy.spent()
  return { privacy: { epsilon, delta, noiseMultiplier, clipNorm } }
}

export function createCoordinator(components: CoordinatorComponents, init: CoordinatorInit = {}): Coordinator {
  return new CoordinatorImpl(components, init)
}

function newJobId(): string {
  const r = new Uint8Array(4)
  globalThis.crypto.getRandomValues(r)
  return `fl-${Date.now().toString(36)}-${[...r].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

class CoordinatorImpl implements Coordinator {
  readonly #c: CoordinatorComponents
  readonly #init: Required<CoordinatorInit>
  readonly #runs = new Map<string, JobRun>()
  readonly #now: () => number

  constructor(components: CoordinatorComponents, init: CoordinatorInit) {
    this.#c = components
    this.#now = components.now ?? Date.now
    this.#init = {
      pollMs: init.pollMs ?? 500,
      inviteTimeoutMs: init.inviteTimeoutMs ?? 60_000,
      trainAckTimeoutMs: init.trainAckTimeoutMs ?? 60_000,
      evaluateTimeoutMs: init.evaluateTimeoutMs ?? 120_000,
      reinviteAfterMs: init.reinviteAfterMs ?? 30_000,
      maxStaleness: init.maxStaleness ?? 20,
      dispatchConcurrency: init.dispatchConcurrency ?? 1,
      dispatchSlotMs: init.dispatchSlotMs ?? 2_000,
    }
    if (!Number.isSafeInteger(this.#init.dispatchConcurrency) || this.#init.dispatchConcurrency < 1) {
      throw new RangeError(`dispatchConcurrency must be a positive integer, got ${this.#init.dispatchConcurrency}`)
    }
  }

  submit(spec: JobSpec, options: SubmitOptions = {}): JobRecord {
    const strategy = createJobStrategy(spec)
    if (spec.privacy.secureAggregation !== undefined && this.#c.transport.secagg === undefined) {
      throw new Error('privacy.secureAggregation: this coordinator’s transport has no secure-aggregation channel')
    }
    const central = spec.evaluation.centralized
    if (central !== undefined) {
      const why = this.#c.evaluator === undefined ? 'this coordinator has no evaluator' : this.#c.evaluator.check?.(spec, central.dataset)
      if (why !== undefined) throw new Error(`evaluation.centralized.dataset: ${why}`)
    }
    const id = options.id ?? newJobId()
    const initial = options.initialModel ?? initialFlatParams(spec.model, spec.seed)
    if (initial.length !== paramCount(spec.model)) throw new RangeError(`initialModel has ${initial.length} values; the model has ${paramCount(spec.model)}`)
    const now = this.#now()
    const record: JobRecord = {
      id,
      spec,
      status: 'running',
      round: 1,
      modelHash: modelHash(initial, this.#c.hash),
      submitter: options.submitter ?? 'local',
      createdAt: now,
      updatedAt: now,
    }
    this.#c.store.createJob(record, initial)
    this.#c.store.appendEvent(id, {
      at: now,
      type: 'job-submitted',
      message: `job "${spec.name}" submitted by ${record.submitter}: ${spec.strategy.name}, ${spec.rounds} rounds, ${paramCount(spec.model)} parameters`,
    })
    this.#start(record, strategy)
    return record
  }

  resumeAll(): string[] {
    const ids: string[] = []
    for (const job of this.#c.store.listJobs()) {
      if (job.status !== 'running' || this.#runs.has(job.id)) continue
      const strategy = createJobStrategy(job.spec)
      const state = this.#c.store.getStrategyState(job.id)
      if (state !== undefined) strategy.importState(state)
      this.#c.store.appendEvent(job.id, { at: this.#now(), type: 'job-resumed', round: job.round, message: `coordinator restarted; resuming at round ${job.round}` })
      this.#start(job, strategy)
      ids.push(job.id)
    }
    return ids
  }

  #start(job: JobRecord, strategy: Strategy): void {
    const run = new JobRun(job, strategy, this.#c, this.#init, this.#now)
    this.#runs.set(job.id, run)
    this.#c.metrics?.onJobStatus?.(job.id, 'running')
    void run.run().finally(() => {
      this.#runs.delete(job.id)
      const rec = this.#c.store.getJob(job.id)
      if (rec !== undefined) this.#c.metrics?.onJobStatus?.(job.id, rec.status)
    })
  }

  cancel(jobId: string, reason = 'cancelled by user'): boolean {
    const run = this.#runs.get(jobId)
    if (run === undefined) return false
    run.cancel(reason)
    return true
  }

  admit(from: string, header: UpdateHeader): Admission {
    const run = this.#runs.get(header.jobId)
    if (run === undefined) return this.#notRunning(header.jobId)
    const verdict = run.admit(from, header)
    if (!verdict.ok) {
      run.refused(from, header.round, verdict.reason)
      this.#c.metrics?.onUpdate?.(header.jobId, 'refused', 0)
    }
    return verdict
  }

  deliver(from: string, header: UpdateHeader, delta: Float32Array, transfer: { bytes: number; seconds: number }): Admission {
    const run = this.#runs.get(header.jobId)
    if (run === undefined) return this.#notRunning(header.jobId)
    const verdict = run.deliver(from, header, delta, transfer)
    this.#c.metrics?.onUpdate?.(header.jobId, verdict.ok ? 'accepted' : 'refused', transfer.bytes)
    return verdict
  }

  deliverMasked(from: string, header: UpdateHeader, masked: Uint32Array, transfer: { bytes: number; seconds: number }): Admission {
    const run = this.#runs.get(header.jobId)
    if (run === undefined) return this.#notRunning(header.jobId)
    const verdict = run.deliverMasked(from, header, masked, transfer)
    this.#c.metrics?.onUpdate?.(header.jobId, verdict.ok ? 'accepted' : 'refused', transfer.bytes)
    return verdict
  }

  #notRunning(jobId: string): Admission {
    const job = this.#c.store.getJob(jobId)
    return { ok: false, reason: job === undefined ? `unknown job ${jobId}` : `job ${jobId} is ${job.status}` }
  }

  clientGone(clientId: string, reason: string): void {
    for (const run of this.#runs.values()) run.clientGone(clientId, reason)
  }

  taskFailed(jobId: string, clientId: string, round: number, reason: string): void {
    this.#runs.get(jobId)?.taskFailed(clientId, round, reason)
  }

  wake(): void {
    for (const run of this.#runs.values()) run.wake()
  }

  done(jobId: string): Promise<JobRecord> {
    const run = this.#runs.get(jobId)
    const rec = this.#c.store.getJob(jobId)
    if (run === undefined) {
      return rec === undefined ? Promise.reject(new Error(`unknown job ${jobId}`)) : Promise.resolve(rec)
    }
    return run.finished.then(() => this.#c.store.getJob(jobId) as JobRecord)
  }

  isRunning(jobId: string): boolean {
    return this.#runs.has(jobId)
  }

  live(jobId: string): JobLive | undefined {
    return this.#runs.get(jobId)?.live()
  }

  async stop(): Promise<void> {
    const runs = [...this.#runs.values()]
    for (const run of runs) run.stop()
    await Promise.all(runs.map((r) => r.finished))
  }
}

/** The state of the round in progress (one server step for asynchronous jobs). */
class RoundState {
  readonly participants: Set<string>
  readonly pending = new Set<string>()
  readonly delivered = new Set<string>()
  readonly dropped = new Set<string>()
  open = true
  sampled = 0
  refused = 0
  examples = 0
  lossSum = 0
  accSum = 0
  bytesUp = 0
  bytesDown = 0
  maxTrain = 0
  maxUpload = 0
  aggSeconds = 0
  stalenessSum = 0
  lastAckAt: number
  /** Secure aggregation's session of this round attempt, and each client's weight in it. */
  secure?: SecureRound
  readonly weights = new Map<string, number>()
  secureSummary?: NonNullable<RoundMetrics['secureAggregation']>

  constructor(
    readonly round: number,
    participants: readonly string[],
    readonly inputHash: string,
    readonly agg: RoundAggregator,
    readonly startedAt: number,
  ) {
    this.participants = new Set(participants)
    this.lastAckAt = startedAt
  }
}

class JobRun {
  #job: JobRecord
  readonly #spec: JobSpec
  readonly #strategy: Strategy
  readonly #c: CoordinatorComponents
  readonly #init: Required<CoordinatorInit>
  readonly #now: () => number
  readonly #paramCount: number
  readonly #abort = new AbortController()
  readonly #members = new Map<string, { examples: number }>()
  /** Each client's last measured local training time (s), to hand the longest-training clients their task first. */
  readonly #lastTrain = new Map<string, number>()
  /** Task hand-outs waiting for a slot, and how many hold one now. */
  readonly #handouts: Array<(release: () => void) => Promise<void>> = []
  #handoutsRunning = 0
  readonly #refused = new Map<string, { reason: string; at: number }>()
  readonly #inviting = new Set<string>()
  /** Asynchronous jobs: clients training now, with the round they were dispatched in. */
  readonly #inflight = new Map<string, number>()
  readonly #waiters = new Set<() => void>()
  #global: Float32Array = new Float32Array(0)
  #round: RoundState | undefined
  #endReason: { kind: 'cancel' | 'stop'; reason: string } | undefined
  readonly finished: Promise<void>
  #resolveFinished!: () => void

  constructor(job: JobRecord, strategy: Strategy, c: CoordinatorComponents, init: Required<CoordinatorInit>, now: () => number) {
    this.#job = job
    this.#spec = job.spec
    this.#strategy = strategy
    this.#c = c
    this.#init = init
    this.#now = now
    this.#paramCount = paramCount(job.spec.model)
    this.finished = new Promise((resolve) => {
      this.#resolveFinished = resolve
    })
  }

  get #id(): string {
    return this.#job.id
  }

  #event(type: string, message: string, round?: number): JobEvent {
    const e = this.#c.store.appendEvent(this.#id, { at: this.#now(), type, message, ...(round === undefined ? {} : { round }) })
    this.#c.logger?.info({ job: this.#id, type, round }, message)
    return e
  }

  async run(): Promise<void> {
    try {
      const global = this.#c.store.getModel(this.#job.modelHash)
      if (global === undefined) throw new JobFailure(`the stored model ${this.#job.modelHash.slice(0, 12)} of round ${this.#job.round - 1} is missing`)
      this.#global = global
      while (this.#job.round <= this.#spec.rounds) {
        this.#checkAbort()
        const privacy = this.#strategy.privacy
        if (privacy?.configured === true && !privacy.allowsAnotherRound()) {
          const spent = privacy.spent()
          this.#event(
            'privacy-budget-reached',
            `stopping before round ${this.#job.round}: it would take ε past ${privacy.config.epsilonLimit ?? privacy.config.targetEpsilon} (spent ε = ${spent.epsilon.toFixed(3)} at δ = ${spent.delta})`,
          )
          break
        }
        if (this.#strategy.asynchronous) await this.#asyncRound(this.#job.round)
        else await this.#syncRound(this.#job.round)
      }
      this.#c.store.setJobStatus(this.#id, 'finished')
      this.#event('job-finished', `job finished after ${this.#job.round - 1} rounds; model ${this.#job.modelHash.slice(0, 12)}`)
      await this.#releaseAll('job finished')
    } catch (err) {
      const end = this.#endReason
      if (end?.kind === 'stop') {
        this.#c.logger?.info({ job: this.#id }, 'coordinator stopping; the job resumes on restart')
      } else if (end?.kind === 'cancel') {
        this.#c.store.setJobStatus(this.#id, 'cancelled', end.reason)
        this.#event('job-cancelled', `job cancelled: ${end.reason}`)
        await this.#releaseAll(`job cancelled: ${end.reason}`)
      } else {
        const message = err instanceof JobFailure ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`
        this.#c.store.setJobStatus(this.#id, 'failed', message)
        this.#event('job-failed', `job failed: ${message}`)
        this.#c.logger?.warn({ job: this.#id, err: message }, 'federated job failed')
        await this.#releaseAll(`job failed: ${message}`)
      }
    } finally {
      this.#round = undefined
      this.#resolveFinished()
    }
  }

  cancel(reason: string): void {
    this.#endReason ??= { kind: 'cancel', reason }
    this.#abort.abort(new Error(reason))
    this.wake()
  }

  stop(): void {
    this.#endReason ??= { kind: 'stop', reason: 'coordinator stopping' }
    this.#abort.abort(new Error('coordinator stopping'))
    this.wake()
  }

  #checkAbort(): void {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason
  }

  wake(): void {
    for (const w of [...this.#waiters]) w()
  }

  /** Waits until woken, `ms` elapse, or the job is aborted (then throws). */
  async #wait(ms: number): Promise<void> {
    this.#checkAbort()
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      this.#waiters.add(done)
    })
    this.#checkAbort()
  }

  live(): JobLive {
    const rs = this.#round
    return {
      members: this.#members.size,
      available: this.#available().length,
      ...(rs === undefined
        ? {}
        : {
            round: {
              round: rs.round,
              participants: rs.participants.size,
              pending: rs.pending.size,
              delivered: rs.delivered.size,
              dropped: rs.dropped.size,
              startedAt: rs.startedAt,
            },
          }),
    }
  }

  // --- membership -------------------------------------------------------------------------------------------

  /** Invites eligible candidates that are not members yet (in the background). */
  #refreshMembers(): void {
    const now = this.#now()
    for (const id of this.#c.transport.candidates(this.#spec)) {
      if (this.#members.has(id) || this.#inviting.has(id)) continue
      const refused = this.#refused.get(id)
      if (refused !== undefined && now - refused.at < this.#init.reinviteAfterMs) continue
      this.#inviting.add(id)
      const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.inviteTimeoutMs)])
      void this.#c.transport
        .invite(id, this.#id, this.#spec, signal)
        .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) }))
        .then((o) => {
          this.#inviting.delete(id)
          if (this.#abort.signal.aborted) return
          if (o.ok) {
            this.#members.set(id, { examples: o.examples })
            this.#refused.delete(id)
            this.#event('client-joined', `${id} joined with ${o.examples} examples`)
          } else {
            const first = !this.#refused.has(id)
            this.#refused.set(id, { reason: o.reason, at: this.#now() })
            if (first) this.#event('client-refused', `${id} declined the invitation: ${o.reason}`)
          }
          this.wake()
        })
    }
  }

  /** Members reachable now, sorted. */
  #available(): string[] {
    const reachable = new Set(this.#c.transport.candidates(this.#spec))
    return [...this.#members.keys()].filter((id) => reachable.has(id)).sort()
  }

  #membershipText(): string {
    const refused = [...this.#refused.entries()].map(([id, r]) => `${id.slice(-8)}: ${r.reason}`)
    return `${this.#members.size} joined, ${this.#c.transport.candidates(this.#spec).length} eligible reachable${
      refused.length > 0 ? `, refused by ${refused.join('; ')}` : ''
    }`
  }

  #sample(available: readonly string[], round: number): string[] {
    const { fraction, min, max } = this.#spec.clients
    const k = Math.min(available.length, max ?? Number.POSITIVE_INFINITY, Math.max(min, Math.ceil(fraction * available.length)))
    const order = permutation(available.length, mulberry32(deriveSeed(this.#spec.seed, round, 0x5a3b1e)))
    return [...order.subarray(0, k)].map((i) => available[i] as string)
  }

  async #releaseAll(reason: string): Promise<void> {
    await Promise.allSettled([...this.#members.keys()].map((id) => this.#c.transport.release(id, this.#id, reason)))
  }

  // --- synchronous rounds -----------------------------------------------------------------------------------

  /** Waits until enough clients are available, then samples them (seeded by `salt`). */
  async #pickParticipants(r: number, salt: number): Promise<string[]> {
    const spec = this.#spec
    const waitStart = this.#now()
    for (;;) {
      this.#refreshMembers()
      const avail = this.#available()
      // Enough to start; give invitations still in flight a moment, so a fresh job does not leave them out.
      if (avail.length >= spec.clients.min && (this.#inviting.size === 0 || this.#now() - waitStart > 5_000)) return this.#sample(avail, salt)
      if (this.#now() - waitStart > spec.timeouts.waitSeconds * 1000) {
        throw new JobFailure(
          `round ${r}: only ${avail.length} of the ${spec.clients.min} clients needed were available after waiting ${spec.timeouts.waitSeconds} s (${this.#membershipText()})`,
        )
      }
      await this.#wait(this.#init.pollMs)
    }
  }

  /**
   * A round under secure aggregation: keys and shares are exchanged while the sampled clients train; each sends
   * its weighted update masked; at the deadline (or once all are in) the survivors return the shares that remove
   * the masks, and only the sum is seen. No replacement can join a session once its keys are exchanged, and masked
   * inputs are not stored (they are useless without the session): a round that aborts for too few shares, or that a
   * coordinator restart interrupts, is run again with a new sample and a new session.
   */
  async #secureRound(r: number, firstSample: string[], resumed: boolean): Promise<void> {
    const spec = this.#spec
    const config = spec.privacy.secureAggregation as SecureAggregationConfig
    const transport = this.#c.transport
    if (transport.secagg === undefined) throw new JobFailure('privacy.secureAggregation: the transport has no secure-aggregation channel')
    const secagg: SecAggTransport['secagg'] = (clientId, message, signal) => (transport.secagg as SecAggTransport['secagg']).call(transport, clientId, message, signal)
    const clipBit = this.#strategy.privacy?.config.adaptiveClipping !== undefined
    const needed = Math.max(2, minResults(spec))
    let sample = firstSample
    // Session ids never repeat, across aborts and coordinator restarts alike: a resumed round counts the attempts
    // its events recorded before the restart.
    for (let attempt = resumed ? this.#recordedSecureAttempts(r) : 0; ; attempt++) {
      if (attempt >= SECURE_ATTEMPTS) throw new JobFailure(`round ${r}: secure aggregation did not complete in ${SECURE_ATTEMPTS} attempts`)
      this.#c.store.openRound(this.#id, r, sample, this.#job.modelHash, this.#now())
      let secure: SecureRound
      try {
        secure = new SecureRound({
          jobId: this.#id,
          round: r,
          attempt,
          participants: sample,
          config,
          vectorLength: this.#paramCount + (clipBit ? 1 : 0),
          transport: { secagg },
          phaseMs: Math.min(60_000, (spec.timeouts.roundSeconds * 1000) / 2),
          signal: this.#abort.signal,
        })
      } catch (err) {
        throw new JobFailure(`round ${r}: privacy.secureAggregation: ${(err as Error).message}`)
      }
      const rs = new RoundState(r, sample, this.#job.modelHash, this.#strategy.begin(this.#global), this.#now())
      rs.secure = secure
      // FedAvg's example weights, scaled into (0, 1] so quantization keeps its range; DP weighs every client 1.
      const maxExamples = Math.max(1, ...sample.map((c) => this.#members.get(c)?.examples ?? 1))
      for (const c of sample) rs.weights.set(c, this.#strategy.privacy !== undefined ? 1 : (this.#members.get(c)?.examples ?? 1) / maxExamples)
      this.#round = rs
      const { plan } = secure
      this.#event(
        'secure-round-started',
        `round ${r} started with secure aggregation (session ${secure.session}): ${sample.length} clients, ${plan.complete ? 'every pair' : `${plan.degree} neighbours each`}, threshold ${plan.threshold}, ${plan.bits}-bit inputs`,
        r,
      )
      this.#dispatchAll(rs, sample, r)
      await secure.start()
      for (const [c, reason] of secure.failed) this.#dropFromRound(rs, c, `secure aggregation: ${reason}`)
      const deadline = rs.startedAt + spec.timeouts.roundSeconds * 1000
      while (rs.pending.size > 0 && this.#now() < deadline) await this.#wait(deadline - this.#now())
      rs.open = false
      for (const c of rs.pending) {
        rs.dropped.add(c)
        this.#event('client-late', `${c} had not sent its masked input when round ${r} closed; dropped from the round`, r)
      }
      rs.pending.clear()
      // Unmasking (the survivors' shares, the rebuilt masks, the sum) is this round's aggregation work.
      const unmaskStart = performance.now()
      const outcome =
        rs.delivered.size >= needed ? await secure.finish() : { ok: false as const, reason: `${rs.delivered.size} masked inputs arrived; ${needed} needed` }
      rs.aggSeconds += (performance.now() - unmaskStart) / 1000
      if (!outcome.ok) {
        this.#event('secure-round-aborted', `round ${r} (session ${secure.session}) aborted; nothing individual was revealed: ${outcome.reason}`, r)
        sample = await this.#pickParticipants(r, r * 7919 + attempt + 1)
        continue
      }
      const { total, survivors, protocolBytes } = outcome.value
      const weight = survivors.reduce((sum, c) => sum + (rs.weights.get(c) ?? 0), 0)
      const update = total.subarray(0, this.#paramCount)
      const t0 = performance.now()
      if (rs.agg.addSum !== undefined) {
        const withinClipCount = clipBit ? Math.round((total[this.#paramCount] as number) / config.clip) : undefined
        rs.agg.addSum({ sum: Float64Array.from(update), count: survivors.length, weight, ...(withinClipCount === undefined ? {} : { withinClipCount }) })
      } else {
        rs.agg.add({ clientId: 'secure-sum', delta: update.map((v) => v / weight), numExamples: 1, staleness: 0 })
      }
      rs.aggSeconds += (performance.now() - t0) / 1000
      rs.secureSummary = {
        session: secure.session,
        degree: plan.degree,
        threshold: plan.threshold,
        bits: plan.bits,
        survivors: survivors.length,
        contributors: [...survivors],
        protocolBytes,
      }
      await this.#commit(rs)
      return
    }
  }

  /** Secure sessions started for round `r`, by the job's whole event log (read page by page). */
  #recordedSecureAttempts(r: number): number {
    let attempts = 0
    for (let page = this.#c.store.events(this.#id, 0); page.length > 0; page = this.#c.store.events(this.#id, page.at(-1)?.seq ?? 0)) {
      for (const e of page) if (e.type === 'secure-round-started' && e.round === r) attempts++
    }
    return attempts
  }

  #dropFromRound(rs: RoundState, clientId: string, reason: string): void {
    this.#inflight.delete(clientId)
    if (!rs.pending.delete(clientId)) return
    rs.dropped.add(clientId)
    this.#event('client-dropped', `${clientId} dropped from round ${rs.round}: ${reason}`, rs.round)
  }

  async #syncRound(r: number): Promise<void> {
    const spec = this.#spec
    const needed = minResults(spec)
    const stored = this.#c.store.getRound(this.#id, r)
    let participants: string[]
    if (stored?.status === 'open') {
      participants = [...stored.participants]
      for (const p of participants) if (!this.#members.has(p)) this.#members.set(p, { examples: 0 })
    } else {
      participants = await this.#pickParticipants(r, r)
      this.#c.store.openRound(this.#id, r, participants, this.#job.modelHash, this.#now())
    }
    // DP fixes its population N, clients per round m and noise at the first round; the state keeps them after.
    try {
      this.#strategy.privacy?.configure(this.#strategy.privacy.config.population ?? Math.max(participants.length, this.#available().length), participants.length, spec.rounds)
    } catch (err) {
      throw new JobFailure(`privacy.dp: ${(err as Error).message}`)
    }
    if (spec.privacy.secureAggregation !== undefined) return this.#secureRound(r, participants, stored?.status === 'open')
    const rs = new RoundState(r, participants, this.#job.modelHash, this.#strategy.begin(this.#global), this.#now())
    this.#round = rs
    const refolded = this.#refold(rs)
    this.#event(
      'round-started',
      refolded > 0
        ? `round ${r} resumed with ${refolded} of ${participants.length} updates already accepted`
        : `round ${r} started: ${participants.length} clients sampled`,
      r,
    )
    const deadline = rs.startedAt + spec.timeouts.roundSeconds * 1000
    const giveUp = deadline + spec.timeouts.waitSeconds * 1000
    this.#dispatchAll(rs, participants.filter((c) => !rs.delivered.has(c)), r)
    for (;;) {
      const now = this.#now()
      if (rs.pending.size === 0) {
        if (rs.delivered.size >= needed) break
        this.#refreshMembers()
        const spare = this.#available().filter((id) => !rs.participants.has(id))
        if (spare.length > 0) {
          const picked = this.#sample(spare, r * 7919 + rs.participants.size).slice(0, needed - rs.delivered.size)
          for (const c of picked) rs.participants.add(c)
          this.#dispatchAll(rs, picked, r)
          this.#c.store.openRound(this.#id, r, [...rs.participants], rs.inputHash, rs.startedAt)
          this.#event('round-recruited', `round ${r}: ${picked.length} replacement clients asked to train`, r)
          continue
        }
      } else if (now >= deadline && rs.delivered.size >= needed) {
        break
      }
      if (now >= giveUp) {
        throw new JobFailure(
          `round ${r}: ${rs.delivered.size} of the ${needed} results needed arrived within ${spec.timeouts.roundSeconds + spec.timeouts.waitSeconds} s (${rs.dropped.size} clients dropped; ${this.#membershipText()})`,
        )
      }
      await this.#wait(rs.pending.size > 0 && now < deadline ? deadline - now : this.#init.pollMs)
    }
    rs.open = false
    for (const c of rs.pending) {
      rs.dropped.add(c)
      this.#event('client-late', `${c} had not sent its update when round ${r} closed; dropped from the round`, r)
    }
    await this.#commit(rs)
  }

  /** Folds the round's already-accepted updates from the store (a resumed round). */
  #refold(rs: RoundState): number {
    let n = 0
    for (const u of this.#c.store.listUpdates(this.#id, rs.round)) {
      const delta = this.#c.store.loadDelta(this.#id, rs.round, u.clientId)
      if (delta === undefined) throw new JobFailure(`round ${rs.round}: the stored update of ${u.clientId} is missing; cannot resume`)
      rs.agg.add({ clientId: u.clientId, delta, numExamples: u.examples, staleness: rs.round - u.baseRound })
      this.#account(rs, u.clientId, u.examples, u.trainLoss, u.trainAccuracy, u.trainSeconds, u.uploadSeconds, u.bytes, rs.round - u.baseRound)
      n++
    }
    return n
  }

  #account(rs: RoundState, from: string, examples: number, loss: number, acc: number, train: number, upload: number, bytes: number, staleness: number): void {
    rs.delivered.add(from)
    rs.pending.delete(from)
    rs.dropped.delete(from)
    rs.examples += examples
    rs.lossSum += loss * examples
    rs.accSum += acc * examples
    rs.bytesUp += bytes
    rs.maxTrain = Math.max(rs.maxTrain, train)
    this.#lastTrain.set(from, train)
    rs.maxUpload = Math.max(rs.maxUpload, upload)
    rs.stalenessSum += staleness
  }

  #hintsFor(rs: RoundState, clientId: string): ClientTrainHints {
    const hints = this.#strategy.clientHints()
    if (rs.secure === undefined) return hints
    const clipBit = this.#strategy.privacy?.config.adaptiveClipping !== undefined
    return { ...hints, secure: { session: rs.secure.session, weight: rs.weights.get(clientId) ?? 1, clipBit } }
  }

  /**
   * Hands tasks to `clients`, those expected to train longest first: their training is the round's critical path, so
   * they should not wait behind transfers to clients that will finish early anyway. The expectation is a client's
   * last measured training time, else its example count at the median measured rate.
   */
  #dispatchAll(rs: RoundState, clients: readonly string[], baseRound: number): void {
    const rates: number[] = []
    for (const c of clients) {
      const seconds = this.#lastTrain.get(c)
      const examples = this.#members.get(c)?.examples ?? 0
      if (seconds !== undefined && examples > 0) rates.push(seconds / examples)
    }
    rates.sort((a, b) => a - b)
    const rate = rates[Math.floor(rates.length / 2)] ?? 1
    const expected = (c: string): number => this.#lastTrain.get(c) ?? (this.#members.get(c)?.examples ?? 0) * rate
    const order = [...clients].sort((a, b) => expected(b) - expected(a) || (a < b ? -1 : a > b ? 1 : 0))
    for (const c of order) this.#dispatch(rs, c, baseRound)
  }

  /** Queues one task hand-out; the client counts as pending at once. */
  #dispatch(rs: RoundState, clientId: string, baseRound: number): void {
    rs.pending.add(clientId)
    rs.sampled++
    // The task is fixed now: an asynchronous job may move to a newer model while this one waits for its slot.
    const task: TrainAssignment = {
      jobId: this.#id,
      round: baseRound,
      modelHash: this.#job.modelHash,
      params: this.#global,
      seed: clientSeed(this.#spec.seed, baseRound, clientId),
      hints: this.#hintsFor(rs, clientId),
    }
    this.#handouts.push((release) => this.#handOut(rs, clientId, task, release))
    this.#pumpHandouts()
  }

  /** Starts queued hand-outs while slots are free; a slot frees when its model is sent, it settles, or after dispatchSlotMs. */
  #pumpHandouts(): void {
    while (this.#handoutsRunning < this.#init.dispatchConcurrency) {
      const start = this.#handouts.shift()
      if (start === undefined) return
      this.#handoutsRunning++
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        clearTimeout(timer)
        this.#handoutsRunning--
        this.#pumpHandouts()
      }
      const timer = setTimeout(release, this.#init.dispatchSlotMs)
      void start(release).finally(release)
    }
  }

  /** Sends one client the model and its task; a failure drops it from the round with the reason. */
  async #handOut(rs: RoundState, clientId: string, task: TrainAssignment, modelSent: () => void): Promise<void> {
    // Dropped while queued, the job stopping, or a synchronous round already closed: nothing to hand out.
    if (this.#abort.signal.aborted || !rs.pending.has(clientId) || (!this.#strategy.asynchronous && !rs.open)) return
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.trainAckTimeoutMs)])
    await this.#c.transport
      .train(clientId, task, signal, { modelSent })
      .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) }))
      .then((o) => {
        if (this.#abort.signal.aborted) return
        if (o.ok) {
          rs.bytesDown += o.bytesDown
          rs.lastAckAt = Math.max(rs.lastAckAt, this.#now())
          return
        }
        this.#inflight.delete(clientId)
        if (!rs.pending.delete(clientId)) return
        rs.dropped.add(clientId)
        this.#event('client-dropped', `${clientId} dropped from round ${rs.round}: ${o.reason}`, rs.round)
        this.wake()
      })
  }

  clientGone(clientId: string, reason: string): void {
    const rs = this.#round
    this.#inflight.delete(clientId)
    if (rs === undefined || !rs.pending.delete(clientId)) return
    rs.dropped.add(clientId)
    this.#event('client-dropped', `${clientId} dropped from round ${rs.round}: ${reason}`, rs.round)
    this.wake()
  }

  taskFailed(clientId: string, round: number, reason: string): void {
    if (this.#inflight.get(clientId) === round) {
      // Asynchronous: the task's slot is free again.
      this.#inflight.delete(clientId)
      this.#event('client-dropped', `${clientId}'s task of version ${round} failed: ${reason}`, round)
      this.wake()
      return
    }
    if (this.#round?.round === round) this.clientGone(clientId, `its task failed: ${reason}`)
  }

  async #commit(rs: RoundState): Promise<void> {
    const t0 = performance.now()
    const result = rs.agg.finish()
    const global = result.global
    const hash = modelHash(global, this.#c.hash)
    rs.aggSeconds += (performance.now() - t0) / 1000
    const total = (this.#now() - rs.startedAt) / 1000
    const n = rs.delivered.size
    const metrics: RoundMetrics = {
      sampled: rs.sampled,
      results: n,
      dropped: rs.dropped.size,
      refused: rs.refused,
      examples: rs.examples,
      trainLoss: rs.examples > 0 ? rs.lossSum / rs.examples : Number.NaN,
      bytesDown: rs.bytesDown,
      bytesUp: rs.bytesUp,
      seconds: {
        total,
        broadcast: (rs.lastAckAt - rs.startedAt) / 1000,
        training: rs.maxTrain,
        upload: rs.maxUpload,
        aggregation: rs.aggSeconds,
      },
      overheadSeconds: Math.max(0, total - rs.maxTrain),
      ...(this.#strategy.asynchronous ? { staleness: n > 0 ? rs.stalenessSum / n : 0 } : {}),
      ...privacyMetrics(this.#strategy),
      ...(rs.secureSummary === undefined ? {} : { secureAggregation: rs.secureSummary }),
    }
    this.#c.store.commitRound(this.#id, rs.round, global, hash, metrics, this.#strategy.exportState(), this.#now())
    this.#global = global
    this.#job = this.#c.store.getJob(this.#id) as JobRecord
    this.#round = undefined
    const selected = result.selected === undefined ? '' : `, selected ${result.selected.length}`
    this.#event(
      'round-closed',
      `round ${rs.round} closed: ${n} updates (${rs.examples} examples${selected}), ${rs.dropped.size} dropped, train loss ${metrics.trainLoss.toFixed(4)}, ${total.toFixed(2)} s`,
      rs.round,
    )
    this.#c.metrics?.onRound?.(this.#id, rs.round, metrics)
    await this.#evaluate(rs.round)
  }

  async #evaluate(r: number): Promise<void> {
    const ev = this.#spec.evaluation
    const last = r === this.#spec.rounds
    let evaluation: EvaluationMetrics = {}
    if (ev.centralized !== undefined && this.#c.evaluator !== undefined && (r % ev.centralized.every === 0 || last)) {
      const t0 = performance.now()
      try {
        const e = await this.#c.evaluator.evaluate(this.#spec, ev.centralized.dataset, this.#global)
        evaluation = { ...evaluation, centralized: { ...e, seconds: (performance.now() - t0) / 1000 } }
      } catch (err) {
        this.#event('evaluation-failed', `centralized evaluation of round ${r} failed: ${(err as Error).message}`, r)
      }
    }
    if (ev.federated !== undefined && (r % ev.federated.every === 0 || last)) {
      const avail = this.#available()
      const k = Math.min(avail.length, Math.max(ev.federated.min, Math.ceil(ev.federated.fraction * avail.length)))
      const order = permutation(avail.length, mulberry32(deriveSeed(this.#spec.seed, r, 0xe7a1)))
      const chosen = [...order.subarray(0, k)].map((i) => avail[i] as string)
      const task = { jobId: this.#id, round: r, modelHash: this.#job.modelHash, params: this.#global }
      const results = await Promise.all(
        chosen.map((id) =>
          this.#c.transport
            .evaluate(id, task, AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#init.evaluateTimeoutMs)]))
            .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) })),
        ),
      )
      const ok = results.filter((x): x is { ok: true } & ClientEvaluation => x.ok)
      const examples = ok.reduce((s, x) => s + x.examples, 0)
      if (examples > 0) {
        const federated = {
          loss: ok.reduce((s, x) => s + x.loss * x.examples, 0) / examples,
          accuracy: ok.reduce((s, x) => s + x.accuracy * x.examples, 0) / examples,
          examples,
          clients: ok.length,
        }
        evaluation = { ...evaluation, federated }
      }
    }
    this.#checkAbort()
    if (evaluation.centralized === undefined && evaluation.federated === undefined) return
    this.#c.store.setRoundEvaluation(this.#id, r, evaluation)
    this.#c.metrics?.onEvaluation?.(this.#id, r, evaluation)
    const parts: string[] = []
    if (evaluation.centralized !== undefined) {
      parts.push(`test accuracy ${(evaluation.centralized.accuracy * 100).toFixed(2)}% (loss ${evaluation.centralized.loss.toFixed(4)})`)
    }
    if (evaluation.federated !== undefined) {
      parts.push(`federated accuracy ${(evaluation.federated.accuracy * 100).toFixed(2)}% on ${evaluation.federated.clients} clients`)
    }
    this.#event('round-evaluated', `round ${r}: ${parts.join(', ')}`, r)
  }

  // --- asynchronous rounds (FedBuff) ------------------------------------------------------------------------

  async #asyncRound(r: number): Promise<void> {
    const k = this.#strategy.bufferSize ?? 1
    const concurrency = (this.#spec.strategy as { concurrency?: number }).concurrency ?? 2 * k
    const stored = this.#c.store.getRound(this.#id, r)
    if (stored?.status !== 'open') this.#c.store.openRound(this.#id, r, [], this.#job.modelHash, this.#now())
    const rs = new RoundState(r, stored?.participants ?? [], this.#job.modelHash, this.#strategy.begin(this.#global), stored?.startedAt ?? this.#now())
    this.#round = rs
    const refolded = this.#refold(rs)
    this.#event('round-started', `server step ${r} started${refolded > 0 ? ` with ${refolded} buffered updates` : ''} (buffer ${k})`, r)
    let lastProgress = this.#now()
    let seen = rs.delivered.size
    while (rs.agg.count < k) {
      this.#refreshMembers()
      const idle = this.#available().filter((id) => !this.#inflight.has(id))
      let added = false
      for (const id of idle) {
        if (this.#inflight.size >= concurrency) break
        this.#inflight.set(id, r)
        rs.participants.add(id)
        this.#dispatch(rs, id, r)
        added = true
      }
      if (added) this.#c.store.openRound(this.#id, r, [...rs.participants], rs.inputHash, rs.startedAt)
      if (rs.delivered.size !== seen) {
        seen = rs.delivered.size
        lastProgress = this.#now()
      }
      if (this.#now() - lastProgress > (this.#spec.timeouts.roundSeconds + this.#spec.timeouts.waitSeconds) * 1000) {
        throw new JobFailure(
          `server step ${r}: no update arrived for ${this.#spec.timeouts.roundSeconds + this.#spec.timeouts.waitSeconds} s (${rs.agg.count} of ${k} buffered; ${this.#membershipText()})`,
        )
      }
      await this.#wait(this.#init.pollMs)
    }
    rs.open = false
    await this.#commit(rs)
  }

  // --- updates ----------------------------------------------------------------------------------------------

  admit(from: string, h: UpdateHeader): Admission {
    const rs = this.#round
    if (this.#abort.signal.aborted) return { ok: false, reason: `job ${this.#id} is stopping` }
    const expected = rs?.secure?.vectorLength ?? this.#paramCount
    if (h.length !== expected) {
      return { ok: false, reason: `update has ${h.length} values; ${rs?.secure === undefined ? 'the model has' : 'a masked input of this round has'} ${expected}` }
    }
    if (!Number.isInteger(h.examples) || h.examples < 1) {
      return { ok: false, reason: `update reports ${h.examples} examples; expected a positive integer` }
    }
    const current = rs?.round ?? this.#job.round
    if (this.#strategy.asynchronous) {
      if (h.round > current) return { ok: false, reason: `server step ${h.round} has not started (the job is at step ${current})` }
      if (current - h.round > this.#init.maxStaleness) {
        return { ok: false, reason: `update from step ${h.round} is ${current - h.round} steps stale (at most ${this.#init.maxStaleness})` }
      }
      const base = h.round === current ? rs : undefined
      const dispatched = base?.participants.has(from) ?? this.#c.store.getRound(this.#id, h.round)?.participants.includes(from) ?? false
      if (!dispatched) return { ok: false, reason: `${from} was not asked to train at step ${h.round} of job ${this.#id}` }
      if (rs === undefined || !rs.open) return { ok: false, reason: `server step ${current} is closing; send again` }
      if (this.#c.store.hasUpdate(this.#id, from, h.round)) return { ok: false, reason: `update from step ${h.round} already counted` }
      const inputHash = h.round === current ? rs.inputHash : this.#c.store.getRound(this.#id, h.round)?.inputHash
      if (h.baseHash !== inputHash) return { ok: false, reason: `update was trained from model ${h.baseHash.slice(0, 12)}, not step ${h.round}'s model` }
      return { ok: true }
    }
    if (h.round < current || (h.round === current && (rs === undefined || !rs.open))) {
      return { ok: false, reason: `round ${h.round} is closed (the job is at round ${rs?.open === true ? current : current + 1})` }
    }
    if (h.round > current || rs === undefined) return { ok: false, reason: `round ${h.round} has not started (the job is at round ${current})` }
    if (!rs.participants.has(from)) return { ok: false, reason: `${from} was not asked to train in round ${h.round} of job ${this.#id}` }
    if (rs.delivered.has(from) || this.#c.store.hasUpdate(this.#id, from, h.round)) {
      return { ok: false, reason: `update for round ${h.round} already counted` }
    }
    if (h.baseHash !== rs.inputHash) {
      return { ok: false, reason: `update was trained from model ${h.baseHash.slice(0, 12)}, not round ${h.round}'s model ${rs.inputHash.slice(0, 12)}` }
    }
    return { ok: true }
  }

  /** Counts and records a refused update; returns the refusal to answer with. */
  refused(from: string, round: number, reason: string): Admission {
    if (this.#round !== undefined) this.#round.refused++
    this.#inflight.delete(from)
    this.#event('update-refused', `update from ${from} for round ${round} refused: ${reason}`, round)
    return { ok: false, reason }
  }

  deliverMasked(from: string, h: UpdateHeader, masked: Uint32Array, transfer: { bytes: number; seconds: number }): Admission {
    const refuse = (reason: string): Admission => this.refused(from, h.round, reason)
    const verdict = this.admit(from, { ...h, length: masked.length })
    if (!verdict.ok) return refuse(verdict.reason)
    const rs = this.#round as RoundState
    const secure = rs.secure
    if (secure === undefined) return refuse(`round ${rs.round} does not use secure aggregation: send the update itself`)
    if (h.secureSession !== secure.session) return refuse(`masked input for session ${h.secureSession}; round ${rs.round} runs session ${secure.session}`)
    if (!Number.isFinite(h.trainLoss)) return refuse(`update reports a training loss of ${h.trainLoss}`)
    try {
      secure.receiveMasked({ type: 'masked-input', jobId: this.#id, round: secure.session, sender: from, modulusBits: 32, bits: secure.plan.bits, vector: masked })
    } catch (err) {
      return refuse((err as Error).message)
    }
    this.#account(rs, from, h.examples, h.trainLoss, h.trainAccuracy, h.trainSeconds, transfer.seconds, transfer.bytes, 0)
    this.#inflight.delete(from)
    this.#event('update-accepted', `masked input from ${from} for round ${rs.round} accepted (session ${secure.session})`, rs.round)
    this.wake()
    return { ok: true }
  }

  deliver(from: string, h: UpdateHeader, delta: Float32Array, transfer: { bytes: number; seconds: number }): Admission {
    const refuse = (reason: string): Admission => this.refused(from, h.round, reason)
    const verdict = this.admit(from, { ...h, length: delta.length })
    if (!verdict.ok) return refuse(verdict.reason)
    if (this.#round?.secure !== undefined) return refuse('this round uses secure aggregation: send a masked input, not the update')
    for (let i = 0; i < delta.length; i++) {
      const v = delta[i] as number
      // biome-ignore lint/suspicious/noSelfCompare: NaN check without a call per element
      if (v !== v || v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY) {
        return refuse(`update value ${i} is ${v}; every value must be finite`)
      }
    }
    if (!Number.isFinite(h.trainLoss)) return refuse(`update reports a training loss of ${h.trainLoss}`)
    const rs = this.#round as RoundState
    const staleness = rs.round - h.round
    this.#c.store.addUpdate(
      this.#id,
      {
        clientId: from,
        round: rs.round,
        baseRound: h.round,
        examples: h.examples,
        trainLoss: h.trainLoss,
        trainAccuracy: h.trainAccuracy,
        trainSeconds: h.trainSeconds,
        uploadSeconds: transfer.seconds,
        bytes: transfer.bytes,
      },
      delta,
    )
    const t0 = performance.now()
    rs.agg.add({ clientId: from, delta, numExamples: h.examples, staleness, ...(h.withinClip === undefined ? {} : { withinClip: h.withinClip }) })
    rs.aggSeconds += (performance.now() - t0) / 1000
    this.#account(rs, from, h.examples, h.trainLoss, h.trainAccuracy, h.trainSeconds, transfer.seconds, transfer.bytes, staleness)
    this.#inflight.delete(from)
    // A full FedBuff buffer takes no more updates: the step closes and later ones count toward the next.
    if (this.#strategy.asynchronous && rs.agg.count >= (this.#strategy.bufferSize ?? 1)) rs.open = false
    this.#event(
      'update-accepted',
      `update from ${from} for round ${rs.round} accepted: ${h.examples} examples, loss ${h.trainLoss.toFixed(4)}, trained ${h.trainSeconds.toFixed(2)} s, uploaded in ${(transfer.seconds * 1000).toFixed(0)} ms${staleness > 0 ? `, staleness ${staleness}` : ''}`,
      rs.round,
    )
    this.wake()
    return { ok: true }
  }
}
