// Task hand-outs: each sampled client gets the global model and its training task, a few at a time on the
// coordinator's shared link, longest-training clients first; a hand-out that fails drops its client.
import type { ClientTrainHints } from '../contracts/strategy.js'
import type { TrainAssignment } from '../contracts/transport.js'
import type { JobContext } from './job-context.js'
import type { Membership } from './membership.js'
import type { RoundState } from './round-state.js'
import { clientSeed } from './seeds.js'

/** What a hand-out reports back to the run. */
export interface HandoutEvents {
  /** The client could not be given its task: drop it from the round. */
  failed(rs: RoundState, client: string, reason: string): void
}

export class HandoutQueue {
  readonly #ctx: JobContext
  readonly #members: Membership
  readonly #events: HandoutEvents
  /** Hand-outs waiting for a slot, and how many hold one now. */
  readonly #queue: Array<(release: () => void) => Promise<void>> = []
  #running = 0

  constructor(ctx: JobContext, members: Membership, events: HandoutEvents) {
    this.#ctx = ctx
    this.#members = members
    this.#events = events
  }

  /**
   * Hands tasks to `clients`, those expected to train longest first: their training is the round's critical path, so
   * they should not wait behind transfers to clients that will finish early anyway. The expectation is a client's
   * last measured training time, else its example count at the median measured rate.
   */
  dispatchAll(rs: RoundState, clients: readonly string[], baseRound: number): void {
    const last = this.#members.lastTrain
    const rates: number[] = []
    for (const c of clients) {
      const seconds = last.get(c)
      const examples = this.#members.examples(c)
      if (seconds !== undefined && examples > 0) rates.push(seconds / examples)
    }
    rates.sort((a, b) => a - b)
    const rate = rates[Math.floor(rates.length / 2)] ?? 1
    const expected = (c: string): number => last.get(c) ?? this.#members.examples(c) * rate
    const order = [...clients].sort((a, b) => expected(b) - expected(a) || (a < b ? -1 : a > b ? 1 : 0))
    for (const c of order) this.dispatch(rs, c, baseRound)
  }

  /** Queues one task hand-out; the client counts as pending at once. */
  dispatch(rs: RoundState, client: string, baseRound: number): void {
    const ctx = this.#ctx
    rs.pending.add(client)
    rs.sampled++
    // The task is fixed now: an asynchronous job may move to a newer model while this one waits for its slot.
    const task: TrainAssignment = {
      jobId: ctx.id,
      round: baseRound,
      modelHash: ctx.job.modelHash,
      params: ctx.global,
      seed: clientSeed(ctx.spec.seed, baseRound, client),
      hints: this.#hints(rs, client),
    }
    this.#queue.push((release) => this.#handOut(rs, client, task, release))
    this.#pump()
  }

  #hints(rs: RoundState, client: string): ClientTrainHints {
    const hints = this.#ctx.strategy.clientHints()
    if (rs.secure === undefined) return hints
    const clipBit = this.#ctx.strategy.privacy?.config.adaptiveClipping !== undefined
    return { ...hints, secure: { session: rs.secure.session, weight: rs.weights.get(client) ?? 1, clipBit } }
  }

  /** Starts queued hand-outs while slots are free; a slot frees when its model is sent, it settles, or after dispatchSlotMs. */
  #pump(): void {
    const { clock, init } = this.#ctx
    while (this.#running < init.dispatchConcurrency) {
      const start = this.#queue.shift()
      if (start === undefined) return
      this.#running++
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        clock.clearTimer(timer)
        this.#running--
        this.#pump()
      }
      const timer = clock.setTimer(release, init.dispatchSlotMs)
      void start(release).finally(release)
    }
  }

  /** Sends one client the model and its task; a failure drops it from the round with the reason. */
  async #handOut(rs: RoundState, client: string, task: TrainAssignment, modelSent: () => void): Promise<void> {
    const ctx = this.#ctx
    // Dropped while queued, the job stopping, or a synchronous round already closed: nothing to hand out.
    if (ctx.signal.aborted || !rs.pending.has(client) || (!ctx.strategy.asynchronous && !rs.open)) return
    const o = await ctx.components.transport
      .train(client, task, ctx.deadline(ctx.init.trainAckTimeoutMs), { modelSent })
      .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) }))
    if (ctx.signal.aborted) return
    if (o.ok) {
      rs.bytesDown += o.bytesDown
      rs.lastAckAt = Math.max(rs.lastAckAt, ctx.clock.now())
      return
    }
    this.#events.failed(rs, client, o.reason)
  }
}
