// The coordinator role: runs federated jobs round by round over any CoordinatorTransport, persisting to a JobStore.
// It routes each call to the job's run (job-run.ts), which owns the rounds; this file holds submit, resume and the
// facade the transports call.
import { initialFlatParams, paramCount } from '@weft/runtime'
import { systemClock } from '../clock.js'
import { InvalidJobSpecError, isStorageFull } from '../errors.js'
import type { Clock } from '../contracts/clock.js'
import type { JobRecord } from '../contracts/job-store.js'
import type { Strategy } from '../contracts/strategy.js'
import type { Admission, UpdateHeader } from '../contracts/transport.js'
import { withMessage } from '../job-events.js'
import type { JobSpec } from '../job-spec.js'
import { modelHash } from '../model-set.js'
import { JobRun, type TransferInfo } from './job-run.js'
import { type CoordinatorComponents, type CoordinatorInit, type JobLive, resolveCoordinatorInit, type SubmitOptions } from './options.js'
import { createJobStrategy } from './seeds.js'

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
  /** Decides on an update header before its data is received; a refusal is recorded and counted. */
  admit(from: string, header: UpdateHeader): Admission
  /** Checks, stores and aggregates a received update (admitting it again: the round may have moved on meanwhile). */
  deliver(from: string, header: UpdateHeader, delta: Float32Array, transfer: TransferInfo): Admission
  /** Secure aggregation: checks a client's masked input (the header's `secureSession` names its session) and keeps it for the round's sum. */
  deliverMasked(from: string, header: UpdateHeader, masked: Uint32Array, transfer: TransferInfo): Admission
  /** A client's peer went away: it is dropped from the rounds it is in. */
  clientGone(clientId: string, reason: string): void
  /**
   * A client reports that its task of `round` in job `jobId` failed: the round stops waiting for it (it is dropped
   * with the reason; an asynchronous job frees its slot). A report for another round than the client's task is ignored.
   */
  taskFailed(jobId: string, clientId: string, round: number, reason: string): void
  /**
   * Candidates may have changed (new peers, new ads): waiting jobs look again. Debounced: jobs wake at most once per
   * `pollMs`, a call within it wakes them at its end, so a flood of ads costs one look per period, not one per ad.
   */
  wake(): void
  /** Resolves with the job's record when it stops running here (finished, failed, cancelled or coordinator stopped). */
  done(jobId: string): Promise<JobRecord>
  isRunning(jobId: string): boolean
  live(jobId: string): JobLive | undefined
  /** Stops every job without changing its stored status, so `resumeAll` continues it later. */
  stop(): Promise<void>
}

/** Creates a coordinator. @throws RangeError for a bad `init` */
export function createCoordinator(components: CoordinatorComponents, init: CoordinatorInit = {}): Coordinator {
  return new CoordinatorImpl(components, init)
}

function newJobId(now: number): string {
  const r = new Uint8Array(4)
  globalThis.crypto.getRandomValues(r)
  return `fl-${now.toString(36)}-${[...r].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

class CoordinatorImpl implements Coordinator {
  readonly #c: CoordinatorComponents
  readonly #init: Required<CoordinatorInit>
  readonly #clock: Clock
  readonly #runs = new Map<string, JobRun>()
  /** When wake() last woke the jobs, and the timer of the wake-up it deferred. */
  #wokeAt = Number.NEGATIVE_INFINITY
  #wakeTimer: ReturnType<Clock['setTimer']> | undefined
  /** Jobs paused because their store is full, each with the timer of its next try. */
  readonly #paused = new Map<string, { reason: string; since: number; timer: ReturnType<Clock['setTimer']> }>()
  #stopped = false

  constructor(components: CoordinatorComponents, init: CoordinatorInit) {
    this.#c = components
    this.#clock = components.clock ?? systemClock
    this.#init = resolveCoordinatorInit(init)
  }

  submit(spec: JobSpec, options: SubmitOptions = {}): JobRecord {
    // The model's size is known from its spec: checked before the strategy or the initial model allocate anything.
    const bytes = paramCount(spec.model) * 4
    if (bytes > this.#init.maxModelBytes) {
      const mib = (n: number) => (n / 2 ** 20).toFixed(1)
      const message = `${paramCount(spec.model)} parameters are ${mib(bytes)} MiB; this coordinator takes models up to ${mib(this.#init.maxModelBytes)} MiB`
      throw new InvalidJobSpecError(`model: ${message}`, [{ path: 'model', message }])
    }
    if (spec.privacy.secureAggregation !== undefined && this.#c.transport.secagg === undefined) {
      const message = 'this coordinator’s transport has no secure-aggregation channel'
      throw new InvalidJobSpecError(`privacy.secureAggregation: ${message}`, [{ path: 'privacy.secureAggregation', message }])
    }
    const central = spec.evaluation.centralized
    if (central !== undefined) {
      const why = this.#c.evaluator === undefined ? 'this coordinator has no evaluator' : this.#c.evaluator.check?.(spec, central.dataset)
      if (why !== undefined) throw new InvalidJobSpecError(`evaluation.centralized.dataset: ${why}`, [{ path: 'evaluation.centralized.dataset', message: why }])
    }
    const strategy = createJobStrategy(spec)
    const now = this.#clock.now()
    const id = options.id ?? newJobId(now)
    const initial = options.initialModel ?? initialFlatParams(spec.model, spec.seed)
    const params = paramCount(spec.model)
    if (initial.length !== params) throw new RangeError(`initialModel has ${initial.length} values; the model has ${params}`)
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
    this.#record(id, {
      at: now,
      type: 'job-submitted',
      data: { name: spec.name, submitter: record.submitter, strategy: spec.strategy.name, rounds: spec.rounds, params },
    })
    this.#start(record, strategy)
    return record
  }

  #record(jobId: string, input: Parameters<typeof withMessage>[0]): void {
    const e = this.#c.store.appendEvent(jobId, withMessage(input))
    this.#c.onEvent?.(jobId, e)
  }

  resumeAll(): string[] {
    const ids: string[] = []
    for (const job of this.#c.store.listJobs()) {
      if (job.status !== 'running' || this.#runs.has(job.id) || this.#paused.has(job.id)) continue
      this.#resume(job)
      ids.push(job.id)
    }
    return ids
  }

  #resume(job: JobRecord, pausedFor?: string): void {
    const strategy = createJobStrategy(job.spec)
    const state = this.#c.store.getStrategyState(job.id)
    if (state !== undefined) strategy.importState(state)
    this.#record(job.id, { at: this.#clock.now(), type: 'job-resumed', round: job.round, data: { round: job.round, ...(pausedFor === undefined ? {} : { pausedFor }) } })
    this.#start(job, strategy)
  }

  #start(job: JobRecord, strategy: Strategy): void {
    const run = new JobRun(job, strategy, this.#c, this.#init, this.#clock)
    this.#runs.set(job.id, run)
    this.#c.metrics?.onJobStatus?.(job.id, 'running')
    void run.run().finally(() => {
      this.#runs.delete(job.id)
      if (run.pausedBy !== undefined && !this.#stopped) this.#pause(job.id, run.pausedBy)
      const rec = this.#c.store.getJob(job.id)
      if (rec !== undefined) this.#c.metrics?.onJobStatus?.(job.id, rec.status)
    })
  }

  /**
   * Holds a job whose store is full, and tries it again every pauseRetryMs: the node stays up and the job goes on
   * once there is space (or on the next restart: its stored status is still 'running').
   */
  #pause(jobId: string, reason: string): void {
    const retryMs = this.#init.pauseRetryMs
    const since = this.#paused.get(jobId)?.since ?? this.#clock.now()
    const timer = this.#clock.setTimer(() => this.#retryPaused(jobId), retryMs)
    this.#paused.set(jobId, { reason, since, timer })
    try {
      this.#record(jobId, { at: this.#clock.now(), type: 'job-paused', data: { reason, retryMs } })
    } catch {
      // The store is full: the pause is in the live view and the log until an event can be written again.
    }
  }

  #retryPaused(jobId: string): void {
    const paused = this.#paused.get(jobId)
    if (paused === undefined) return
    this.#paused.delete(jobId)
    const job = this.#c.store.getJob(jobId)
    if (job === undefined || job.status !== 'running' || this.#runs.has(jobId)) return
    try {
      this.#resume(job, paused.reason)
    } catch (err) {
      if (!isStorageFull(err)) throw err
      this.#paused.set(jobId, { reason: paused.reason, since: paused.since, timer: this.#clock.setTimer(() => this.#retryPaused(jobId), this.#init.pauseRetryMs) })
    }
  }

  cancel(jobId: string, reason = 'cancelled by user'): boolean {
    const paused = this.#paused.get(jobId)
    if (paused !== undefined) {
      this.#clock.clearTimer(paused.timer)
      this.#paused.delete(jobId)
      this.#c.store.setJobStatus(jobId, 'cancelled', reason)
      this.#record(jobId, { at: this.#clock.now(), type: 'job-cancelled', data: { reason } })
      return true
    }
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

  deliver(from: string, header: UpdateHeader, delta: Float32Array, transfer: TransferInfo): Admission {
    const run = this.#runs.get(header.jobId)
    if (run === undefined) return this.#notRunning(header.jobId)
    const verdict = run.deliver(from, header, delta, transfer)
    this.#c.metrics?.onUpdate?.(header.jobId, verdict.ok ? 'accepted' : 'refused', transfer.bytes)
    return verdict
  }

  deliverMasked(from: string, header: UpdateHeader, masked: Uint32Array, transfer: TransferInfo): Admission {
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
    if (this.#wakeTimer !== undefined) return
    const wait = this.#wokeAt + this.#init.pollMs - this.#clock.now()
    if (wait <= 0) {
      this.#wakeAll()
      return
    }
    this.#wakeTimer = this.#clock.setTimer(() => {
      this.#wakeTimer = undefined
      this.#wakeAll()
    }, wait)
  }

  #wakeAll(): void {
    this.#wokeAt = this.#clock.now()
    for (const run of this.#runs.values()) run.wake()
  }

  done(jobId: string): Promise<JobRecord> {
    const run = this.#runs.get(jobId)
    const rec = this.#c.store.getJob(jobId)
    if (run === undefined) return rec === undefined ? Promise.reject(new Error(`unknown job ${jobId}`)) : Promise.resolve(rec)
    return run.finished.then(() => this.#c.store.getJob(jobId) as JobRecord)
  }

  isRunning(jobId: string): boolean {
    return this.#runs.has(jobId)
  }

  live(jobId: string): JobLive | undefined {
    const paused = this.#paused.get(jobId)
    if (paused !== undefined) return { members: 0, available: 0, paused: { reason: paused.reason, since: paused.since } }
    return this.#runs.get(jobId)?.live()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    for (const p of this.#paused.values()) this.#clock.clearTimer(p.timer)
    this.#paused.clear()
    if (this.#wakeTimer !== undefined) this.#clock.clearTimer(this.#wakeTimer)
    this.#wakeTimer = undefined
    const runs = [...this.#runs.values()]
    for (const run of runs) run.stop()
    await Promise.all(runs.map((r) => r.finished))
  }
}
