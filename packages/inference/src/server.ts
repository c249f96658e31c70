// The server role of decentralized inference: runs spans of transformers for remote clients, one KV-cache session per
// (calling peer, session id), with bounds on sessions and cached positions and idle sessions closed.
import { create, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf'
import { type Rpc, RpcError, type RpcMethod } from '@weft/mesh'
import {
  type ForwardRequest,
  ForwardRequestSchema,
  type ForwardResponseSchema,
  LM_CLOSE,
  LM_FORWARD,
  LM_INFO,
  LmCloseRequestSchema,
  MAX_LM_MODEL_ID,
  MAX_LM_SESSION_ID,
  MAX_LM_STEP_BYTES,
  type ServedSpan,
  WireErrorCode,
} from '@weft/protocol'
import type { BlockRangeModel, KvSession, SpanInput } from '@weft/runtime'
import { bytesToFloats, bytesToTokens, floatsToBytes } from './wire.js'

/** Bounds of a span server. */
export interface SpanServerInit {
  /** Sessions held at once over all spans and callers (default 64). */
  readonly maxSessions?: number
  /** Sessions one calling peer may hold at once (default 16). */
  readonly maxSessionsPerPeer?: number
  /** Cached positions over all sessions, the KV-cache budget (default 65 536). */
  readonly maxCachedTokens?: number
  /** A session without a step for this long is closed (default 5 min). */
  readonly sessionIdleMs?: number
}

/** What a span server needs from its node. */
export interface SpanServerComponents {
  readonly rpc: Rpc
  /** Why a peer may not use this server (undefined: it may); every call is checked. Default: every peer may. */
  readonly authorize?: (peer: string) => string | undefined
  readonly logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/** A span a server runs: the loaded model, its id and the engine that runs it. */
export interface HostedSpan {
  /** The model's id (its checkpoint's CID). */
  readonly model: string
  /** Engine and backend, e.g. `tfjs/wasm`. */
  readonly engine: string
  readonly span: BlockRangeModel
}

/** A node's inference server. */
export interface SpanServer {
  /** Serves a span (its config and blocks come from `hosted.span`). @throws RangeError when it is served already */
  serve(hosted: HostedSpan): void
  /** Stops serving a span and closes its sessions. @returns false when it was not served */
  unserve(model: string, start: number, end: number): boolean
  /** The spans served, with their load. */
  info(): ServedSpan[]
  /** Open sessions over all spans. */
  readonly sessions: number
  /** Batches run and the steps they held (engines with `forwardMany`): steps per batch says how much was batched. */
  readonly batching: { readonly batches: number; readonly steps: number }
  /**
   * Answers a call this node makes to itself (a peer cannot dial itself), with the checks a remote call gets.
   * @throws RpcError as a remote call would answer
   */
  localCall<I extends DescMessage, O extends DescMessage>(method: RpcMethod<I, O>, request: MessageInitShape<I>, peer: string): Promise<MessageShape<O>>
  /** Registers the "lm" methods. */
  start(): Promise<void>
  /** Unregisters them and closes every session (the spans stay loaded: their owner disposes them). */
  stop(): Promise<void>
}

interface Served {
  readonly hosted: HostedSpan
  /** Mean engine seconds per position over recent steps (an exponential average; 0 before any). */
  secondsPerToken: number
  /** Steps waiting for the next batch (engines with `forwardMany`). */
  readonly pending: PendingStep[]
  /** A batch loop is running: steps that arrive meanwhile join the next batch. */
  batching: boolean
}

interface PendingStep {
  readonly session: KvSession
  readonly input: SpanInput
  resolve(out: Float32Array): void
  reject(err: unknown): void
}

/** Most steps one batch takes. */
const MAX_BATCH = 32

/**
 * Lets the event loop read what the network delivered (Node's setImmediate runs right after that; a browser has only
 * a timer), so steps that arrived meanwhile are pending when the next batch is cut.
 */
const yieldToIo = (): Promise<void> => {
  const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate
  return new Promise((resolve) => (immediate === undefined ? setTimeout(resolve, 0) : immediate(resolve)))
}

interface Session {
  readonly key: string
  readonly peer: string
  readonly served: Served
  readonly kv: KvSession
  readonly maxTokens: number
  lastUsed: number
  /** Steps of one session run one after another. */
  queue: Promise<unknown>
}

const spanKey = (model: string, start: number, end: number): string => `${model}\n${start}\n${end}`

/** Creates a span server on a node's RPC. */
export function createSpanServer(components: SpanServerComponents, init: SpanServerInit = {}): SpanServer {
  return new SpanServerImpl(components, init)
}

class SpanServerImpl implements SpanServer {
  readonly #c: SpanServerComponents
  readonly #maxSessions: number
  readonly #maxPerPeer: number
  readonly #maxCached: number
  readonly #idleMs: number
  readonly #spans = new Map<string, Served>()
  readonly #sessions = new Map<string, Session>()
  #sweeper: ReturnType<typeof setInterval> | undefined

  constructor(components: SpanServerComponents, init: SpanServerInit) {
    this.#c = components
    this.#maxSessions = positive(init.maxSessions ?? 64, 'maxSessions')
    this.#maxPerPeer = positive(init.maxSessionsPerPeer ?? 16, 'maxSessionsPerPeer')
    this.#maxCached = positive(init.maxCachedTokens ?? 65_536, 'maxCachedTokens')
    this.#idleMs = positive(init.sessionIdleMs ?? 300_000, 'sessionIdleMs')
  }

  get sessions(): number {
    return this.#sessions.size
  }

  readonly batching = { batches: 0, steps: 0 }

  serve(hosted: HostedSpan): void {
    const [start, end] = hosted.span.span.blocks
    const key = spanKey(hosted.model, start, end)
    if (this.#spans.has(key)) throw new RangeError(`blocks [${start}, ${end}) of model ${hosted.model} are served already`)
    if (hosted.model.length === 0 || hosted.model.length > MAX_LM_MODEL_ID) throw new RangeError(`a model id must be 1..${MAX_LM_MODEL_ID} characters`)
    this.#spans.set(key, { hosted, secondsPerToken: 0, pending: [], batching: false })
  }

  unserve(model: string, start: number, end: number): boolean {
    const key = spanKey(model, start, end)
    const served = this.#spans.get(key)
    if (served === undefined) return false
    for (const s of [...this.#sessions.values()]) if (s.served === served) this.#close(s)
    this.#spans.delete(key)
    return true
  }

  info(): ServedSpan[] {
    const free = Math.max(0, this.#maxCached - this.#cachedTokens())
    return [...this.#spans.values()].map((s) => {
      const { span } = s.hosted
      return {
        $typeName: 'weft.lm.v1.ServedSpan',
        model: s.hosted.model,
        start: span.span.blocks[0],
        end: span.span.blocks[1],
        configJson: JSON.stringify(span.config),
        engine: s.hosted.engine,
        sessions: [...this.#sessions.values()].filter((x) => x.served === s).length,
        freeTokens: free,
        secondsPerToken: s.secondsPerToken,
      }
    })
  }

  async localCall<I extends DescMessage, O extends DescMessage>(method: RpcMethod<I, O>, request: MessageInitShape<I>, peer: string): Promise<MessageShape<O>> {
    const answer = async (): Promise<MessageInitShape<DescMessage>> => {
      switch (method.method) {
        case LM_FORWARD.method:
          return this.#forward(create(ForwardRequestSchema, request as MessageInitShape<typeof ForwardRequestSchema>), peer)
        case LM_CLOSE.method:
          return this.#closeCall(create(LmCloseRequestSchema, request as MessageInitShape<typeof LmCloseRequestSchema>).sessionId, peer)
        case LM_INFO.method:
          return { spans: this.info() }
        default:
          throw new RpcError(WireErrorCode.UNIMPLEMENTED, `lm has no method ${method.method}`)
      }
    }
    return create(method.output, (await answer()) as MessageInitShape<O>)
  }

  async start(): Promise<void> {
    const { rpc } = this.#c
    await rpc.handle(LM_FORWARD, (req, ctx) => this.#forward(req, this.#admit(ctx.peer)))
    await rpc.handle(LM_CLOSE, (req, ctx) => this.#closeCall(req.sessionId, this.#admit(ctx.peer)))
    await rpc.handle(LM_INFO, (_req, ctx) => {
      this.#admit(ctx.peer)
      return { spans: this.info() }
    })
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(this.#idleMs, 60_000))
    // In Node the sweeper does not keep the process alive (a browser's timers have no unref).
    ;(this.#sweeper as { unref?: () => void }).unref?.()
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweeper)
    for (const m of [LM_FORWARD, LM_CLOSE, LM_INFO]) await this.#c.rpc.unhandle(m).catch(() => {})
    for (const s of [...this.#sessions.values()]) this.#close(s)
  }

  /** The caller, when it may use this server. @throws RpcError UNAUTHORIZED with the reason */
  #admit(peer: string): string {
    const refusal = this.#c.authorize?.(peer)
    if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    return peer
  }

  #closeCall(sessionId: string, peer: string): { closed: boolean } {
    if (sessionId.length > MAX_LM_SESSION_ID) throw new RpcError(WireErrorCode.BAD_REQUEST, `session id over ${MAX_LM_SESSION_ID} characters`)
    const s = this.#sessions.get(`${peer}\n${sessionId}`)
    if (s !== undefined) this.#close(s)
    return { closed: s !== undefined }
  }

  async #forward(req: ForwardRequest, peer: string): Promise<MessageInitShape<typeof ForwardResponseSchema>> {
    const bad = (why: string) => new RpcError(WireErrorCode.BAD_REQUEST, why)
    if (req.sessionId.length === 0 || req.sessionId.length > MAX_LM_SESSION_ID) throw bad(`a session id must be 1..${MAX_LM_SESSION_ID} characters`)
    const served = this.#spans.get(spanKey(req.model, req.start, req.end))
    if (served === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `this server does not serve blocks [${req.start}, ${req.end}) of model ${req.model.slice(0, MAX_LM_MODEL_ID)}`)
    const { config, span } = served.hosted.span
    const input = decodeInput(req, config.hiddenSize, span.embed)
    const key = `${peer}\n${req.sessionId}`
    let session = this.#sessions.get(key)
    let opened = false
    if (session !== undefined && session.served !== served) throw new RpcError(WireErrorCode.CONFLICT, `session ${req.sessionId} runs another span here`)
    if (session === undefined) {
      if (req.position !== 0) {
        throw new RpcError(WireErrorCode.NOT_FOUND, `session ${req.sessionId} is not held here (asked for position ${req.position}); replay it from position 0`)
      }
      session = this.#open(key, peer, served, req)
      opened = true
    }
    const s = session
    const step = s.queue.then(async () => {
      if (this.#sessions.get(key) !== s) throw new RpcError(WireErrorCode.NOT_FOUND, `session ${req.sessionId} was closed`)
      if (req.position > s.kv.length) {
        throw new RpcError(WireErrorCode.CONFLICT, `position ${req.position} is past the ${s.kv.length} positions session ${req.sessionId} holds`)
      }
      if (req.position < s.kv.length) s.kv.truncate(req.position)
      const count = 'tokens' in input ? input.tokens.length : input.count
      if (req.position + count > s.maxTokens) throw new RpcError(WireErrorCode.RESOURCE_EXHAUSTED, `${req.position} + ${count} positions are over session ${req.sessionId}'s ${s.maxTokens}`)
      if (this.#cachedTokens() + count > this.#maxCached) throw new RpcError(WireErrorCode.RESOURCE_EXHAUSTED, `this server's KV cache holds ${this.#maxCached} positions and is full`)
      const t0 = performance.now()
      let out: Float32Array
      try {
        out = await this.#step(served, s.kv, input)
      } catch (err) {
        if (err instanceof RangeError) throw bad(err.message)
        throw err
      }
      const seconds = (performance.now() - t0) / 1000
      served.secondsPerToken = served.secondsPerToken === 0 ? seconds / count : 0.8 * served.secondsPerToken + (0.2 * seconds) / count
      s.lastUsed = Date.now()
      const width = span.head ? config.vocabSize : config.hiddenSize
      if (span.head && req.lastOnly) out = out.subarray((count - 1) * width)
      if (out.byteLength > MAX_LM_STEP_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `the output of ${count} positions is ${out.byteLength} bytes; ask for fewer per step or for the last position only`)
      return { output: floatsToBytes(out), length: s.kv.length, computeSeconds: seconds }
    })
    s.queue = step.catch(() => {
      // A session whose first step failed holds nothing: it does not stay to count against the caller's sessions.
      if (opened && s.kv.length === 0) this.#close(s)
    })
    return step
  }

  /**
   * One step of a session. On an engine that batches, steps of different sessions that wait together run as one batch
   * (the first runs at once; those arriving while a batch computes form the next).
   */
  #step(served: Served, session: KvSession, input: SpanInput): Promise<Float32Array> {
    const span = served.hosted.span
    if (span.forwardMany === undefined) return session.forward(input)
    return new Promise((resolve, reject) => {
      served.pending.push({ session, input, resolve, reject })
      if (!served.batching) {
        served.batching = true
        void this.#batches(served)
      }
    })
  }

  async #batches(served: Served): Promise<void> {
    const span = served.hosted.span
    try {
      // Steps that arrived with this one, or while a batch computed, are read off the network first and join it.
      await yieldToIo()
      while (served.pending.length > 0) {
        const batch = served.pending.splice(0, MAX_BATCH)
        this.batching.batches++
        this.batching.steps += batch.length
        try {
          const outs = await (span.forwardMany as NonNullable<BlockRangeModel['forwardMany']>)(batch)
          for (const [i, b] of batch.entries()) b.resolve(outs[i] as Float32Array)
        } catch {
          // One step that does not fit fails the batch before any session changed: step them one by one, so only
          // that one fails, with its own reason.
          for (const b of batch) await b.session.forward(b.input).then(b.resolve, b.reject)
        }
        await yieldToIo()
      }
    } finally {
      served.batching = false
    }
  }

  #open(key: string, peer: string, served: Served, req: ForwardRequest): Session {
    const { config } = served.hosted.span
    const maxTokens = req.maxTokens === 0 ? config.maxPositions : req.maxTokens
    if (maxTokens > config.maxPositions) throw new RpcError(WireErrorCode.BAD_REQUEST, `max_tokens ${maxTokens} is over the model's ${config.maxPositions} positions`)
    if (this.#sessions.size >= this.#maxSessions) throw new RpcError(WireErrorCode.RESOURCE_EXHAUSTED, `this server holds ${this.#maxSessions} sessions, its most`)
    const mine = [...this.#sessions.values()].filter((s) => s.peer === peer).length
    if (mine >= this.#maxPerPeer) throw new RpcError(WireErrorCode.RESOURCE_EXHAUSTED, `you hold ${mine} sessions here, the most one peer may`)
    const kv = served.hosted.span.openSession(req.sessionId, { maxTokens })
    const session: Session = { key, peer, served, kv, maxTokens, lastUsed: Date.now(), queue: Promise.resolve() }
    this.#sessions.set(key, session)
    this.#c.logger?.info({ peer, session: req.sessionId, model: served.hosted.model, blocks: [req.start, req.end] }, 'inference session opened')
    return session
  }

  #close(s: Session): void {
    if (this.#sessions.get(s.key) !== s) return
    this.#sessions.delete(s.key)
    // A step in flight finishes first; the cache is freed after it.
    void s.queue.then(() => s.kv.close())
  }

  #sweep(): void {
    const now = Date.now()
    for (const s of [...this.#sessions.values()]) {
      if (now - s.lastUsed > this.#idleMs) {
        this.#c.logger?.info({ peer: s.peer, session: s.kv.sessionId }, 'inference session closed: idle')
        this.#close(s)
      }
    }
  }

  #cachedTokens(): number {
    let n = 0
    for (const s of this.#sessions.values()) n += s.kv.length
    return n
  }
}

/** A request's input as the engine takes it, checked against the span (sizes first, so nothing large is allocated). */
function decodeInput(req: ForwardRequest, hiddenSize: number, embed: boolean): SpanInput {
  const bad = (why: string) => new RpcError(WireErrorCode.BAD_REQUEST, why)
  const { input, count } = req
  if (count === 0) throw bad('count must be at least 1')
  if (input.case === undefined) throw bad('no input: tokens or hidden states')
  if (input.value.byteLength > MAX_LM_STEP_BYTES) throw bad(`an input of ${input.value.byteLength} bytes is over ${MAX_LM_STEP_BYTES}; send it in steps`)
  if (input.case === 'tokens') {
    if (!embed) throw bad('this span starts at a block: send hidden states, not tokens')
    if (input.value.byteLength !== count * 4) throw bad(`${input.value.byteLength} bytes of tokens are not ${count} int32 ids`)
    return { tokens: bytesToTokens(input.value) }
  }
  if (embed) throw bad('this span embeds tokens: send token ids, not hidden states')
  if (input.value.byteLength !== count * hiddenSize * 4) throw bad(`${input.value.byteLength} bytes of hidden states are not ${count} × ${hiddenSize} float32 values`)
  return { hidden: bytesToFloats(input.value), count }
}

function positive(v: number, what: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${what} must be a positive integer, got ${v}`)
  return v
}
