// A swarm peer: trains from its outer parameters on its own data until the swarm together has processed the step's
// target samples, averages with its group for that step, applies the outer step, and goes on; no peer is special.
// The simulator and a node run this same code over different transports.
import { allReduce, layoutFor, type OwnerStep, PartServer, rmsDistance } from './allreduce.js'
import { PartEncoder } from './codec.js'
import { gridDimensions, groupFor } from './groups.js'
import { MemberTable } from './members.js'
import { applyOuterStep, type OuterState } from './outer.js'
import { outerSteps, type SwarmSpec } from './spec.js'
import type { ProgressReport, SwarmState, SwarmStateStore, SwarmTransport } from './transport.js'

/** What a peer trains with: an engine behind the runtime contract, and its own data. */
export interface SwarmTrainer {
  readonly paramCount: number
  /** The swarm's seeded initial parameters (every peer computes the same). */
  initialParams(): Promise<Float32Array>
  /** Runs `steps` inner steps from `params`; `round` varies the order of the data between calls. */
  train(params: Float32Array, steps: number, round: number, signal: AbortSignal): Promise<{ params: Float32Array; loss: number }>
  /** Accuracy of `params` on the peer's test set; absent when it holds none. */
  evaluate?(params: Float32Array): Promise<{ loss: number; accuracy: number }>
}

/** One finished outer step, as the peer saw it. */
export interface StepRecord {
  readonly step: number
  /** Members in the peer's group, itself included, and the group's key. */
  readonly group: string
  readonly groupSize: number
  /** Fewest members whose values went into a part of the group's mean. */
  readonly contributors: number
  readonly failedParts: number
  /** Why parts failed: the owner and its refusal or the transport's error. */
  readonly failures: readonly string[]
  /** Samples this peer processed in the step and the inner steps they took. */
  readonly samples: number
  readonly innerSteps: number
  readonly loss: number
  readonly accuracy: number
  /** Test loss of the outer parameters after the step, when the peer evaluated (NaN otherwise). */
  readonly testLoss: number
  /** RMS distance of the peer's parameters from its group's mean before the outer step. */
  readonly consensusDistance: number
  /** RMS length of the pseudo-gradient the outer step applied. */
  readonly pseudoGradient: number
  readonly bytesSent: number
  readonly bytesReceived: number
  /** Seconds training, averaging and in the whole step. */
  readonly trainSeconds: number
  readonly averageSeconds: number
  readonly wallSeconds: number
}

export type SwarmPeerEvent =
  | { readonly type: 'joined'; readonly step: number; readonly from: string | undefined }
  | { readonly type: 'step'; readonly record: StepRecord }
  | { readonly type: 'caught-up'; readonly step: number; readonly from: string }
  | { readonly type: 'offence'; readonly peer: string; readonly reason: string }
  | { readonly type: 'state-unavailable'; readonly from: string; readonly reason: string }
  | { readonly type: 'done'; readonly step: number; readonly consensusRounds: number; readonly evaluation: Evaluation | undefined }

/** The test score of the parameters a peer holds, taken after an outer step, a catch-up or the final consensus. */
export interface Evaluation {
  /** The outer step the parameters are at. */
  readonly step: number
  readonly accuracy: number
  readonly loss: number
  /** Taken once the swarm is done (after the final consensus, when it runs): the score of the model the peer ends with. */
  readonly final: boolean
}

/** No member's state could be fetched: every holder asked failed. */
export class NoStateError extends Error {
  override readonly name = 'NoStateError'
}

/** A joiner heard of no member's saved state in time: the swarm has no live member to join. */
export class NothingToJoinError extends Error {
  override readonly name = 'NothingToJoinError'
}

export interface SwarmPeerInit {
  /** The swarm's id (every member uses the same). */
  readonly swarm: string
  readonly spec: SwarmSpec
  readonly transport: SwarmTransport
  readonly trainer: SwarmTrainer
  /** Where outer states are kept for joiners; without one this peer neither saves nor fetches state. */
  readonly states?: SwarmStateStore
  /** Fetch the swarm's latest state before training (a late joiner); otherwise start from the seeded parameters. */
  readonly join?: boolean
  /** Declared bandwidth, bytes per second (default 100 MB/s). */
  readonly bandwidth?: number
  readonly onEvent?: (event: SwarmPeerEvent) => void
  readonly now?: () => number
  /**
   * How long a joiner waits to hear of a member's state before it gives up with a `NothingToJoinError` (default: four
   * member expiries, at least 30 s: a node started a moment ago may not have its connections and topics yet).
   */
  readonly joinWaitMs?: number
}

/** A running peer. */
export interface SwarmPeer {
  readonly swarm: string
  readonly spec: SwarmSpec
  /** The outer step the peer is in. */
  readonly step: number
  readonly totalSteps: number
  readonly members: MemberTable
  readonly records: readonly StepRecord[]
  /**
   * The test score of the parameters the peer holds now (a step record's score goes stale when a catch-up replaces
   * the parameters or the final consensus moves them); undefined before the first or without a test set.
   */
  readonly evaluation: Evaluation | undefined
  /** The peer's outer parameters (a copy). */
  params(): Float32Array
  /** Seconds spent training and since it started. */
  readonly utilisation: { readonly trainSeconds: number; readonly wallSeconds: number }
  readonly bytes: { readonly sent: number; readonly received: number }
  /** Resolves when the swarm is done or the peer left; rejects on a failure. */
  readonly done: Promise<void>
  /** Leaves cleanly: tells the members, stops after the current chunk. */
  leave(): Promise<void>
}

const DEFAULT_BANDWIDTH = 100e6
/** A peer that finished its share and waits for the others trains this fraction of a share meanwhile. */
const EXTRA_FRACTION = 0.1

/** Starts a swarm peer. */
export function startSwarmPeer(init: SwarmPeerInit): SwarmPeer {
  return new Peer(init)
}

class Peer implements SwarmPeer {
  readonly swarm: string
  readonly spec: SwarmSpec
  readonly totalSteps: number
  readonly members: MemberTable
  readonly records: StepRecord[] = []
  readonly done: Promise<void>
  step = 0
  readonly #init: SwarmPeerInit
  readonly #now: () => number
  readonly #abort = new AbortController()
  readonly #server: PartServer
  /** Encodes the parts this peer sends (int8's error feedback lives here, across steps). */
  readonly #encoder: PartEncoder
  readonly #views = new Map<number, OwnerStep>()
  readonly #stepWaiters: (() => void)[] = []
  readonly #reportWaiters: (() => void)[] = []
  readonly #unsubscribe: () => void
  readonly #unserve: () => void
  readonly #bandwidth: number
  #outer: OuterState | undefined
  #stepSamples = 0
  #totalSamples = 0
  #loss = Number.NaN
  #evaluation: Evaluation | undefined
  #consensus = Number.NaN
  #stateCid = ''
  #stateStep = 0
  #trainSeconds = 0
  readonly #startedAt: number
  #sent = 0
  #received = 0
  #leaving = false
  /** The final consensus's round, once it runs (-1 before). */
  #round = -1
  /** A joiner publishes nothing until it holds a state and trains. */
  #joining = false
  /** States whose fetch failed (their holder was gone): a catch-up or join does not wait on them again. */
  readonly #unfetchable = new Set<string>()
  readonly #heartbeat: ReturnType<typeof setInterval>

  constructor(init: SwarmPeerInit) {
    this.#init = init
    this.swarm = init.swarm
    this.spec = init.spec
    this.totalSteps = outerSteps(init.spec)
    this.#now = init.now ?? Date.now
    this.#startedAt = this.#now()
    this.#bandwidth = init.bandwidth ?? DEFAULT_BANDWIDTH
    this.members = new MemberTable(init.transport.self, init.spec.memberExpiryMs, this.#now)
    const { averaging } = init.spec
    this.#encoder = new PartEncoder(averaging.compression, init.trainer.paramCount)
    this.#server = new PartServer({
      self: init.transport.self,
      reduction: averaging.reduction,
      trim: averaging.trim,
      compression: averaging.compression,
      partTimeoutMs: averaging.partTimeoutMs,
      maxRmsDistance: averaging.maxRmsDistance,
      maxWeight: init.spec.targetSamples,
      stepView: (step) => this.#viewWhenReady(step),
      onOffence: (peer, reason) => this.#offence(peer, reason),
    })
    this.#unsubscribe = init.transport.subscribe((report) => {
      this.members.add(report)
      for (const w of this.#reportWaiters.splice(0)) w()
    })
    this.#unserve = init.transport.serve((from, request) => this.#server.handle(from, request))
    // A report at least three times per member expiry, also while training or averaging takes long, keeps this
    // peer in the others' member lists (and so their groups agree with its own).
    this.#heartbeat = setInterval(() => void this.#publish(), Math.max(100, Math.floor(init.spec.memberExpiryMs / 3)))
    this.done = this.#run().finally(() => this.#close())
  }

  get utilisation() {
    return { trainSeconds: this.#trainSeconds, wallSeconds: (this.#now() - this.#startedAt) / 1000 }
  }

  get bytes() {
    return { sent: this.#sent, received: this.#received }
  }

  params(): Float32Array {
    return new Float32Array(this.#outer?.params ?? [])
  }

  get evaluation(): Evaluation | undefined {
    return this.#evaluation
  }

  async leave(): Promise<void> {
    this.#leaving = true
    this.#abort.abort(new Error('left the swarm'))
    await this.done.catch(() => undefined)
  }

  async #run(): Promise<void> {
    const { spec, trainer } = this.#init
    const signal = this.#abort.signal
    let from: string | undefined
    if (this.#init.join === true) from = await this.#joinState(signal)
    else await this.#waitForPeers(signal)
    if (this.#outer === undefined) this.#outer = { params: await trainer.initialParams(), momentum: new Float32Array(trainer.paramCount) }
    this.#emit({ type: 'joined', step: this.step, from })
    await this.#saveState()
    await this.#publish()
    const batch = spec.inner.batchSize
    // Numbers the pool tasks: each one shuffles the peer's data anew (the trainer seeds the order per peer).
    let round = 0
    try {
      while (this.step < this.totalSteps && !signal.aborted) {
        const stepStart = this.#now()
        const outer = this.#outer
        const stepAtStart = this.step
        let params: Float32Array = new Float32Array(outer.params)
        this.#stepSamples = 0
        let innerSteps = 0
        let trainSeconds = 0
        let lossSum = 0
        // The inner phase: this peer's share of the target, then small chunks while the others finish theirs.
        const n = this.members.others().length + 1
        let chunk = Math.max(1, Math.ceil(spec.targetSamples / (n * batch)))
        for (;;) {
          const ahead = this.members.aheadOf(this.step, this.#unfetchable)
          if (ahead !== undefined && ahead.stateStep > this.step + 1 && this.#init.states !== undefined && (await this.#catchUp(ahead, signal))) break
          if (this.#stepSamples + this.members.samplesIn(this.step, spec.targetSamples) >= spec.targetSamples) break
          const t0 = this.#now()
          const trained = await trainer.train(params, chunk, round++, signal)
          const seconds = (this.#now() - t0) / 1000
          trainSeconds += seconds
          this.#trainSeconds += seconds
          params = trained.params
          innerSteps += chunk
          lossSum += trained.loss * chunk
          this.#stepSamples += chunk * batch
          this.#totalSamples += chunk * batch
          this.#loss = trained.loss
          await this.#publish()
          if (this.#stepSamples + this.members.samplesIn(this.step, spec.targetSamples) >= spec.targetSamples) break
          // Wait a little for the others' reports before training more: about a tenth of what a share took.
          await this.#waitForReports(Math.max(50, seconds * 1000 * EXTRA_FRACTION), signal)
          chunk = Math.max(1, Math.ceil(chunk * EXTRA_FRACTION))
        }
        if (this.step !== stepAtStart) continue // caught up from a member's state
        const averageStart = this.#now()
        const view = this.#viewOf(this.step)
        const result = await allReduce({
          self: this.#init.transport.self,
          view,
          values: params,
          weight: this.#stepSamples,
          transport: this.#init.transport,
          server: this.#server,
          encoder: this.#encoder,
          compression: spec.averaging.compression,
          exchangeTimeoutMs: spec.averaging.partTimeoutMs * 2 + 10_000,
          maxRmsDistance: spec.averaging.maxRmsDistance,
          onOffence: (peer, reason) => this.#offence(peer, reason),
          signal,
        })
        this.#sent += result.bytesSent
        this.#received += result.bytesReceived
        this.#consensus = rmsDistance(params, result.mean)
        const pseudoGradient = applyOuterStep(spec.outer, outer, result.mean)
        this.step++
        this.#server.advance(this.step)
        for (const w of this.#stepWaiters.splice(0)) w()
        for (const old of this.#views.keys()) if (old < this.step - 1) this.#views.delete(old)
        let testLoss = Number.NaN
        if (spec.evaluation !== undefined && (this.step % spec.evaluation.every === 0 || this.step === this.totalSteps)) testLoss = (await this.#evaluate(false))?.loss ?? Number.NaN
        await this.#saveState()
        await this.#publish()
        const record: StepRecord = {
          step: this.step - 1,
          group: view.group.key,
          groupSize: view.group.members.length,
          contributors: result.minContributors,
          failedParts: result.failedParts,
          failures: result.failures.map((f) => `${f.owner}: ${f.reason}`),
          samples: this.#stepSamples,
          innerSteps,
          loss: innerSteps > 0 ? lossSum / innerSteps : Number.NaN,
          accuracy: this.#evaluation?.accuracy ?? Number.NaN,
          testLoss,
          consensusDistance: this.#consensus,
          pseudoGradient,
          bytesSent: result.bytesSent,
          bytesReceived: result.bytesReceived,
          trainSeconds,
          averageSeconds: (this.#now() - averageStart) / 1000,
          wallSeconds: (this.#now() - stepStart) / 1000,
        }
        this.records.push(record)
        this.#emit({ type: 'step', record })
      }
      if (signal.aborted) return
      const consensusRounds = spec.averaging.finalConsensus ? await this.#finalConsensus(signal) : 0
      if (signal.aborted) return
      // The model the peer ends with gets its own score: the consensus moved the parameters, or a catch-up to the
      // last step brought them with no step of this peer's own scoring them.
      const held = this.#evaluation
      if (consensusRounds > 0 || held?.step !== this.step) await this.#evaluate(true)
      else this.#evaluation = { ...held, final: true }
      this.#emit({ type: 'done', step: this.step, consensusRounds, evaluation: this.#evaluation })
    } catch (err) {
      if (!signal.aborted) throw err
    }
  }


  /**
   * The final consensus: d more rounds of plain averaging of the outer parameters, at round numbers of one grid cycle
   * past every training step (so their groups are one cycle of the grid), weighted equally, no training between.
   * @returns the rounds taken
   */
  async #finalConsensus(signal: AbortSignal): Promise<number> {
    const outer = this.#outer as OuterState
    const n = this.members.groupMembers(this.totalSteps, this.#bandwidth).length
    if (n < 2) return 0
    const d = gridDimensions(n, this.spec.averaging.groupSize)
    const base = d * (Math.floor(this.totalSteps / d) + 2)
    for (let k = 0; k < d && !signal.aborted; k++) {
      this.#round = base + k
      for (const w of this.#stepWaiters.splice(0)) w()
      const result = await allReduce({
        self: this.#init.transport.self,
        view: this.#viewOf(this.#round),
        values: outer.params,
        weight: 1,
        transport: this.#init.transport,
        server: this.#server,
        encoder: this.#encoder,
        compression: this.spec.averaging.compression,
        exchangeTimeoutMs: this.spec.averaging.partTimeoutMs * 2 + 10_000,
        maxRmsDistance: this.spec.averaging.maxRmsDistance,
        onOffence: (peer, reason) => this.#offence(peer, reason),
        signal,
      })
      this.#sent += result.bytesSent
      this.#received += result.bytesReceived
      outer.params.set(result.mean)
    }
    return d
  }

  /** Scores the parameters the peer holds on its test set (when it has one and the spec asks for scores). */
  async #evaluate(final: boolean): Promise<Evaluation | undefined> {
    const { trainer } = this.#init
    if (trainer.evaluate === undefined || this.spec.evaluation === undefined || this.#outer === undefined) return undefined
    const scored = await trainer.evaluate(this.#outer.params)
    this.#evaluation = { step: this.step, accuracy: scored.accuracy, loss: scored.loss, final }
    return this.#evaluation
  }

  /** The round this peer averages in: its outer step, or a round of the final consensus. */
  get #current(): number {
    return Math.max(this.step, this.#round)
  }

  /** The step's group and layout, computed once from the member view when first needed (by this peer or a member). */
  #viewOf(step: number): OwnerStep {
    let view = this.#views.get(step)
    if (view === undefined) {
      // The final consensus's rounds take the members that finished the last step (and the one before: a member of
      // another group may still be finishing it).
      const members = this.members.groupMembers(Math.min(step, this.totalSteps), this.#bandwidth)
      const group = groupFor(this.swarm, step, this.#init.transport.self, members, this.spec.averaging.groupSize)
      view = { step, group, parts: layoutFor(group, this.#init.trainer.paramCount), reference: new Float32Array((this.#outer as OuterState).params) }
      this.#views.set(step, view)
    }
    return view
  }

  /** A member's part for `step`: the view once this peer is in that step (waiting up to a part timeout for it). */
  async #viewWhenReady(step: number): Promise<OwnerStep | undefined> {
    if (step < this.#current || this.#outer === undefined) return this.#views.get(step)
    const deadline = this.#now() + this.spec.averaging.partTimeoutMs
    while (this.#current < step) {
      if (this.#now() >= deadline || this.#abort.signal.aborted) return undefined
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - this.#now()))
        this.#stepWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return this.#current === step ? this.#viewOf(step) : this.#views.get(step)
  }

  #offence(peer: string, reason: string): void {
    this.members.ban(peer, reason)
    this.#emit({ type: 'offence', peer, reason })
  }

  async #waitForReports(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#reportWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  async #waitForPeers(signal: AbortSignal): Promise<void> {
    const deadline = this.#now() + this.spec.memberExpiryMs * 4
    while (this.members.others().length + 1 < this.spec.minPeers && this.#now() < deadline && !signal.aborted) {
      await this.#publish()
      await this.#waitForReports(500, signal)
    }
  }

  /**
   * A joiner finds a member's saved state, then waits for the next outer-step boundary (a state newer than the first
   * it saw) and starts from that one: it then holds the outer parameters and momentum every member starts the step
   * with, and its reports reach the others before they form that step's groups, so it averages in its first step.
   * It publishes nothing until then: a member that is not training must not be counted into a group.
   */
  async #joinState(signal: AbortSignal): Promise<string | undefined> {
    if (this.#init.states === undefined) return undefined
    this.#joining = true
    try {
      const wait = this.#init.joinWaitMs ?? Math.max(this.spec.memberExpiryMs * 4, 30_000)
      const found = await this.#until(() => this.members.aheadOf(-1), wait, signal)
      // Starting from the seeded parameters instead would publish steps the swarm has long passed, from a model
      // that is not the swarm's.
      if (found === undefined) {
        signal.throwIfAborted()
        throw new NothingToJoinError(`heard of no member's state within ${Math.round(wait / 1000)} s: nothing to join (start the swarm to begin it anew)`)
      }
      const next = await this.#until(() => this.members.aheadOf(found.stateStep), Math.max(wait, this.spec.memberExpiryMs * 10), signal)
      return (await this.#adoptFrom(next ?? found, -1, signal)).peer
    } finally {
      this.#joining = false
    }
  }

  /** Waits up to `ms` for `find` to give something, re-checking on every report. */
  async #until<T>(find: () => T | undefined, ms: number, signal: AbortSignal): Promise<T | undefined> {
    const deadline = this.#now() + ms
    for (;;) {
      const found = find()
      if (found !== undefined || this.#now() >= deadline || signal.aborted) return found
      await this.#waitForReports(Math.max(1, deadline - this.#now()), signal)
    }
  }

  /**
   * Takes the state of a member two or more steps ahead, and scores it (its step records' scores are of parameters it
   * no longer holds). @returns false when no member's state could be fetched: the peer goes on training where it is.
   */
  async #catchUp(ahead: ProgressReport, signal: AbortSignal): Promise<boolean> {
    let from: ProgressReport
    try {
      from = await this.#adoptFrom(ahead, this.step + 1, signal)
    } catch (err) {
      signal.throwIfAborted()
      if (err instanceof NoStateError) return false
      throw err
    }
    await this.#evaluate(false)
    this.#emit({ type: 'caught-up', step: this.step, from: from.peer })
    return true
  }

  /**
   * Adopts `first`'s state or, when its holder cannot give it (it died or left mid-fetch), the newest other state past
   * `after` that a member reports; a state that failed once is not asked for again.
   * @returns the report whose state the peer took
   * @throws NoStateError when no member's state could be fetched
   */
  async #adoptFrom(first: ProgressReport, after: number, signal: AbortSignal): Promise<ProgressReport> {
    const reasons: string[] = []
    for (let holder: ProgressReport | undefined = first; holder !== undefined; holder = this.members.aheadOf(after, this.#unfetchable)) {
      try {
        await this.#adopt(holder, signal)
        return holder
      } catch (err) {
        signal.throwIfAborted()
        this.#unfetchable.add(holder.stateCid)
        // The bytes match the CID its holder reported, so a state that does not decode is the holder's doing.
        if (err instanceof RangeError) this.#offence(holder.peer, `its state is unusable: ${err.message}`)
        reasons.push(`${holder.peer}: ${(err as Error).message}`)
        this.#emit({ type: 'state-unavailable', from: holder.peer, reason: (err as Error).message })
      }
    }
    throw new NoStateError(`no member's state past step ${after} could be fetched (${reasons.join('; ')})`)
  }

  async #adopt(holder: ProgressReport, signal: AbortSignal): Promise<void> {
    const state = await (this.#init.states as SwarmStateStore).get(holder.stateCid, holder.peer, this.#init.trainer.paramCount, signal)
    this.#outer = { params: new Float32Array(state.params), momentum: new Float32Array(state.momentum) }
    this.step = state.step
    this.#server.advance(this.step)
    for (const w of this.#stepWaiters.splice(0)) w()
  }

  async #saveState(): Promise<void> {
    const states = this.#init.states
    if (states === undefined || this.#outer === undefined) return
    const state: SwarmState = { step: this.step, swarmSamples: this.step * this.spec.targetSamples, params: this.#outer.params, momentum: this.#outer.momentum }
    this.#stateCid = await states.put(state)
    this.#stateStep = this.step
  }

  async #publish(leaving = false): Promise<void> {
    if (this.#joining && !leaving) return
    const report: ProgressReport = {
      peer: this.#init.transport.self,
      step: this.step,
      stepSamples: this.#stepSamples,
      totalSamples: this.#totalSamples,
      loss: this.#loss,
      accuracy: this.#evaluation?.accuracy ?? Number.NaN,
      consensusDistance: this.#consensus,
      bandwidth: this.#bandwidth,
      stateCid: this.#stateCid,
      stateStep: this.#stateStep,
      leaving,
    }
    try {
      await this.#init.transport.publish(report)
    } catch {
      // Gossip is best effort: the next report carries the same facts.
    }
  }

  #emit(event: SwarmPeerEvent): void {
    this.#init.onEvent?.(event)
  }

  async #close(): Promise<void> {
    clearInterval(this.#heartbeat)
    this.#unsubscribe()
    this.#unserve()
    this.#server.close()
    // A peer that leaves says so (the others drop it at once); one done with the swarm's last step just stops, and
    // the others keep it in their lists until it expires.
    await this.#publish(this.#leaving)
  }
}
