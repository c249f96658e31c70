// RPC sessions (`/weft/rpc/<service>/2.0.0`): one long-lived stream per caller and service carries many calls, the
// same weft.rpc.v1 frames as a one-call stream, matched by request id. A call then costs one frame each way instead
// of a stream opening, a protocol negotiation and a close.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { Stream } from '@libp2p/interface'
import { type RpcClientFrame, RpcClientFrameSchema, type RpcRequest, type RpcResponse, RpcResponseSchema, WireErrorCode, wireErrorCodeName } from '@weft/protocol'
import { RpcError } from './errors.js'
import type { MeshMetrics } from './metrics.js'
import { type Answer, responseSegments } from './rpc-answer.js'
import { closeStream, FrameReader, resetStream, sendFrame, sendFrameSegments } from './stream-io.js'

/** What one served session needs from the RPC layer. */
export interface ServeSessionInit {
  readonly protocol: string
  readonly peer: string
  readonly stream: Stream
  readonly maxFrameBytes: number
  /** Calls of the session running at once; a request past it is answered RESOURCE_EXHAUSTED. */
  readonly maxConcurrent: number
  /** A session with no call in flight and no frame for this long is closed. */
  readonly idleMs: number
  readonly stop: AbortSignal
  readonly metrics: MeshMetrics
  /** Runs one request; no result: the caller cancelled it, nothing is sent. */
  invoke(req: RpcRequest, cancelled: AbortSignal): Promise<{ result: Answer | undefined; outcome: string }>
  /** The caller broke the protocol: the layer records it and resets the stream. */
  violation(reason: string, err?: unknown): void
  describeReadError(err: unknown, what: string): string
}

/** Serves calls on one session stream until the caller closes it, it idles out, or it breaks the protocol. */
export async function serveSession(s: ServeSessionInit): Promise<void> {
  const { stream, protocol, peer } = s
  const reader = new FrameReader(stream, { maxFrameBytes: s.maxFrameBytes, onBytes: (n) => s.metrics.onBytes(protocol, 'in', n, peer) })
  const inflight = new Map<bigint, AbortController>()
  const ended = new AbortController()
  let drained: (() => void) | undefined
  const respond = async (id: bigint, result: Answer): Promise<void> => {
    // A reply waits for the stream's buffer to drain at most until the session ends.
    const n = await sendFrameSegments(stream, responseSegments(id, result), s.maxFrameBytes, { signal: ended.signal })
    s.metrics.onBytes(protocol, 'out', n, peer)
  }
  const run = (req: RpcRequest): void => {
    const cancel = new AbortController()
    inflight.set(req.id, cancel)
    const started = performance.now()
    void s
      .invoke(req, cancel.signal)
      .then(async ({ result, outcome }) => {
        s.metrics.onRpc(protocol, req.method, 'server', outcome as never, (performance.now() - started) / 1000)
        if (result !== undefined && !ended.signal.aborted) await respond(req.id, result)
      })
      .catch(() => {}) // the stream died under the answer: the caller learns it from the stream
      .finally(() => {
        inflight.delete(req.id)
        if (inflight.size === 0) drained?.()
      })
  }
  // Idle: no frame for idleMs while nothing runs (checked by one timer per session, not one per frame). A session
  // with calls in flight waits for them.
  let lastFrame = performance.now()
  const idle = new AbortController()
  const idleCheck = setInterval(() => {
    if (inflight.size === 0 && performance.now() - lastFrame >= s.idleMs) idle.abort(new DOMException('session idle', 'TimeoutError'))
  }, Math.max(10, s.idleMs / 4))
  ;(idleCheck as unknown as { unref?(): void }).unref?.()
  const waiting = AbortSignal.any([idle.signal, s.stop])
  try {
    for (;;) {
      let frame: Uint8Array | null
      try {
        frame = await reader.next({ signal: waiting })
        lastFrame = performance.now()
      } catch (err) {
        if (idle.signal.aborted || s.stop.aborted) break
        s.violation(s.describeReadError(err, 'session'), err)
        return
      }
      if (frame === null) break // the caller closed its side: finish what runs, then close ours
      let f: RpcClientFrame
      try {
        f = fromBinary(RpcClientFrameSchema, frame)
      } catch (err) {
        s.violation(`malformed session frame: ${(err as Error).message}`, err)
        return
      }
      if (f.kind.case === 'cancel') {
        inflight.get(f.kind.value.id)?.abort(new RpcError(WireErrorCode.CANCELLED, f.kind.value.reason || 'cancelled by caller'))
        continue
      }
      if (f.kind.case !== 'request') {
        s.violation('a session frame must be a request or a cancel')
        return
      }
      const req = f.kind.value
      if (inflight.has(req.id)) {
        s.violation(`request id ${req.id} is already in flight on this session`)
        return
      }
      if (inflight.size >= s.maxConcurrent) {
        const code = WireErrorCode.RESOURCE_EXHAUSTED
        s.metrics.onRpc(protocol, req.method, 'server', wireErrorCodeName(code) as never, 0)
        await respond(req.id, { case: 'error', value: { $typeName: 'weft.common.v1.WireError', code, message: `${s.maxConcurrent} calls already run on this session` } })
        continue
      }
      run(req)
    }
    if (inflight.size > 0) await new Promise<void>((resolve) => (drained = resolve))
    await closeStream(stream)
  } catch (err) {
    resetStream(stream, err as Error)
  } finally {
    clearInterval(idleCheck)
    const reason = new RpcError(WireErrorCode.CANCELLED, 'session ended')
    ended.abort(reason)
    for (const c of inflight.values()) c.abort(reason)
    reader.dispose()
  }
}

/** The caller's side of one session: sends request frames, matches responses to their calls by id. */
export class ClientSession {
  readonly #stream: Stream
  readonly #reader: FrameReader
  readonly #protocol: string
  readonly #remote: string
  readonly #maxFrame: number
  readonly #metrics: MeshMetrics
  readonly #idleMs: number
  readonly #pending = new Map<bigint, { resolve(res: RpcResponse): void; reject(err: Error): void }>()
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #closed = false

  constructor(stream: Stream, init: { protocol: string; remote: string; maxFrameBytes: number; metrics: MeshMetrics; idleMs: number; onClose(): void }) {
    this.#stream = stream
    this.#protocol = init.protocol
    this.#remote = init.remote
    this.#maxFrame = init.maxFrameBytes
    this.#metrics = init.metrics
    this.#idleMs = init.idleMs
    this.#reader = new FrameReader(stream, { maxFrameBytes: init.maxFrameBytes, onBytes: (n) => init.metrics.onBytes(init.protocol, 'in', n, init.remote) })
    void this.#readLoop().finally(() => {
      this.#closed = true
      init.onClose()
    })
    this.#armIdle()
  }

  /** False once the stream ended: new calls need a new session. */
  get open(): boolean {
    return !this.#closed && this.#stream.status === 'open'
  }

  /**
   * Sends one request and waits for its response.
   * @throws the signal's reason when it aborts first (a cancel goes to the server); RpcError UNAVAILABLE when the session dies
   */
  async call(id: bigint, frame: Uint8Array, signal: AbortSignal): Promise<RpcResponse> {
    if (!this.open) throw new RpcError(WireErrorCode.UNAVAILABLE, `the session to ${this.#remote} is closed`)
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
    const { promise, resolve, reject } = Promise.withResolvers<RpcResponse>()
    // The session may die (rejecting this) while the request is still being sent, and a send that then fails never
    // awaits it: mark it handled so that is not an unhandled rejection. `await promise` below still sees it.
    promise.catch(() => {})
    this.#pending.set(id, { resolve, reject })
    const onAbort = (): void => {
      if (!this.#pending.delete(id)) return
      reject(signal.reason as Error)
      this.#sendCancel(id, (signal.reason as Error)?.message ?? 'cancelled')
      this.#armIdle()
    }
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const sent = await sendFrame(this.#stream, frame, this.#maxFrame, { signal })
      this.#metrics.onBytes(this.#protocol, 'out', sent, this.#remote)
      return await promise
    } finally {
      signal.removeEventListener('abort', onAbort)
      this.#pending.delete(id)
      this.#armIdle()
    }
  }

  /** Closes the session (calls in flight fail as UNAVAILABLE). */
  close(): void {
    this.#closed = true
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    void closeStream(this.#stream)
  }

  #armIdle(): void {
    if (this.#pending.size > 0 || this.#closed || this.#idleTimer !== undefined) return
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined
      if (this.#pending.size === 0) this.close()
    }, this.#idleMs)
    // Node: an idle session does not keep the process alive.
    ;(this.#idleTimer as unknown as { unref?(): void }).unref?.()
  }

  #sendCancel(id: bigint, reason: string): void {
    const frame = toBinary(RpcClientFrameSchema, create(RpcClientFrameSchema, { kind: { case: 'cancel', value: { id, reason } } }))
    void sendFrame(this.#stream, frame, this.#maxFrame, { signal: AbortSignal.timeout(1_000) }).catch(() => {})
  }

  async #readLoop(): Promise<void> {
    let failure: RpcError | undefined
    try {
      for (;;) {
        const answer = await this.#reader.next()
        if (answer === null) break
        let res: RpcResponse
        try {
          res = fromBinary(RpcResponseSchema, answer)
        } catch (err) {
          failure = new RpcError(WireErrorCode.INTERNAL, `malformed response from ${this.#remote}: ${(err as Error).message}`, { cause: err })
          resetStream(this.#stream, failure)
          break
        }
        // An answer to a call given up on (cancelled, timed out) is dropped.
        const waiter = this.#pending.get(res.id)
        this.#pending.delete(res.id)
        waiter?.resolve(res)
      }
    } catch (err) {
      failure = new RpcError(WireErrorCode.UNAVAILABLE, `${this.#remote} dropped the session: ${(err as Error).message}`, { cause: err })
    } finally {
      this.#reader.dispose()
      if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
      const err = failure ?? new RpcError(WireErrorCode.UNAVAILABLE, `${this.#remote} closed the session without an answer`)
      for (const p of this.#pending.values()) p.reject(err)
      this.#pending.clear()
      if (this.#stream.status === 'open') void closeStream(this.#stream)
    }
  }
}
