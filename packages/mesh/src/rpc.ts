// Typed request/response RPC over one versioned libp2p protocol per service, with deadlines, cancellation and typed errors.
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from '@bufbuild/protobuf'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import {
  abortAfter,
  isWireErrorCode,
  MAX_FRAME_BYTES,
  type RpcClientFrame,
  RpcClientFrameSchema,
  type RpcMethod,
  type RpcRequest,
  type RpcResponse,
  RpcResponseSchema,
  WireErrorCode,
  WireErrorSchema,
  wireErrorCodeName,
} from '@weft/protocol'
import { ProtocolViolationError, RpcError } from './errors.js'
import type { MeshLogger } from './logger.js'
import type { MeshMetrics } from './metrics.js'
import { type PeerTarget, targetPeerId, toDialTarget } from './peer.js'
import { type Answer, responseSegments } from './rpc-answer.js'
import { ClientSession, serveSession } from './rpc-session.js'
import { linkedSignal } from './signals.js'
import { closeStream, FrameReader, resetStream, sendFrame, sendFrameSegments } from './stream-io.js'

export { type RpcMethod, rpcMethod } from '@weft/protocol'

/** What a handler knows about the call it serves. */
export interface RpcCallContext {
  /** The caller's PeerId string. */
  readonly peer: string
  readonly method: string
  /** Aborted when the caller cancels, the deadline passes, the stream dies or the node stops. */
  readonly signal: AbortSignal
  /** Epoch ms after which the caller no longer waits. */
  readonly deadline: number
}

/** Serves one method; throw RpcError to answer with a specific wire code (anything else answers INTERNAL). */
export type RpcHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: RpcCallContext,
) => MessageInitShape<O> | Promise<MessageInitShape<O>>

/** How a method is served. */
export interface RpcHandleOptions<O extends DescMessage> {
  /**
   * Encodes an answer as segments whose concatenation is its protobuf encoding, sent in order without being joined:
   * an answer made of large byte fields (blocks read from disk) goes out without a copy. Default: `toBinary`.
   */
  encode?(output: MessageInitShape<O>): readonly Uint8Array[]
}

/** Per-call options. */
export interface RpcCallOptions {
  /** Default RpcInit.defaultTimeoutMs; sent to the server as the call's deadline. */
  timeoutMs?: number
  /** Aborting cancels the call: the server is told, the promise rejects with RpcError CANCELLED. */
  signal?: AbortSignal
}

/** RPC settings. */
export interface RpcInit {
  /** Largest request or response payload, both directions (default 1 MiB, at most 4 MiB - 64). */
  maxMessageBytes?: number
  /** Call timeout when the caller gives none (default 10 s). */
  defaultTimeoutMs?: number
  /** Longest deadline a server honours (default 5 min). */
  maxDeadlineMs?: number
  /** How long a server waits for the request frame of a new stream (default 10 s). */
  requestTimeoutMs?: number
  /** Concurrent inbound call streams per connection per service (default 64). */
  maxInboundStreams?: number
  /** Concurrent outbound call streams per connection per service (default 128). */
  maxOutboundStreams?: number
  /**
   * Calls go over one long-lived session stream per peer and service (`/weft/rpc/<service>/2.0.0`) when their
   * request is at most this many bytes; larger ones (and peers without sessions) get a stream each. Default 64 KiB;
   * 0 turns sessions off.
   */
  sessionMaxRequestBytes?: number
  /** A caller closes a session after this long without a call; a server, after twice as long (default 60 s). */
  sessionIdleMs?: number
  /** Calls one session runs at once on the server; past it a call is answered RESOURCE_EXHAUSTED (default 64). */
  maxCallsPerSession?: number
}

/** What the RPC layer needs from the node. */
export interface RpcComponents {
  libp2p: Libp2p
  metrics: MeshMetrics
  logger: MeshLogger
}

/** Typed RPC client and server. */
export interface Rpc {
  /** Serve `method`; the service's protocol is registered with the first method handled. Throws if already handled. */
  handle<I extends DescMessage, O extends DescMessage>(method: RpcMethod<I, O>, handler: RpcHandler<I, O>, options?: RpcHandleOptions<O>): Promise<void>
  /** Stop serving `method` (and the service's protocol once no method is left). */
  unhandle(method: RpcMethod): Promise<void>
  /**
   * Call `method` on `peer`.
   * @throws RpcError: the remote's code, TIMEOUT, CANCELLED, UNAVAILABLE (dial failed), TOO_LARGE (request over the limit),
   *   INTERNAL (the remote broke the protocol).
   */
  call<I extends DescMessage, O extends DescMessage>(peer: PeerTarget, method: RpcMethod<I, O>, request: MessageInitShape<I>, options?: RpcCallOptions): Promise<MessageShape<O>>
  /** Abort every call in flight, both sides. */
  stop(): void
}

// Envelope overhead allowance on top of the payload (id, method name, deadline, field tags).
const ENVELOPE_BYTES = 512

interface Registered {
  method: RpcMethod
  handler: RpcHandler<DescMessage, DescMessage>
  encode?: ((output: MessageInitShape<DescMessage>) => readonly Uint8Array[]) | undefined
}

class RpcImpl implements Rpc {
  readonly #c: RpcComponents
  readonly #maxMessage: number
  readonly #maxFrame: number
  readonly #defaultTimeout: number
  readonly #maxDeadline: number
  readonly #requestTimeout: number
  readonly #maxIn: number
  readonly #maxOut: number
  readonly #services = new Map<string, Map<string, Registered>>()
  readonly #stopController = new AbortController()
  readonly #sessionMax: number
  readonly #sessionIdle: number
  readonly #callsPerSession: number
  /** Open (or opening) sessions by `peer protocol`. */
  readonly #sessions = new Map<string, Promise<ClientSession | undefined>>()
  /** `peer protocol` pairs whose peer serves no sessions: calls there get a stream each. */
  readonly #noSession = new Set<string>()
  #nextId = 1n

  constructor(components: RpcComponents, init: RpcInit) {
    this.#c = components
    this.#maxMessage = init.maxMessageBytes ?? 1024 * 1024
    if (this.#maxMessage > MAX_FRAME_BYTES - ENVELOPE_BYTES || this.#maxMessage < 1) {
      throw new RangeError(`maxMessageBytes must be 1..${MAX_FRAME_BYTES - ENVELOPE_BYTES}, got ${this.#maxMessage}`)
    }
    this.#maxFrame = this.#maxMessage + ENVELOPE_BYTES
    this.#defaultTimeout = init.defaultTimeoutMs ?? 10_000
    this.#maxDeadline = init.maxDeadlineMs ?? 300_000
    this.#requestTimeout = init.requestTimeoutMs ?? 10_000
    this.#maxIn = init.maxInboundStreams ?? 64
    this.#maxOut = init.maxOutboundStreams ?? 128
    this.#sessionMax = init.sessionMaxRequestBytes ?? 64 * 1024
    this.#sessionIdle = init.sessionIdleMs ?? 60_000
    this.#callsPerSession = init.maxCallsPerSession ?? 64
  }

  async handle<I extends DescMessage, O extends DescMessage>(method: RpcMethod<I, O>, handler: RpcHandler<I, O>, options: RpcHandleOptions<O> = {}): Promise<void> {
    let methods = this.#services.get(method.protocol)
    if (methods?.has(method.method) === true) {
      throw new Error(`${method.protocol} ${method.method} is already handled`)
    }
    if (methods === undefined) {
      methods = new Map()
      this.#services.set(method.protocol, methods)
      const registered = methods
      await this.#c.libp2p.handle(method.protocol, (stream, connection) => this.#serve(method.protocol, registered, stream, connection), {
        maxInboundStreams: this.#maxIn,
        maxOutboundStreams: this.#maxOut,
      })
      const protocol = method.protocol
      await this.#c.libp2p.handle(
        method.sessionProtocol,
        (stream, connection) => {
          const peer = connection.remotePeer.toString()
          return serveSession({
            protocol,
            peer,
            stream,
            maxFrameBytes: this.#maxFrame,
            maxConcurrent: this.#callsPerSession,
            idleMs: this.#sessionIdle * 2,
            stop: this.#stopController.signal,
            metrics: this.#c.metrics,
            invoke: (req, cancelled) => this.#invoke(protocol, registered, req, peer, cancelled),
            violation: (reason, err) => this.#violation(protocol, peer, stream, reason, err),
            describeReadError,
          })
        },
        { maxInboundStreams: this.#maxIn, maxOutboundStreams: this.#maxOut },
      )
    }
    methods.set(method.method, {
      method,
      handler: handler as unknown as RpcHandler<DescMessage, DescMessage>,
      encode: options.encode as Registered['encode'],
    })
  }

  async unhandle(method: RpcMethod): Promise<void> {
    const methods = this.#services.get(method.protocol)
    if (methods === undefined) {
      return
    }
    methods.delete(method.method)
    if (methods.size === 0) {
      this.#services.delete(method.protocol)
      await this.#c.libp2p.unhandle(method.protocol)
      await this.#c.libp2p.unhandle(method.sessionProtocol)
    }
  }

  stop(): void {
    this.#stopController.abort(new RpcError(WireErrorCode.UNAVAILABLE, 'node stopping'))
    for (const opening of this.#sessions.values()) void opening.then((s) => s?.close(), () => {})
    this.#sessions.clear()
  }

  /**
   * The open session to `remote` for `method`'s service, opened if need be; undefined when the peer serves none
   * (remembered: its calls get a stream each).
   * @throws RpcError UNAVAILABLE when the peer cannot be reached
   */
  async #session(peer: PeerTarget, remote: string, method: RpcMethod): Promise<ClientSession | undefined> {
    const key = `${remote} ${method.sessionProtocol}`
    const existing = this.#sessions.get(key)
    if (existing !== undefined) {
      const s = await existing.catch(() => undefined)
      if (s?.open === true) return s
      if (this.#sessions.get(key) === existing) this.#sessions.delete(key)
      if (this.#noSession.has(key)) return undefined
    }
    const opening = (async (): Promise<ClientSession | undefined> => {
      let stream: Stream
      try {
        const signal = abortAfter(this.#defaultTimeout, this.#stopController.signal)
        stream = await this.#c.libp2p.dialProtocol(toDialTarget(peer), method.sessionProtocol, { signal, maxOutboundStreams: this.#maxOut })
      } catch (err) {
        if ((err as Error)?.name === 'UnsupportedProtocolError') {
          this.#noSession.add(key)
          return undefined
        }
        throw new RpcError(WireErrorCode.UNAVAILABLE, `cannot open ${method.sessionProtocol} to ${String(peer)}: ${(err as Error).message}`, { cause: err })
      }
      return new ClientSession(stream, {
        protocol: method.protocol,
        remote,
        maxFrameBytes: this.#maxFrame,
        metrics: this.#c.metrics,
        idleMs: this.#sessionIdle,
        onClose: () => {
          if (this.#sessions.get(key) === opening) this.#sessions.delete(key)
        },
      })
    })()
    this.#sessions.set(key, opening)
    opening.catch(() => {
      if (this.#sessions.get(key) === opening) this.#sessions.delete(key)
    })
    return opening
  }

  #violation(protocol: string, peer: string, stream: Stream, reason: string, err?: unknown): void {
    this.#c.metrics.onBadMessage(protocol, reason)
    this.#c.logger.warn({ protocol, peer, reason, err: err instanceof Error ? err.message : undefined }, 'resetting RPC stream: peer broke the protocol')
    resetStream(stream, new ProtocolViolationError(`${protocol}: ${reason}`))
  }

  async #serve(protocol: string, methods: Map<string, Registered>, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const started = performance.now()
    const reader = new FrameReader(stream, { maxFrameBytes: this.#maxFrame, onBytes: (n) => this.#c.metrics.onBytes(protocol, 'in', n, peer) })
    let methodName = '?'
    let outcome = 'ok'
    try {
      let frame: Uint8Array | null
      try {
        frame = await reader.next({ signal: abortAfter(this.#requestTimeout, this.#stopController.signal) })
      } catch (err) {
        outcome = 'BAD_REQUEST'
        this.#violation(protocol, peer, stream, describeReadError(err, 'request'), err)
        return
      }
      let first: RpcClientFrame
      try {
        if (frame === null) {
          throw new Error('stream ended before a request')
        }
        first = fromBinary(RpcClientFrameSchema, frame)
        if (first.kind.case !== 'request') {
          throw new Error(`first frame must be a request, got ${first.kind.case ?? 'an empty frame'}`)
        }
      } catch (err) {
        outcome = 'BAD_REQUEST'
        this.#violation(protocol, peer, stream, `malformed request frame: ${(err as Error).message}`, err)
        return
      }
      const req = first.kind.value
      methodName = req.method
      const cancel = new AbortController()
      // Watch the rest of the stream: a cancel frame, a reset or garbage all cancel the handler.
      void reader.next({ signal: AbortSignal.any([cancel.signal, this.#stopController.signal]) }).then(
        (next) => {
          if (next === null) {
            return // caller half-closed; it still waits for the answer
          }
          try {
            const f = fromBinary(RpcClientFrameSchema, next)
            if (f.kind.case === 'cancel') {
              cancel.abort(new RpcError(WireErrorCode.CANCELLED, f.kind.value.reason || 'cancelled by caller'))
              return
            }
          } catch {}
          cancel.abort(new RpcError(WireErrorCode.BAD_REQUEST, 'unexpected frame after the request'))
          this.#violation(protocol, peer, stream, 'unexpected frame after the request')
        },
        (err: unknown) => {
          if (!cancel.signal.aborted) {
            cancel.abort(new RpcError(WireErrorCode.CANCELLED, `caller went away: ${(err as Error).message}`))
          }
        },
      )
      const answer = await this.#invoke(protocol, methods, req, peer, cancel.signal)
      outcome = answer.outcome
      if (answer.result === undefined) {
        resetStream(stream, cancel.signal.reason as Error)
        return
      }
      const n = await sendFrameSegments(stream, responseSegments(req.id, answer.result), this.#maxFrame, { signal: AbortSignal.timeout(this.#requestTimeout) })
      this.#c.metrics.onBytes(protocol, 'out', n, peer)
      await closeStream(stream)
    } catch (err) {
      outcome = 'INTERNAL'
      this.#c.logger.debug({ protocol, peer, err: (err as Error)?.message }, 'RPC stream failed')
      resetStream(stream, err as Error)
    } finally {
      reader.dispose()
      this.#c.metrics.onRpc(protocol, methodName, 'server', outcome, (performance.now() - started) / 1000)
    }
  }

  /**
   * Runs one request through its handler: the answer to send, with the call's outcome for metrics; no result when the
   * caller cancelled (nothing is sent back). `cancelled` aborts when the caller cancels or goes away.
   */
  async #invoke(
    protocol: string,
    methods: Map<string, Registered>,
    req: RpcRequest,
    peer: string,
    cancelled: AbortSignal,
  ): Promise<{ result: Answer | undefined; outcome: string }> {
    const fail = (code: WireErrorCode, message: string) => ({
      result: { case: 'error' as const, value: create(WireErrorSchema, { code, message }) },
      outcome: wireErrorCodeName(code),
    })
    const registered = methods.get(req.method)
    if (registered === undefined) return fail(WireErrorCode.UNIMPLEMENTED, `method "${req.method}" is not served on ${protocol}`)
    let input: MessageShape<DescMessage>
    try {
      input = fromBinary(registered.method.input, req.payload)
    } catch (err) {
      this.#c.metrics.onBadMessage(protocol, 'malformed payload')
      return fail(WireErrorCode.BAD_REQUEST, `payload is not a valid ${registered.method.input.typeName}: ${(err as Error).message}`)
    }
    const budget = Math.min(req.deadlineMs > 0 ? req.deadlineMs : this.#defaultTimeout, this.#maxDeadline)
    const linked = linkedSignal([cancelled, this.#stopController.signal], budget)
    const signal = linked.signal
    let output: MessageInitShape<DescMessage>
    try {
      output = await registered.handler(input, { peer, method: req.method, signal, deadline: Date.now() + budget })
    } catch (err) {
      if (signal.aborted) {
        const code = signal.reason instanceof RpcError ? signal.reason.code : WireErrorCode.TIMEOUT
        if (code === WireErrorCode.CANCELLED) return { result: undefined, outcome: 'CANCELLED' }
        return fail(code, signal.reason instanceof RpcError ? signal.reason.detail : `deadline of ${budget} ms passed`)
      }
      if (err instanceof RpcError) return fail(err.code, err.detail)
      this.#c.logger.warn({ protocol, method: req.method, peer, err: (err as Error)?.message }, 'RPC handler failed')
      return fail(WireErrorCode.INTERNAL, (err as Error)?.message ?? 'handler failed')
    } finally {
      linked.dispose()
    }
    if (cancelled.aborted) return { result: undefined, outcome: 'CANCELLED' }
    let segments: readonly Uint8Array[]
    try {
      segments = registered.encode !== undefined ? registered.encode(output) : [toBinary(registered.method.output, create(registered.method.output, output))]
    } catch (err) {
      return fail(WireErrorCode.INTERNAL, `handler returned an invalid ${registered.method.output.typeName}: ${(err as Error).message}`)
    }
    const bytes = segments.reduce((n, seg) => n + seg.byteLength, 0)
    if (bytes > this.#maxMessage) return fail(WireErrorCode.TOO_LARGE, `response of ${bytes} bytes exceeds the limit of ${this.#maxMessage} bytes`)
    return { result: { case: 'ok', segments, bytes }, outcome: 'ok' }
  }

  async call<I extends DescMessage, O extends DescMessage>(
    peer: PeerTarget,
    method: RpcMethod<I, O>,
    request: MessageInitShape<I>,
    options: RpcCallOptions = {},
  ): Promise<MessageShape<O>> {
    const started = performance.now()
    let outcome = 'ok'
    try {
      return await this.#call(peer, method, request, options)
    } catch (err) {
      outcome = err instanceof RpcError ? wireErrorCodeName(err.code) : 'INTERNAL'
      throw err
    } finally {
      this.#c.metrics.onRpc(method.protocol, method.method, 'client', outcome, (performance.now() - started) / 1000)
    }
  }

  async #call<I extends DescMessage, O extends DescMessage>(
    peer: PeerTarget,
    method: RpcMethod<I, O>,
    request: MessageInitShape<I>,
    options: RpcCallOptions,
  ): Promise<MessageShape<O>> {
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeout
    const linked = linkedSignal([this.#stopController.signal, options.signal], timeoutMs)
    const abortError = (): RpcError => {
      if (options.signal?.aborted === true) {
        return new RpcError(WireErrorCode.CANCELLED, 'call cancelled by caller', { cause: options.signal.reason })
      }
      if (linked.timedOut) {
        return new RpcError(WireErrorCode.TIMEOUT, `no answer within ${timeoutMs} ms`)
      }
      return new RpcError(WireErrorCode.UNAVAILABLE, 'node stopping')
    }
    try {
      return await this.#callOn(peer, method, request, timeoutMs, linked.signal, abortError)
    } finally {
      linked.dispose()
    }
  }

  async #callOn<I extends DescMessage, O extends DescMessage>(
    peer: PeerTarget,
    method: RpcMethod<I, O>,
    request: MessageInitShape<I>,
    timeoutMs: number,
    signal: AbortSignal,
    abortError: () => RpcError,
  ): Promise<MessageShape<O>> {
    const payload = toBinary(method.input, create(method.input, request))
    if (payload.byteLength > this.#maxMessage) {
      throw new RpcError(WireErrorCode.TOO_LARGE, `request of ${payload.byteLength} bytes exceeds the limit of ${this.#maxMessage} bytes`)
    }
    const remote = targetPeerId(peer)
    if (remote !== undefined && payload.byteLength <= this.#sessionMax) {
      let session: ClientSession | undefined
      try {
        session = await this.#session(peer, remote, method)
      } catch (err) {
        if (signal.aborted) throw abortError()
        throw err
      }
      if (session !== undefined) {
        const id = this.#nextId++
        const frame = toBinary(
          RpcClientFrameSchema,
          create(RpcClientFrameSchema, { kind: { case: 'request', value: { id, method: method.method, payload, deadlineMs: Math.min(timeoutMs, 0xffffffff) } } }),
        )
        let res: RpcResponse
        try {
          res = await session.call(id, frame, signal)
        } catch (err) {
          if (signal.aborted) throw abortError()
          if (err instanceof RpcError) throw err
          throw new RpcError(WireErrorCode.INTERNAL, (err as Error)?.message ?? String(err), { cause: err })
        }
        return this.#answer(method, res, peer)
      }
    }
    let stream: Stream
    try {
      stream = await this.#c.libp2p.dialProtocol(toDialTarget(peer), method.protocol, { signal, maxOutboundStreams: this.#maxOut })
    } catch (err) {
      if (signal.aborted) {
        throw abortError()
      }
      throw new RpcError(WireErrorCode.UNAVAILABLE, `cannot open ${method.protocol} to ${String(peer)}: ${(err as Error).message}`, { cause: err })
    }
    const id = this.#nextId++
    const reader = new FrameReader(stream, { maxFrameBytes: this.#maxFrame, onBytes: (n) => this.#c.metrics.onBytes(method.protocol, 'in', n, remote) })
    try {
      const frame = toBinary(
        RpcClientFrameSchema,
        create(RpcClientFrameSchema, { kind: { case: 'request', value: { id, method: method.method, payload, deadlineMs: Math.min(timeoutMs, 0xffffffff) } } }),
      )
      const sent = await sendFrame(stream, frame, this.#maxFrame, { signal })
      this.#c.metrics.onBytes(method.protocol, 'out', sent, remote)
      let answer: Uint8Array | null
      try {
        answer = await reader.next({ signal })
      } catch (err) {
        if (signal.aborted) {
          const e = abortError()
          this.#sendCancel(stream, id, e.message)
          throw e
        }
        if ((err as Error)?.name === 'StreamResetError') {
          throw new RpcError(WireErrorCode.UNAVAILABLE, `${String(peer)} dropped the call: ${(err as Error).message}`, { cause: err })
        }
        throw new RpcError(WireErrorCode.INTERNAL, `bad answer from ${String(peer)}: ${(err as Error).message}`, { cause: err })
      }
      if (answer === null) {
        throw new RpcError(WireErrorCode.UNAVAILABLE, `${String(peer)} closed the call without an answer`)
      }
      let res: RpcResponse
      try {
        res = fromBinary(RpcResponseSchema, answer)
      } catch (err) {
        throw new RpcError(WireErrorCode.INTERNAL, `malformed response from ${String(peer)}: ${(err as Error).message}`, { cause: err })
      }
      void closeStream(stream)
      return this.#answer(method, res, peer)
    } catch (err) {
      if (!(err instanceof RpcError)) {
        resetStream(stream, err as Error)
        throw new RpcError(WireErrorCode.INTERNAL, (err as Error).message, { cause: err })
      }
      if (!err.remote) {
        if (err.code !== WireErrorCode.CANCELLED && err.code !== WireErrorCode.TIMEOUT) {
          resetStream(stream, err)
        }
      }
      throw err
    } finally {
      reader.dispose()
    }
  }

  /** The call's result from its response frame. @throws RpcError with the remote's code, or INTERNAL for a bad answer */
  #answer<I extends DescMessage, O extends DescMessage>(method: RpcMethod<I, O>, res: RpcResponse, peer: PeerTarget): MessageShape<O> {
    switch (res.result.case) {
      case 'ok':
        try {
          return fromBinary(method.output, res.result.value)
        } catch (err) {
          throw new RpcError(WireErrorCode.INTERNAL, `response is not a valid ${method.output.typeName}: ${(err as Error).message}`, { cause: err })
        }
      case 'error': {
        const { code, message } = res.result.value
        throw new RpcError(isWireErrorCode(code) ? code : WireErrorCode.INTERNAL, message, { remote: true })
      }
      case undefined:
        throw new RpcError(WireErrorCode.INTERNAL, `empty response from ${String(peer)}`)
      default: {
        const never: never = res.result
        throw new RpcError(WireErrorCode.INTERNAL, `unknown response ${String(never)}`)
      }
    }
  }

  /** Tell the server we gave up, then tear the stream down (in the background). */
  #sendCancel(stream: Stream, id: bigint, reason: string): void {
    void (async () => {
      try {
        const frame = toBinary(RpcClientFrameSchema, create(RpcClientFrameSchema, { kind: { case: 'cancel', value: { id, reason } } }))
        await sendFrame(stream, frame, this.#maxFrame, { signal: AbortSignal.timeout(1_000) })
        await stream.close({ signal: AbortSignal.timeout(1_000) })
      } catch {}
      resetStream(stream, new RpcError(WireErrorCode.CANCELLED, reason))
    })()
  }
}

function describeReadError(err: unknown, what: string): string {
  const e = err as Error
  switch (e?.name) {
    case 'FrameTooLargeError':
      return `oversized ${what} frame: ${e.message}`
    case 'MalformedFrameError':
      return `garbage instead of a ${what} frame: ${e.message}`
    case 'TimeoutError':
      return `no ${what} frame in time`
    default:
      return `failed reading the ${what} frame: ${e?.message ?? String(err)}`
  }
}

/** Create the RPC layer of a node. */
export function createRpc(components: RpcComponents, init: RpcInit = {}): Rpc {
  return new RpcImpl(components, init)
}

export { describeReadError }
