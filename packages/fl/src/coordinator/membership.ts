// A job's members: invitations to eligible candidates, refusals (and when to ask again), who is reachable now,
// seeded sampling of a round's clients, and each client's last measured training time.
import { deriveSeed, mulberry32, permutation } from '@weft/runtime'
import type { JobContext } from './job-context.js'
import { JobFailure } from './job-context.js'

/** A uniformly random permutation of 0..n-1 from the platform's CSPRNG (Fisher-Yates, rejection sampling). */
function secretPermutation(n: number): Uint32Array {
  const order = Uint32Array.from({ length: n }, (_, i) => i)
  const word = new Uint32Array(1)
  for (let i = n - 1; i > 0; i--) {
    const bound = i + 1
    const limit = 2 ** 32 - (2 ** 32 % bound)
    let r: number
    do r = globalThis.crypto.getRandomValues(word)[0] as number
    while (r >= limit)
    const j = r % bound
    const t = order[i] as number
    order[i] = order[j] as number
    order[j] = t
  }
  return order
}

export class Membership {
  readonly #ctx: JobContext
  readonly #members = new Map<string, { examples: number }>()
  readonly #refused = new Map<string, { reason: string; at: number }>()
  readonly #inviting = new Set<string>()
  /** Where the next refresh starts among the candidates (they are invited in turn when capped). */
  #cursor = 0
  /** Each client's last measured local training time (s), to hand the longest-training clients their task first. */
  readonly lastTrain = new Map<string, number>()

  /** What each client declared when it joined, as stored: a restored member keeps its bound across restarts. */
  readonly #declared = new Map<string, number>()

  constructor(ctx: JobContext) {
    this.#ctx = ctx
    for (const m of ctx.components.store.members(ctx.id)) this.#declared.set(m.clientId, m.examples)
  }

  get size(): number {
    return this.#members.size
  }

  has(client: string): boolean {
    return this.#members.has(client)
  }

  /** The examples a member declared when it joined (0: not known, for a round stored before declarations were). */
  examples(client: string): number {
    return this.#members.get(client)?.examples ?? 0
  }

  /** Takes a client back as a member without inviting it (a resumed round's participants). */
  restore(client: string): void {
    if (!this.#members.has(client)) this.#members.set(client, { examples: this.#declared.get(client) ?? 0 })
  }

  ids(): string[] {
    return [...this.#members.keys()]
  }

  /**
   * Invites eligible candidates that are not members yet (in the background; each outcome wakes the run), at most
   * `maxInvitesInFlight` at once, continuing from where the last refresh stopped.
   */
  refresh(): void {
    const ctx = this.#ctx
    const now = ctx.clock.now()
    const candidates = ctx.components.transport.candidates(ctx.spec)
    const n = candidates.length
    const start = n === 0 ? 0 : this.#cursor % n
    for (let k = 0; k < n; k++) {
      if (this.#inviting.size >= ctx.init.maxInvitesInFlight) {
        this.#cursor = start + k
        return
      }
      const id = candidates[(start + k) % n] as string
      if (this.#members.has(id) || this.#inviting.has(id)) continue
      const refused = this.#refused.get(id)
      if (refused !== undefined && now - refused.at < ctx.init.reinviteAfterMs) continue
      this.#inviting.add(id)
      void ctx.components.transport
        .invite(id, ctx.id, ctx.spec, ctx.deadline(ctx.init.inviteTimeoutMs))
        .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) }))
        .then((answer) => {
          this.#inviting.delete(id)
          if (ctx.signal.aborted) return
          // The examples a client declares bound what its updates may claim: a positive safe integer, or no member.
          const o =
            answer.ok && (!Number.isSafeInteger(answer.examples) || answer.examples < 1)
              ? { ok: false as const, reason: `declared ${answer.examples} examples; expected a positive integer below 2^53` }
              : answer
          if (o.ok) {
            this.#members.set(id, { examples: o.examples })
            this.#declared.set(id, o.examples)
            ctx.components.store.setMember(ctx.id, id, o.examples)
            this.#refused.delete(id)
            ctx.event('client-joined', { client: id, examples: o.examples })
          } else {
            const first = !this.#refused.has(id)
            this.#refused.set(id, { reason: o.reason, at: ctx.clock.now() })
            if (first) ctx.event('client-refused', { client: id, reason: o.reason })
          }
          // A join may start the round; a refusal matters only to a job waiting for the last invitation. A flood of
          // refusals does not wake the job once each: freed slots are filled on its next poll.
          if (o.ok || this.#inviting.size === 0) ctx.wake()
        })
    }
  }

  /** Members reachable now, sorted. */
  available(): string[] {
    const reachable = new Set(this.#ctx.components.transport.candidates(this.#ctx.spec))
    return [...this.#members.keys()].filter((id) => reachable.has(id)).sort()
  }

  /** Membership in words, for failure reasons. */
  text(): string {
    const refused = [...this.#refused.entries()].slice(0, 10).map(([id, r]) => `${id.slice(-8)}: ${r.reason.slice(0, 200)}`)
    const more = this.#refused.size > refused.length ? ` and ${this.#refused.size - refused.length} more` : ''
    return `${this.#members.size} joined, ${this.#ctx.components.transport.candidates(this.#ctx.spec).length} eligible reachable${
      refused.length > 0 ? `, refused by ${refused.join('; ')}${more}` : ''
    }`
  }

  /**
   * The round's clients among `available`: the spec's fraction, min and max, in an order seeded by `salt`. Under
   * differential privacy the order comes from a CSPRNG instead: the accountant's amplification by sampling assumes
   * nobody can predict who is sampled, and the job's seed is in its spec. (A resumed round keeps its stored sample.)
   */
  sample(available: readonly string[], salt: number): string[] {
    const { fraction, min, max } = this.#ctx.spec.clients
    const k = Math.min(available.length, max ?? Number.POSITIVE_INFINITY, Math.max(min, Math.ceil(fraction * available.length)))
    const order = this.#ctx.spec.privacy.dp !== undefined ? secretPermutation(available.length) : permutation(available.length, mulberry32(deriveSeed(this.#ctx.spec.seed, salt, 0x5a3b1e)))
    return [...order.subarray(0, k)].map((i) => available[i] as string)
  }

  /**
   * Waits until enough clients are available, then samples them (seeded by `salt`).
   * @throws JobFailure when too few come within the spec's waitSeconds
   */
  async pick(round: number, salt: number): Promise<string[]> {
    const ctx = this.#ctx
    const spec = ctx.spec
    const waitStart = ctx.clock.now()
    for (;;) {
      this.refresh()
      const avail = this.available()
      // Enough to start; give invitations still in flight a moment, so a fresh job does not leave them out.
      if (avail.length >= spec.clients.min && (this.#inviting.size === 0 || ctx.clock.now() - waitStart > ctx.init.inviteGraceMs)) {
        return this.sample(avail, salt)
      }
      if (ctx.clock.now() - waitStart > spec.timeouts.waitSeconds * 1000) {
        throw new JobFailure(
          `round ${round}: only ${avail.length} of the ${spec.clients.min} clients needed were available after waiting ${spec.timeouts.waitSeconds} s (${this.text()})`,
        )
      }
      await ctx.wait(ctx.init.pollMs)
    }
  }

  /** Tells every member the job ended (best effort). */
  async releaseAll(reason: string): Promise<void> {
    const ctx = this.#ctx
    await Promise.allSettled([...this.#members.keys()].map((id) => ctx.components.transport.release(id, ctx.id, reason)))
  }
}
