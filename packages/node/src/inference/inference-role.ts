// The node's inference roles: a span server for the checkpoints this node is asked to serve (read from its block
// store by CID, fetched from the mesh when missing), and completions for callers of its API, routed through the
// servers of the mesh (this node's own included) with failover by replay.
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf'
import { askSpans, chooseSpan, createSpanServer, generate, rebalancedSpan, InferenceSession, type PeerSpan, type SessionEvent, type SpanServer } from '@weft/inference'
import { decodeLmCheckpoint, type LmCheckpoint } from '@weft/lm'
import type { Rpc, RpcHandler, RpcMethod } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import { LM_FORWARD, MAX_LM_MODEL_ID, type ServedSpan } from '@weft/protocol'
import { type BlockRangeModel, spanWeights, type TransformerRuntime, type TransformerSpan } from '@weft/runtime'
import { type CID, parseCid } from '@weft/store'
import type { DiskStore } from '@weft/store/node'
import type { Logger } from 'pino'
import type { BlockExchange } from '../components/block-exchange.js'
import type { PeerTable } from '../peer-table.js'
import { readStoredFile } from '../store-read.js'

/** The round trip assumed for a server known only from its ad (no connection to measure it on). */
const UNMEASURED_RTT_MS = 50

/** Largest checkpoint this node reads (bytes). */
export const MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3

/** Sessions of remote callers this node's span server remembers having served (for their receipts). */
const MAX_SERVED_SESSIONS = 4096

/** A completion's session as it ended: the servers of its route, what each was sent and did (for their receipts). */
export interface EndedSession {
  readonly model: string
  readonly sessionId: string
  /** Positions each hop of the final route holds. */
  readonly positions: number
  readonly hops: readonly {
    readonly peer: string
    readonly start: number
    readonly end: number
    /** Input bytes sent to it: token ids to the first hop, hidden states to the others. */
    readonly bytes: number
    /** Its measured compute per position, as offered (0 when unknown). */
    readonly secondsPerToken: number
  }[]
}

/** A request to serve a span of a checkpoint. */
export interface ServeRequest {
  /** The checkpoint's CID. */
  readonly model: string
  /** Blocks [start, end), or 'auto': `count` blocks where the mesh's servers are weakest (default: every block). */
  readonly blocks?: readonly [number, number] | 'auto'
  readonly count?: number
  readonly engine?: 'tfjs' | 'torch'
}

/** A completion request, as the OpenAI routes parse it. */
export interface CompletionRequest {
  readonly model: string
  readonly prompt: string
  readonly maxTokens: number
  readonly temperature: number
  readonly topP: number
  readonly seed: number
  readonly stop: readonly string[]
  readonly signal?: AbortSignal
}

/** What a completion produced. */
export interface Completion {
  readonly text: string
  readonly promptTokens: number
  readonly completionTokens: number
  readonly finishReason: 'stop' | 'length'
  readonly route: readonly { peer: string; start: number; end: number }[]
  readonly events: readonly SessionEvent[]
}

/** A caller's request the node refuses: `kind` picks the HTTP status and the OpenAI error type. */
export class InferenceRequestError extends Error {
  override readonly name = 'InferenceRequestError'
  constructor(
    readonly kind: 'bad-request' | 'not-found' | 'context-length' | 'unavailable',
    message: string,
    readonly param?: string,
  ) {
    super(message)
  }
}

/** The node's inference service. */
export interface NodeInference {
  /** Loads and serves a span of a checkpoint. */
  serve(request: ServeRequest): Promise<{ model: string; start: number; end: number; engine: string }>
  /** Stops serving a span. @returns false when it was not served */
  unserve(model: string, start: number, end: number): Promise<boolean>
  /** Spans this node serves. */
  local(): ServedSpan[]
  /** Spans served on the mesh now (this node's and its alive peers'), optionally of one model. */
  mesh(model?: string): Promise<PeerSpan[]>
  /** Runs a completion through the mesh; `onText` gets each piece of text as it is decided. */
  complete(request: CompletionRequest, onText?: (text: string) => void): Promise<Completion>
  /** Calls `listener` with each completion's session when it ends; returns the unsubscribe. */
  onSessionEnd(listener: (session: EndedSession) => void): () => void
  /** The model and positions of a session this node's span server ran for `caller` (recent ones), or undefined. */
  servedSession(caller: string, sessionId: string): { readonly model: string; readonly positions: number } | undefined
  stop(): Promise<void>
}

/** What the role needs from the node. */
export interface InferenceRoleComponents {
  readonly mesh: MeshNode
  /** Why a peer may not use this node's spans (not a member of the mesh), or undefined. */
  readonly member: (peer: string) => string | undefined
  readonly peers: PeerTable
  readonly logger: Logger
  readonly store?: DiskStore
  readonly blockExchange?: BlockExchange
  /** Publishes a fresh ad now, so a span served or dropped is announced at once (its ads carry the served spans). */
  readonly announce?: () => Promise<void>
  /** How often spans served with `blocks: 'auto'` are reconsidered (default 60 s; 0: never). */
  readonly rebalanceMs?: number
  /** The engines, started on first use. */
  readonly engine: (name: 'tfjs' | 'torch') => Promise<TransformerRuntime & { readonly name: string; readonly backend: string }>
}

interface Loaded {
  readonly model: string
  readonly span: BlockRangeModel
  /** Served with `blocks: 'auto'`: moved by rebalancing when another place helps the swarm more. */
  readonly auto: boolean
  readonly engine: 'tfjs' | 'torch'
}

export async function startInferenceRole(c: InferenceRoleComponents): Promise<NodeInference> {
  /** "caller\nsession" → what this node's span server ran for remote callers, oldest first. */
  const served = new Map<string, { model: string; positions: number }>()
  const meshRpc = c.mesh.rpc
  // The span server's rpc, its forward steps recorded as they succeed.
  const serverRpc: Rpc = {
    handle: (method, handler, options) => {
      if (method !== (LM_FORWARD as RpcMethod)) return meshRpc.handle(method, handler, options)
      const forward = handler as unknown as RpcHandler<typeof LM_FORWARD.input, typeof LM_FORWARD.output>
      const recorded: RpcHandler<typeof LM_FORWARD.input, typeof LM_FORWARD.output> = async (req, ctx) => {
        const out = await forward(req, ctx)
        const key = `${ctx.peer}\n${req.sessionId}`
        served.delete(key)
        served.set(key, { model: req.model, positions: req.position + req.count })
        if (served.size > MAX_SERVED_SESSIONS) served.delete(served.keys().next().value as string)
        return out
      }
      return meshRpc.handle(LM_FORWARD, recorded, options as never)
    },
    unhandle: (method) => meshRpc.unhandle(method),
    call: (peer, method, request, options) => meshRpc.call(peer, method, request, options),
    stop: () => meshRpc.stop(),
  }
  const ended = new Set<(session: EndedSession) => void>()
  const server: SpanServer = createSpanServer({ rpc: serverRpc, logger: c.logger, authorize: c.member })
  await server.start()
  const self = c.mesh.peerId
  const loaded: Loaded[] = []
  /** Checkpoints read, by CID (the config and tokenizer a completion needs; the weights a span needs). */
  const checkpoints = new Map<string, Promise<LmCheckpoint>>()

  /** Calls to this node go to its own server; others over the mesh. */
  const rpc: Pick<Rpc, 'call'> = {
    call<I extends DescMessage, O extends DescMessage>(peer: Parameters<Rpc['call']>[0], method: RpcMethod<I, O>, request: MessageInitShape<I>, options?: Parameters<Rpc['call']>[3]): Promise<MessageShape<O>> {
      return String(peer) === self ? server.localCall(method, request, self) : c.mesh.rpc.call(peer, method, request, options)
    },
  }

  /**
   * The spans served on the mesh: asked (`lm/info`, fresh load and a round trip) of this node and its connected peers;
   * read from the ads of alive peers it is not connected to (announced with their ads, gossiped and in the DHT).
   */
  const mesh = async (model?: string): Promise<PeerSpan[]> => {
    const alive = c.peers.list().filter((p) => p.status === 'alive')
    const asked = await askSpans(rpc, [self, ...alive.filter((p) => p.connected).map((p) => p.peerId)], { timeoutMs: 3_000, ...(model === undefined ? {} : { model }) })
    const answered = new Set(asked.map((s) => s.peer))
    const announced = alive
      .filter((p) => !p.connected && !answered.has(p.peerId))
      .flatMap((p) =>
        p.ad.lmSpans
          .filter((s) => model === undefined || s.model === model)
          .map((s) => ({
            peer: p.peerId,
            model: s.model,
            start: s.start,
            end: s.end,
            // The ad names the model's block count, not its whole config.
            configJson: JSON.stringify({ numLayers: s.numLayers }),
            engine: s.engine,
            sessions: s.sessions,
            freeTokens: s.freeTokens,
            secondsPerToken: s.secondsPerToken,
            // Not measured: a peer this node has no connection to is taken as far.
            rttMs: UNMEASURED_RTT_MS,
          })),
      )
    return [...asked, ...announced]
  }

  /** Reads a checkpoint by CID from the block store, fetching it from the mesh when it is not complete here. */
  const checkpoint = (model: string): Promise<LmCheckpoint> => {
    let pending = checkpoints.get(model)
    if (pending === undefined) {
      pending = readCheckpoint(model).catch((err: unknown) => {
        checkpoints.delete(model)
        throw err
      })
      checkpoints.set(model, pending)
    }
    return pending
  }
  const readCheckpoint = async (model: string): Promise<LmCheckpoint> => {
    const { store } = c
    if (store === undefined) throw new InferenceRequestError('unavailable', 'this node has no block store (store.enabled is false): it cannot read checkpoints by CID')
    let root: CID
    try {
      root = parseCid(model)
    } catch (err) {
      throw new InferenceRequestError('bad-request', `model must be a checkpoint's CID: ${(err as Error).message}`, 'model')
    }
    let stat = await store.stat(root)
    if (stat === undefined || stat.missing > 0) {
      if (c.blockExchange === undefined) throw new InferenceRequestError('not-found', `model ${model} is not in this node's store`, 'model')
      const r = await c.blockExchange.fetch(root, { signal: AbortSignal.timeout(300_000) })
      if (!r.ok) throw new InferenceRequestError('not-found', `model ${model} could not be fetched from the mesh: ${r.detail}`, 'model')
      stat = await store.stat(root)
    }
    if (stat === undefined || stat.kind !== 'file') throw new InferenceRequestError('bad-request', `model ${model} is not a file`, 'model')
    if (stat.size > MAX_CHECKPOINT_BYTES) throw new InferenceRequestError('bad-request', `model ${model} is ${stat.size} bytes; this node reads checkpoints up to ${MAX_CHECKPOINT_BYTES}`, 'model')
    const bytes = await readStoredFile(store, root, stat.size)
    try {
      return decodeLmCheckpoint(bytes)
    } catch (err) {
      throw new InferenceRequestError('bad-request', `model ${model} is not a Weft language-model checkpoint: ${(err as Error).message}`, 'model')
    }
  }

  /** Loads a span and serves it. */
  const load = async (model: string, ckpt: LmCheckpoint, start: number, end: number, engineName: 'tfjs' | 'torch', auto: boolean): Promise<string> => {
    const layers = ckpt.config.numLayers
    const engine = await c.engine(engineName)
    const span: TransformerSpan = { embed: start === 0, blocks: [start, end], head: end === layers }
    const loadedSpan = await engine.loadTransformer(ckpt.config, span, spanWeights(ckpt.config, span, ckpt.weights))
    const label = `${engine.name}/${engine.backend}`
    try {
      server.serve({ model, engine: label, span: loadedSpan })
    } catch (err) {
      loadedSpan.dispose()
      throw new InferenceRequestError('bad-request', (err as Error).message, 'blocks')
    }
    loaded.push({ model, span: loadedSpan, auto, engine: engineName })
    void c.announce?.().catch(() => {})
    c.logger.info({ model, blocks: [start, end], engine: label, auto }, 'serving a span of a language model')
    return label
  }
  const drop = (model: string, start: number, end: number): boolean => {
    if (!server.unserve(model, start, end)) return false
    const i = loaded.findIndex((l) => l.model === model && l.span.span.blocks[0] === start && l.span.span.blocks[1] === end)
    if (i >= 0) (loaded.splice(i, 1)[0] as Loaded).span.dispose()
    void c.announce?.().catch(() => {})
    return true
  }

  /** Moves each span served with 'auto' to where it helps the swarm's weakest block more (the new one first). */
  const rebalance = async (): Promise<void> => {
    for (const l of loaded.filter((x) => x.auto)) {
      const [start, end] = l.span.span.blocks
      const served = server.info().find((s) => s.model === l.model && s.start === start && s.end === end)
      if (served === undefined) continue
      const others = (await mesh(l.model)).filter((o) => o.peer !== self)
      const to = rebalancedSpan(others, { start, end, secondsPerToken: served.secondsPerToken }, l.span.config.numLayers)
      if (to === undefined) continue
      c.logger.info({ model: l.model, from: [start, end], to }, 'rebalancing: moving a span where the swarm is weaker')
      await load(l.model, await checkpoint(l.model), to[0], to[1], l.engine, true)
      // Sessions on the old span are closed: their clients replay them on another server.
      drop(l.model, start, end)
    }
  }
  const rebalanceMs = c.rebalanceMs ?? 60_000
  let rebalancing: Promise<void> | undefined
  const rebalancer =
    rebalanceMs > 0
      ? setInterval(() => {
          rebalancing ??= rebalance()
            .catch((err: Error) => c.logger.warn({ err: err.message }, 'rebalancing failed'))
            .finally(() => {
              rebalancing = undefined
            })
        }, rebalanceMs)
      : undefined
  rebalancer?.unref()

  return {
    async serve(request) {
      if (request.model.length > MAX_LM_MODEL_ID) throw new InferenceRequestError('bad-request', `a model id is at most ${MAX_LM_MODEL_ID} characters`, 'model')
      const ckpt = await checkpoint(request.model)
      const layers = ckpt.config.numLayers
      let blocks: readonly [number, number]
      if (request.blocks === undefined) blocks = [0, layers]
      else if (request.blocks === 'auto') blocks = chooseSpan(await mesh(request.model), layers, request.count ?? layers)
      else blocks = request.blocks
      const [start, end] = blocks
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start || end > layers) {
        throw new InferenceRequestError('bad-request', `blocks [${start}, ${end}) are not a range within the model's ${layers} blocks`, 'blocks')
      }
      const label = await load(request.model, ckpt, start, end, request.engine ?? 'tfjs', request.blocks === 'auto')
      return { model: request.model, start, end, engine: label }
    },
    async unserve(model, start, end) {
      return drop(model, start, end)
    },
    local: () => server.info(),
    mesh,
    async complete(request, onText) {
      const ckpt = await checkpoint(request.model)
      const { config, tokenizer } = ckpt
      const prompt = Int32Array.from(tokenizer.encode(request.prompt))
      if (prompt.length === 0) throw new InferenceRequestError('bad-request', 'the prompt is empty', 'prompt')
      if (prompt.length + request.maxTokens > config.maxPositions) {
        throw new InferenceRequestError(
          'context-length',
          `this model's context is ${config.maxPositions} tokens; the prompt has ${prompt.length} and max_tokens asks for ${request.maxTokens} more`,
          'max_tokens',
        )
      }
      const events: SessionEvent[] = []
      let session: InferenceSession
      // Hops are weighed by the round trip each server's info call took (this node's own: none).
      const rtts = new Map<string, number>()
      const speeds = new Map<string, number>()
      const offers = async (model: string) => {
        const found = await mesh(model)
        for (const o of found) rtts.set(o.peer, o.peer === self ? 0 : o.rttMs)
        for (const o of found) speeds.set(`${o.peer}\n${o.start}\n${o.end}`, o.secondsPerToken)
        return found
      }
      try {
        session = await InferenceSession.open(
          { rpc, offers, rttMs: (peer) => rtts.get(peer) ?? 1 },
          { model: request.model, config, maxTokens: prompt.length + request.maxTokens, onEvent: (e) => events.push(e) },
        )
      } catch (err) {
        throw new InferenceRequestError('unavailable', (err as Error).message, 'model')
      }
      const ids: number[] = []
      let emitted = 0
      let finishReason: 'stop' | 'length' = 'length'
      const holdBack = Math.max(0, ...request.stop.map((s) => s.length - 1))
      try {
        for await (const token of generate(session, prompt, {
          maxNewTokens: request.maxTokens,
          temperature: request.temperature,
          topP: request.topP,
          seed: request.seed,
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        })) {
          ids.push(token)
          let text = tokenizer.decode(ids)
          const cut = firstStop(text, request.stop)
          if (cut !== undefined) {
            text = text.slice(0, cut)
            finishReason = 'stop'
          }
          // Text not yet sure: a UTF-8 sequence split across tokens, or what may be the start of a stop string.
          const sure = finishReason === 'stop' ? text.length : text.endsWith('\uFFFD') ? text.length - 1 : text.length - holdBack
          if (sure > emitted) {
            onText?.(text.slice(emitted, sure))
            emitted = sure
          }
          if (finishReason === 'stop') break
        }
      } finally {
        await session.close()
        const positions = session.length
        const report: EndedSession = {
          model: request.model,
          sessionId: session.sessionId,
          positions,
          hops: session.route.map((h) => ({ ...h, bytes: positions * (h.start === 0 ? 4 : 4 * config.hiddenSize), secondsPerToken: speeds.get(`${h.peer}\n${h.start}\n${h.end}`) ?? 0 })),
        }
        for (const listener of ended) listener(report)
      }
      let text = tokenizer.decode(ids)
      const cut = firstStop(text, request.stop)
      if (cut !== undefined) text = text.slice(0, cut)
      if (text.length > emitted) onText?.(text.slice(emitted))
      return { text, promptTokens: prompt.length, completionTokens: ids.length, finishReason, route: session.route, events }
    },
    onSessionEnd(listener) {
      ended.add(listener)
      return () => void ended.delete(listener)
    },
    servedSession: (caller, sessionId) => served.get(`${caller}\n${sessionId}`),
    async stop() {
      clearInterval(rebalancer)
      await rebalancing
      await server.stop()
      for (const l of loaded.splice(0)) l.span.dispose()
    },
  }
}

/** Where the first stop string starts in `text`, if one occurs. */
function firstStop(text: string, stops: readonly string[]): number | undefined {
  let first: number | undefined
  for (const s of stops) {
    if (s === '') continue
    const i = text.indexOf(s)
    if (i >= 0 && (first === undefined || i < first)) first = i
  }
  return first
}
