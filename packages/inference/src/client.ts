// The client role of decentralized inference: a session routed through servers that each run a span of the model.
// The client keeps every input it sent each hop, so when a server fails (gone, timed out, lost the session, answered
// nonsense) it is banned for a while, only its span is routed again, and the new servers rebuild their caches by
// replaying those inputs: the session goes on with the same tokens and no error reaches the caller.
import { type Rpc, RpcError } from '@weft/mesh'
import { LM_CLOSE, LM_FORWARD, MAX_LM_STEP_BYTES, WireErrorCode } from '@weft/protocol'
import { mulberry32, type TransformerConfig } from '@weft/runtime'
import { planRoute, type RouteHop, type SpanOffer } from './route.js'
import { type SamplingOptions, sampleToken } from './sampling.js'
import { bytesToFloats, floatsToBytes, tokensToBytes } from './wire.js'

/** What an inference client needs from its node. */
export interface InferenceClientComponents {
  /** The mesh's RPC, or a wrapper that answers calls to this node itself (a peer cannot dial itself). */
  readonly rpc: Pick<Rpc, 'call'>
  /** The offers of a model's spans now (asked of servers, read from ads); called again on each failure. */
  offers(model: string): Promise<readonly SpanOffer[]>
  /** Round trip to a peer in ms, for routing (default: all equal). */
  rttMs?(peer: string): number
}

/** What happened to a session, for logs and event streams. */
export type SessionEvent =
  | { readonly type: 'routed'; readonly hops: readonly RouteHop[] }
  | { readonly type: 'server-failed'; readonly hop: RouteHop; readonly reason: string }
  | { readonly type: 'rerouted'; readonly replaced: RouteHop; readonly by: readonly RouteHop[]; readonly replayedPositions: number }

/** A session's settings. */
export interface InferenceSessionInit {
  /** The model's id (its checkpoint's CID). */
  readonly model: string
  readonly config: TransformerConfig
  /** Most positions the session holds, prompt and generated (default the model's limit). */
  readonly maxTokens?: number
  /** Default a random UUID. */
  readonly sessionId?: string
  /** One step on one server (default 30 s); a server past it is treated as failed. */
  readonly stepTimeoutMs?: number
  /** How long a failed server is left out of this session's routes (default 60 s). */
  readonly banMs?: number
  /** Server failures a session survives before it gives up (default 8). */
  readonly maxRecoveries?: number
  readonly onEvent?: (event: SessionEvent) => void
}

/** A step's input to one hop: token ids for the first, hidden states for the rest. */
type HopInput = { readonly tokens: Int32Array } | { readonly hidden: Float32Array; readonly count: number }

interface HopState {
  readonly hop: RouteHop
  /** Every input this hop was sent, in order: what a replacement replays. */
  readonly inputs: HopInput[]
  length: number
}

/** Server failures that another server can make good; anything else is the caller's to see. */
const RECOVERABLE = new Set<WireErrorCode>([
  WireErrorCode.UNAVAILABLE,
  WireErrorCode.TIMEOUT,
  WireErrorCode.NOT_FOUND,
  WireErrorCode.INTERNAL,
  WireErrorCode.RESOURCE_EXHAUSTED,
  WireErrorCode.CONFLICT,
  WireErrorCode.UNIMPLEMENTED,
])

/** No route covers the model now. */
export class NoRouteError extends Error {
  override readonly name = 'NoRouteError'
}

const countOf = (x: HopInput): number => ('tokens' in x ? x.tokens.length : x.count)

/** A generation session over the mesh. */
export class InferenceSession {
  readonly sessionId: string
  readonly maxTokens: number
  readonly #c: InferenceClientComponents
  readonly #init: InferenceSessionInit
  readonly #banned = new Map<string, number>()
  #hops: HopState[] = []
  #recoveries = 0
  #closed = false

  private constructor(components: InferenceClientComponents, init: InferenceSessionInit) {
    this.#c = components
    this.#init = init
    this.sessionId = init.sessionId ?? globalThis.crypto.randomUUID()
    this.maxTokens = init.maxTokens ?? init.config.maxPositions
    if (!Number.isInteger(this.maxTokens) || this.maxTokens <= 0 || this.maxTokens > init.config.maxPositions) {
      throw new RangeError(`maxTokens must be an integer in [1, ${init.config.maxPositions}], got ${this.maxTokens}`)
    }
  }

  /**
   * Opens a session on the cheapest route over the servers offering the model's spans.
   * @throws NoRouteError when the offers do not cover every block
   */
  static async open(components: InferenceClientComponents, init: InferenceSessionInit): Promise<InferenceSession> {
    const session = new InferenceSession(components, init)
    const hops = await session.#plan(0, init.config.numLayers)
    session.#hops = hops.map((hop) => ({ hop, inputs: [], length: 0 }))
    init.onEvent?.({ type: 'routed', hops })
    return session
  }

  /** The hops the session runs on now. */
  get route(): readonly RouteHop[] {
    return this.#hops.map((h) => h.hop)
  }

  /** Positions the session holds. */
  get length(): number {
    return this.#hops[0]?.length ?? 0
  }

  /**
   * Runs tokens through the model (a long prompt in several steps) and returns the last position's logits.
   * @throws NoRouteError when a failed server's span has no replacement; RpcError for a refused request
   */
  async forward(tokens: Int32Array): Promise<Float32Array> {
    if (this.#closed) throw new RangeError(`session ${this.sessionId} is closed`)
    if (tokens.length === 0) throw new RangeError('no tokens to forward')
    if (this.length + tokens.length > this.maxTokens) throw new RangeError(`${this.length} + ${tokens.length} positions are over this session's ${this.maxTokens}`)
    const step = Math.max(1, Math.floor(MAX_LM_STEP_BYTES / (4 * this.#init.config.hiddenSize)))
    let logits: Float32Array = new Float32Array(0)
    for (let at = 0; at < tokens.length; at += step) logits = await this.#step({ tokens: tokens.slice(at, at + step) })
    return logits
  }

  /** Frees the servers' caches (best effort: a server that is gone frees it when the session idles out). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled(this.#hops.map((h) => this.#c.rpc.call(h.hop.peer, LM_CLOSE, { sessionId: this.sessionId }, { timeoutMs: 5_000 })))
  }

  /** One input through every hop; returns the head's output for the last position. */
  async #step(input: HopInput): Promise<Float32Array> {
    let x: HopInput = input
    for (let i = 0; i < this.#hops.length; ) {
      const state = this.#hops[i] as HopState
      const out = await this.#call(state, x, state.length).catch((err: unknown) => err as Error)
      if (out instanceof Error) {
        // The hop at i is replaced by one or more new hops whose caches hold everything up to this step: go on at i.
        await this.#recover(i, out)
        continue
      }
      state.inputs.push(x)
      state.length += countOf(x)
      if (i === this.#hops.length - 1) return out
      x = { hidden: out, count: countOf(x) }
      i++
    }
    throw new Error('unreachable: a route ends with the head')
  }

  /** One forward call, its output checked for size (a server answering the wrong shape counts as failed). */
  async #call(state: HopState, x: HopInput, position: number): Promise<Float32Array> {
    const { hop } = state
    const c = this.#init.config
    const head = hop.end === c.numLayers
    const r = await this.#c.rpc.call(
      hop.peer,
      LM_FORWARD,
      {
        sessionId: this.sessionId,
        model: this.#init.model,
        start: hop.start,
        end: hop.end,
        position,
        input: 'tokens' in x ? { case: 'tokens', value: tokensToBytes(x.tokens) } : { case: 'hidden', value: floatsToBytes(x.hidden) },
        count: countOf(x),
        maxTokens: this.maxTokens,
        lastOnly: head,
      },
      { timeoutMs: this.#init.stepTimeoutMs ?? 30_000 },
    )
    const want = head ? c.vocabSize : countOf(x) * c.hiddenSize
    if (r.output.byteLength !== want * 4) throw new RpcError(WireErrorCode.INTERNAL, `answered ${r.output.byteLength} bytes; ${want} float32 values expected`)
    if (r.length !== position + countOf(x)) throw new RpcError(WireErrorCode.CONFLICT, `holds ${r.length} positions; ${position + countOf(x)} expected`)
    return bytesToFloats(r.output)
  }

  /** Bans the failed hop's server and rebuilds its span on others by replaying the hop's inputs. */
  async #recover(index: number, err: Error): Promise<void> {
    const failed = this.#hops[index] as HopState
    const reason = err.message
    if (!(err instanceof RpcError) || !RECOVERABLE.has(err.code)) throw err
    this.#init.onEvent?.({ type: 'server-failed', hop: failed.hop, reason })
    this.#ban(failed.hop.peer)
    void this.#c.rpc.call(failed.hop.peer, LM_CLOSE, { sessionId: this.sessionId }, { timeoutMs: 2_000 }).catch(() => {})
    for (;;) {
      if (++this.#recoveries > (this.#init.maxRecoveries ?? 8)) throw new NoRouteError(`session ${this.sessionId} gave up after ${this.#recoveries - 1} server failures; the last: ${reason}`)
      const hops = await this.#plan(failed.hop.start, failed.hop.end)
      const fresh: HopState[] = hops.map((hop) => ({ hop, inputs: [], length: 0 }))
      const replayed = await this.#replay(failed.inputs, fresh)
      if (replayed === undefined) {
        this.#hops.splice(index, 1, ...fresh)
        this.#init.onEvent?.({ type: 'rerouted', replaced: failed.hop, by: hops, replayedPositions: failed.length })
        return
      }
      // A replacement failed during the replay too: leave it out and plan again.
      this.#init.onEvent?.({ type: 'server-failed', hop: replayed.hop, reason: replayed.reason })
      this.#ban(replayed.hop.peer)
    }
  }

  /** Feeds a failed hop's inputs through new hops. @returns the hop that failed, if one did */
  async #replay(inputs: readonly HopInput[], fresh: HopState[]): Promise<{ hop: RouteHop; reason: string } | undefined> {
    for (const input of inputs) {
      let x = input
      for (const state of fresh) {
        try {
          const out = await this.#call(state, x, state.length)
          state.inputs.push(x)
          state.length += countOf(x)
          x = { hidden: out, count: countOf(x) }
        } catch (err) {
          if (!(err instanceof RpcError) || !RECOVERABLE.has(err.code)) throw err
          return { hop: state.hop, reason: err.message }
        }
      }
    }
    return undefined
  }

  async #plan(from: number, to: number): Promise<RouteHop[]> {
    const now = Date.now()
    for (const [peer, until] of this.#banned) if (until <= now) this.#banned.delete(peer)
    const offers = await this.#c.offers(this.#init.model)
    const rtt = this.#c.rttMs?.bind(this.#c) ?? (() => 1)
    const hops = planRoute(offers, from, to, { rttMs: rtt }, { exclude: new Set(this.#banned.keys()), needTokens: this.maxTokens - this.length })
    if (hops === undefined) {
      const banned = [...this.#banned.keys()]
      throw new NoRouteError(`no servers cover blocks [${from}, ${to}) of model ${this.#init.model}${banned.length > 0 ? ` (left out after failing: ${banned.join(', ')})` : ''}`)
    }
    return hops
  }

  #ban(peer: string): void {
    this.#banned.set(peer, Date.now() + (this.#init.banMs ?? 60_000))
  }
}

/** How `generate` decodes. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. */
  readonly maxNewTokens: number
  /** Seed of the sampler (default 0); the same seed and route give the same tokens. */
  readonly seed?: number
  /** Token ids that end the generation (the stop token is yielded, then it ends). */
  readonly stopTokens?: readonly number[]
  readonly signal?: AbortSignal
}

/**
 * Generates tokens after a prompt, one at a time as they are decided.
 * Stops at `maxNewTokens`, a stop token, the session's `maxTokens` or the signal.
 */
export async function* generate(session: InferenceSession, prompt: Int32Array, options: GenerateOptions): AsyncGenerator<number> {
  const rng = mulberry32(options.seed ?? 0)
  const stop = new Set(options.stopTokens ?? [])
  let logits = await session.forward(prompt)
  for (let n = 0; n < options.maxNewTokens; n++) {
    options.signal?.throwIfAborted()
    const token = sampleToken(logits, options, rng)
    yield token
    if (stop.has(token) || n + 1 === options.maxNewTokens || session.length >= session.maxTokens) return
    logits = await session.forward(Int32Array.of(token))
  }
}
