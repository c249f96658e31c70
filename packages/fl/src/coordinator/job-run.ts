// One job's run on the coordinator: its lifecycle (rounds until done, cancelled, failed or stopped for a later
// resume), the round in progress, and the one path of an update: admission by its header, then the data checked,
// stored durably, folded into the round's aggregation, and only then reported accepted.
import { paramCount } from '@weft/runtime'
import { timeoutSignal } from '../clock.js'
import type { Clock } from '../contracts/clock.js'
import type { JobEventMap, JobEventType } from '../contracts/events.js'
import type { JobRecord, RoundMetrics } from '../contracts/job-store.js'
import type { Strategy } from '../contracts/strategy.js'
import type { Admission, UpdateHeader } from '../contracts/transport.js'
import { isStorageFull } from '../errors.js'
import { withMessage } from '../job-events.js'
import type { JobSpec } from '../job-spec.js'
import { modelHash } from '../model-set.js'
import { type AdmissionView, admitUpdate } from './admission.js'
import { evaluateRound } from './evaluation.js'
import { HandoutQueue } from './handouts.js'
import { type JobContext, JobFailure } from './job-context.js'
import { Membership } from './membership.js'
import type { CoordinatorComponents, CoordinatorInit, JobLive } from './options.js'
import type { RoundState } from './round-state.js'
import { bufferedRounds } from './rounds/buffered-round.js'
import type { RoundDriver, RoundServices } from './rounds/driver.js'
import { secureRounds } from './rounds/secure-round.js'
import { syncRounds } from './rounds/sync-round.js'
import { privacyMetrics } from './seeds.js'

/** The window of the per-client limit on `update-refused` events (ms). */
const REFUSAL_WINDOW_MS = 60_000
/** Clients whose refusal windows are tracked at once; the oldest window is closed (and summed up) past this. */
const MAX_REFUSAL_WINDOWS = 10_000

/** One client's refusals in the current window: those recorded as events, and those only counted. */
interface RefusalWindow {
  readonly start: number
  logged: number
  suppressed: number
  round: number
}

/** How an update's bytes arrived. */
export interface TransferInfo {
  readonly bytes: number
  readonly seconds: number
}

export class JobRun implements JobContext, RoundServices {
  #job: JobRecord
  readonly spec: JobSpec
  readonly strategy: Strategy
  readonly components: CoordinatorComponents
  readonly init: Required<CoordinatorInit>
  readonly clock: Clock
  readonly paramCount: number
  readonly members: Membership
  readonly handouts: HandoutQueue
  readonly inflight = new Map<string, number>()
  readonly #abort = new AbortController()
  readonly #waiters = new Set<() => void>()
  readonly #refusals = new Map<string, RefusalWindow>()
  readonly #driver: RoundDriver
  #global: Float32Array = new Float32Array(0)
  #round: RoundState | undefined
  #endReason: { kind: 'cancel' | 'stop'; reason: string } | undefined
  /** Why the run stopped without ending the job: its store is full (the coordinator resumes it later). */
  pausedBy: string | undefined
  readonly finished: Promise<void>
  #resolveFinished!: () => void

  constructor(job: JobRecord, strategy: Strategy, components: CoordinatorComponents, init: Required<CoordinatorInit>, clock: Clock) {
    this.#job = job
    this.spec = job.spec
    this.strategy = strategy
    this.components = components
    this.init = init
    this.clock = clock
    this.paramCount = paramCount(job.spec.model)
    this.members = new Membership(this)
    this.handouts = new HandoutQueue(this, this.members, { failed: (rs, client, reason) => this.drop(rs, client, reason) })
    this.#driver = strategy.asynchronous ? bufferedRounds(this) : job.spec.privacy.secureAggregation !== undefined ? secureRounds(this) : syncRounds(this)
    this.finished = new Promise((resolve) => {
      this.#resolveFinished = resolve
    })
  }

  // --- JobContext ---------------------------------------------------------------------------------------------

  get id(): string {
    return this.#job.id
  }

  get job(): JobRecord {
    return this.#job
  }

  get global(): Float32Array {
    return this.#global
  }

  get signal(): AbortSignal {
    return this.#abort.signal
  }

  get ctx(): JobContext {
    return this
  }

  weight(examples: number): number {
    const cap = this.spec.clients.maxExamples
    return cap === undefined ? examples : Math.min(examples, cap)
  }

  event<K extends JobEventType>(type: K, data: JobEventMap[K], round?: number): void {
    const input = { at: this.clock.now(), type, data, ...(round === undefined ? {} : { round }) } as Parameters<typeof withMessage>[0]
    let e: ReturnType<typeof this.components.store.appendEvent>
    try {
      e = this.components.store.appendEvent(this.id, withMessage(input))
    } catch (err) {
      // An event that cannot be written is no reason to refuse what it reports: the job pauses at its next step.
      if (!isStorageFull(err)) throw err
      this.storageFull(err)
      return
    }
    this.components.logger?.info({ job: this.id, type, round }, e.message)
    this.components.onEvent?.(this.id, e)
  }

  /**
   * The store is out of space (seen outside the round loop: an event, an update's write): the run stops at its next
   * step with this error, and the coordinator pauses the job.
   */
  storageFull(err: unknown): void {
    if (this.#abort.signal.aborted) return
    this.#abort.abort(err)
    this.wake()
  }

  wake(): void {
    for (const w of [...this.#waiters]) w()
  }

  async wait(ms: number): Promise<void> {
    this.checkAbort()
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.clock.clearTimer(timer)
        this.#waiters.delete(done)
        resolve()
      }
      const timer = this.clock.setTimer(done, Math.max(0, ms))
      this.#waiters.add(done)
    })
    this.checkAbort()
  }

  checkAbort(): void {
    if (this.#abort.signal.aborted) throw this.#abort.signal.reason
  }

  deadline(ms: number): AbortSignal {
    return timeoutSignal(this.clock, ms, this.#abort.signal)
  }

  // --- lifecycle ----------------------------------------------------------------------------------------------

  async run(): Promise<void> {
    const store = this.components.store
    try {
      const global = store.getModel(this.#job.modelHash)
      if (global === undefined) throw new JobFailure(`the stored model ${this.#job.modelHash.slice(0, 12)} of round ${this.#job.round - 1} is missing`)
      this.#global = global
      while (this.#job.round <= this.spec.rounds) {
        this.checkAbort()
        const privacy = this.strategy.privacy
        if (privacy?.configured === true && !privacy.allowsAnotherRound()) {
          const spent = privacy.spent()
          const limit = privacy.config.epsilonLimit ?? privacy.config.targetEpsilon ?? Number.POSITIVE_INFINITY
          this.event('privacy-budget-reached', { round: this.#job.round, epsilonLimit: limit, epsilon: spent.epsilon, delta: spent.delta })
          break
        }
        await this.#driver.run(this.#job.round)
      }
      this.#closeRefusalWindows()
      store.setJobStatus(this.id, 'finished')
      this.event('job-finished', { rounds: this.#job.round - 1, modelHash: this.#job.modelHash })
      await this.members.releaseAll('job finished')
    } catch (err) {
      this.#closeRefusalWindows()
      const end = this.#endReason
      if (end?.kind === 'stop') {
        this.components.logger?.info({ job: this.id }, 'coordinator stopping; the job resumes on restart')
      } else if (end === undefined && (isStorageFull(err) || (this.#abort.signal.aborted && isStorageFull(this.#abort.signal.reason)))) {
        // Out of space: nothing is wrong with the job, and what it stored is intact up to the failed write. It stays
        // 'running' in the store (a status could not be written anyway); the coordinator retries it later.
        const full = isStorageFull(err) ? err : this.#abort.signal.reason
        this.pausedBy = `the job's store is full (${(full as Error)?.message ?? String(full)})`
        this.components.logger?.warn({ job: this.id, err: this.pausedBy }, 'federated job paused: out of space')
      } else if (end?.kind === 'cancel') {
        store.setJobStatus(this.id, 'cancelled', end.reason)
        this.event('job-cancelled', { reason: end.reason })
        await this.members.releaseAll(`job cancelled: ${end.reason}`)
      } else {
        const message = err instanceof JobFailure ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`
        store.setJobStatus(this.id, 'failed', message)
        this.event('job-failed', { reason: message })
        this.components.logger?.warn({ job: this.id, err: message }, 'federated job failed')
        await this.members.releaseAll(`job failed: ${message}`)
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

  live(): JobLive {
    const rs = this.#round
    return {
      members: this.members.size,
      available: this.members.available().length,
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

  // --- RoundServices ------------------------------------------------------------------------------------------

  setRound(rs: RoundState): void {
    this.#round = rs
  }

  refold(rs: RoundState): number {
    const store = this.components.store
    let n = 0
    for (const u of store.listUpdates(this.id, rs.round)) {
      const delta = store.loadDelta(this.id, rs.round, u.clientId)
      if (delta === undefined) throw new JobFailure(`round ${rs.round}: the stored update of ${u.clientId} is missing; cannot resume`)
      rs.agg.add({ clientId: u.clientId, delta, numExamples: this.weight(u.examples), staleness: rs.round - u.baseRound })
      this.#account(rs, u.clientId, { ...u, staleness: rs.round - u.baseRound })
      n++
    }
    return n
  }

  drop(rs: RoundState, client: string, reason: string): void {
    this.inflight.delete(client)
    if (!rs.drop(client)) return
    this.event('client-dropped', { client, reason }, rs.round)
    this.wake()
  }

  async commit(rs: RoundState): Promise<void> {
    const t0 = performance.now()
    const result = rs.agg.finish()
    const global = result.global
    // A non-finite model is never committed: every later round would build on it.
    const bad = global.findIndex((v) => !Number.isFinite(v))
    if (bad >= 0) throw new JobFailure(`round ${rs.round}'s aggregate has a non-finite value (${global[bad]} at parameter ${bad}); it was not committed`)
    const hash = modelHash(global, this.components.hash)
    rs.aggSeconds += (performance.now() - t0) / 1000
    const total = (this.clock.now() - rs.startedAt) / 1000
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
      ...(this.strategy.asynchronous ? { staleness: n > 0 ? rs.stalenessSum / n : 0 } : {}),
      ...privacyMetrics(this.strategy),
      ...(rs.secureSummary === undefined ? {} : { secureAggregation: rs.secureSummary }),
    }
    const store = this.components.store
    store.commitRound(this.id, rs.round, global, hash, metrics, this.strategy.exportState(), this.clock.now())
    this.#global = global
    this.#job = store.getJob(this.id) as JobRecord
    this.#round = undefined
    this.event(
      'round-closed',
      {
        updates: n,
        examples: rs.examples,
        dropped: rs.dropped.size,
        trainLoss: metrics.trainLoss,
        seconds: total,
        ...(result.selected === undefined ? {} : { selected: result.selected.length }),
      },
      rs.round,
    )
    this.components.metrics?.onRound?.(this.id, rs.round, metrics)
    await evaluateRound(this, this.members, rs.round)
  }

  // --- clients ------------------------------------------------------------------------------------------------

  /** A client's peer went away: it is dropped from the round in progress. */
  clientGone(client: string, reason: string): void {
    const rs = this.#round
    this.inflight.delete(client)
    if (rs !== undefined) this.drop(rs, client, reason)
  }

  /** A client's task of `round` failed: an asynchronous job frees its slot; a synchronous round drops it. */
  taskFailed(client: string, round: number, reason: string): void {
    if (this.inflight.get(client) === round) {
      this.inflight.delete(client)
      this.event('client-dropped', { client, reason: `its task of version ${round} failed: ${reason}` }, round)
      this.wake()
      return
    }
    if (this.#round?.round === round) this.clientGone(client, `its task failed: ${reason}`)
  }

  // --- updates ------------------------------------------------------------------------------------------------

  #admissionView(): AdmissionView {
    const rs = this.#round
    const store = this.components.store
    return {
      jobId: this.id,
      stopping: this.#abort.signal.aborted,
      asynchronous: this.strategy.asynchronous,
      paramCount: this.paramCount,
      maxStaleness: this.init.maxStaleness,
      jobRound: this.#job.round,
      current:
        rs === undefined
          ? undefined
          : {
              round: rs.round,
              open: rs.open,
              participants: rs.participants,
              delivered: rs.delivered,
              inputHash: rs.inputHash,
              ...(rs.secure === undefined ? {} : { secureLength: rs.secure.vectorLength }),
            },
      pastRound: (round) => store.getRound(this.id, round),
      alreadyCounted: (client, baseRound) => store.hasUpdate(this.id, client, baseRound),
      declaredExamples: (client) => this.members.examples(client),
    }
  }

  /** Decides on an update by its header (no state changes). */
  admit(from: string, h: UpdateHeader): Admission {
    return admitUpdate(this.#admissionView(), from, h)
  }

  /** Counts and records a refused update; returns the refusal to answer with. */
  refused(from: string, round: number, reason: string): Admission {
    if (this.#round !== undefined) this.#round.refused++
    this.inflight.delete(from)
    this.#recordRefusal(from, round, reason)
    return { ok: false, reason }
  }

  /**
   * An `update-refused` event, unless `client` had `refusalEventsPerMinute` of them in its current window: then the
   * refusal is only counted, and the window's count is recorded as one `updates-suppressed` event when it closes.
   */
  #recordRefusal(client: string, round: number, reason: string): void {
    const now = this.clock.now()
    let w = this.#refusals.get(client)
    if (w !== undefined && now - w.start >= REFUSAL_WINDOW_MS) {
      this.#closeRefusalWindow(client, w, now)
      w = undefined
    }
    if (w === undefined) {
      if (this.#refusals.size >= MAX_REFUSAL_WINDOWS) {
        const [oldest, ow] = this.#refusals.entries().next().value as [string, RefusalWindow]
        this.#closeRefusalWindow(oldest, ow, now)
      }
      w = { start: now, logged: 0, suppressed: 0, round }
      this.#refusals.set(client, w)
    }
    if (w.logged < this.init.refusalEventsPerMinute) {
      w.logged++
      this.event('update-refused', { client, reason }, round)
    } else {
      w.suppressed++
      w.round = round
    }
  }

  #closeRefusalWindow(client: string, w: RefusalWindow, now: number): void {
    this.#refusals.delete(client)
    if (w.suppressed > 0) this.event('updates-suppressed', { client, suppressed: w.suppressed, seconds: (now - w.start) / 1000 }, w.round)
  }

  #closeRefusalWindows(): void {
    const now = this.clock.now()
    for (const [client, w] of [...this.#refusals]) this.#closeRefusalWindow(client, w, now)
  }

  #account(rs: RoundState, client: string, u: { examples: number; trainLoss: number; trainAccuracy: number; trainSeconds: number; uploadSeconds: number; bytes: number; staleness: number }): void {
    rs.account(client, u)
    this.members.lastTrain.set(client, u.trainSeconds)
  }

  /** Secure aggregation: a client's masked input, checked and kept for the round's sum. */
  deliverMasked(from: string, h: UpdateHeader, masked: Uint32Array, transfer: TransferInfo): Admission {
    const refuse = (reason: string): Admission => this.refused(from, h.round, reason)
    const verdict = this.admit(from, { ...h, length: masked.length })
    if (!verdict.ok) return refuse(verdict.reason)
    const rs = this.#round as RoundState
    const secure = rs.secure
    if (secure === undefined) return refuse(`round ${rs.round} does not use secure aggregation: send the update itself`)
    if (h.secureSession !== secure.session) return refuse(`masked input for session ${h.secureSession}; round ${rs.round} runs session ${secure.session}`)
    if (!Number.isFinite(h.trainLoss)) return refuse(`update reports a training loss of ${h.trainLoss}`)
    try {
      secure.receiveMasked({ type: 'masked-input', jobId: this.id, round: secure.session, sender: from, modulusBits: 32, bits: secure.plan.bits, vector: masked }, from)
    } catch (err) {
      return refuse((err as Error).message)
    }
    this.#account(rs, from, { ...h, uploadSeconds: transfer.seconds, bytes: transfer.bytes, staleness: 0 })
    this.inflight.delete(from)
    this.event(
      'update-accepted',
      { client: from, examples: h.examples, trainLoss: h.trainLoss, trainSeconds: h.trainSeconds, uploadMs: transfer.seconds * 1000, staleness: 0, session: secure.session },
      rs.round,
    )
    this.wake()
    return { ok: true }
  }

  /** A plain update: checked, stored durably, folded into the round, then accepted. */
  deliver(from: string, h: UpdateHeader, delta: Float32Array, transfer: TransferInfo): Admission {
    const refuse = (reason: string): Admission => this.refused(from, h.round, reason)
    const verdict = this.admit(from, { ...h, length: delta.length })
    if (!verdict.ok) return refuse(verdict.reason)
    if (this.#round?.secure !== undefined) return refuse('this round uses secure aggregation: send a masked input, not the update')
    for (let i = 0; i < delta.length; i++) {
      const v = delta[i] as number
      // biome-ignore lint/suspicious/noSelfCompare: NaN check without a call per element
      if (v !== v || v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY) return refuse(`update value ${i} is ${v}; every value must be finite`)
    }
    if (!Number.isFinite(h.trainLoss)) return refuse(`update reports a training loss of ${h.trainLoss}`)
    const rs = this.#round as RoundState
    const staleness = rs.round - h.round
    const record = {
      clientId: from,
      round: rs.round,
      baseRound: h.round,
      examples: h.examples,
      trainLoss: h.trainLoss,
      trainAccuracy: h.trainAccuracy,
      trainSeconds: h.trainSeconds,
      uploadSeconds: transfer.seconds,
      bytes: transfer.bytes,
    }
    try {
      this.components.store.addUpdate(this.id, record, delta)
    } catch (err) {
      if (!isStorageFull(err)) throw err
      this.storageFull(err)
      return refuse('the coordinator is out of space; the job is paused (send the update again later)')
    }
    const t0 = performance.now()
    rs.agg.add({ clientId: from, delta, numExamples: this.weight(h.examples), staleness, ...(h.withinClip === undefined ? {} : { withinClip: h.withinClip }) })
    rs.aggSeconds += (performance.now() - t0) / 1000
    this.#account(rs, from, { ...record, staleness })
    this.inflight.delete(from)
    // A full FedBuff buffer takes no more updates: the step closes and later ones count toward the next.
    if (this.strategy.asynchronous && rs.agg.count >= (this.strategy.bufferSize ?? 1)) rs.open = false
    this.event(
      'update-accepted',
      { client: from, examples: h.examples, trainLoss: h.trainLoss, trainSeconds: h.trainSeconds, uploadMs: transfer.seconds * 1000, staleness },
      rs.round,
    )
    this.wake()
    return { ok: true }
  }
}
