// The one way Weft moves tensors: header, accept/decline, chunked stream with backpressure, sha256-verified, size-bounded.
// Over 500 lines on purpose: the sender and receiver of one streaming protocol (header, verdict, chunks with
// backpressure, hash check, ack) are kept together so their state transitions can be read against each other.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import {
  abortAfter,
  canonicalTensorSetHeader,
  createSha256,
  DeclineReason,
  encodeFramePrefix,
  fromWireDescriptors,
  MAX_FRAME_BYTES,
  type Sha256,
  type TensorInfo,
  type TensorSet,
  type TensorSetHeader,
  TensorSetHeaderSchema,
  type TransferAck,
  TransferAckSchema,
  type TransferReply,
  TransferReplySchema,
  tensorInfos,
  tensorProtocolId,
  tensorSetHash,
  toWireDescriptors,
  validateTensorInfos,
  varintLength,
  WireErrorCode,
  wireErrorCodeName,
  writeVarint,
} from '@weft/protocol'
import { ProtocolViolationError } from './errors.js'
import type { MeshLogger } from './logger.js'
import type { MeshMetrics } from './metrics.js'
import { type PeerTarget, targetPeerId, toDialTarget } from './peer.js'
import { describeReadError } from './rpc.js'
import { closeStream, FrameReader, resetStream, sendAll, sendFrame } from './stream-io.js'

/** Why a receiver may refuse a set. */
export type TensorDeclineReason = 'already-have' | 'too-large' | 'not-wanted'

/** A receiver's answer to a header: accept (true), decline as 'not-wanted' (false), or decline with a reason and message. */
export type TensorVerdict = boolean | TensorDeclineReason | { readonly decline: TensorDeclineReason; readonly message: string }

/** Thrown by `onReceive` to refuse a set after it arrived; the sender sees `rejected` with this code and message. */
export class TensorRejectedError extends Error {
  override name = 'TensorRejectedError'
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** What a receiver learns before any data moves. */
export interface IncomingTensorSet {
  readonly purpose: string
  /** sha256 of the set's canonical encoding (see @weft/protocol tensorSetHash). */
  readonly contentHash: Uint8Array
  readonly totalBytes: number
  readonly tensors: readonly TensorInfo[]
  /** Opaque application metadata from the sender. */
  readonly metadata: Uint8Array
}

/** A verified set handed to the receiver. */
export interface ReceivedTensorSet extends IncomingTensorSet {
  readonly set: TensorSet
  readonly seconds: number
}

/** How one purpose's incoming transfers are judged and delivered. */
export interface TensorHandlerInit {
  /** Sets larger than this are declined (announced) or cut off (actual data). */
  maxBytes: number
  /** True when this content is held already: the transfer is declined as 'already-have' before data moves. */
  has?(contentHash: Uint8Array, header: IncomingTensorSet): boolean | Promise<boolean>
  /** Decide on a header: true accepts, false declines as 'not-wanted', a reason declines with that reason. */
  accept?(header: IncomingTensorSet, from: string): TensorVerdict | Promise<TensorVerdict>
  /**
   * Where to put one tensor's bytes (exactly `info.byteLength` long): a pooled or preallocated buffer saves the
   * allocation. Its contents are undefined unless the set verifies. Default: a fresh Uint8Array.
   */
  allocate?(info: TensorInfo, header: IncomingTensorSet): Uint8Array
  /** Called with each verified set; the sender is told 'ok' once this resolves (a throw answers INTERNAL). */
  onReceive(received: ReceivedTensorSet, from: string): void | Promise<void>
}

/** Per-transfer options. */
export interface TensorSendOptions {
  signal?: AbortSignal
  /** Whole transfer, header to ack (default TensorsInit.defaultTimeoutMs). */
  timeoutMs?: number
  /** Opaque bytes for the receiver (round id...), at most 64 KiB. */
  metadata?: Uint8Array
  /** The set's content hash when the caller computed it already (sending one set to many peers). */
  contentHash?: Uint8Array
  /** Called once every data byte has been handed to the stream, before the receiver's ack: the link is free again. */
  onSent?: () => void
}

/** How a transfer ended. Declines, rejections, timeouts and unreachable peers are values, not exceptions. */
export type TensorSendResult =
  | { ok: true; bytes: number; seconds: number }
  | {
      ok: false
      reason: 'declined-already-have' | 'declined-too-large' | 'declined-not-wanted' | 'rejected' | 'timeout' | 'cancelled' | 'unavailable' | 'failed'
      /** The wire code when the receiver rejected the data. */
      code?: WireErrorCode
      message: string
    }

/** Tensor transfer settings. */
export interface TensorsInit {
  /** Data bytes per chunk frame (default 1 MiB). */
  chunkBytes?: number
  /** Transfer timeout when the sender gives none (default 10 min). */
  defaultTimeoutMs?: number
  /** Receiver: longest wait for the header or between chunks (default 30 s). */
  idleTimeoutMs?: number
  /** Concurrent inbound transfers per connection per purpose (default 8). */
  maxInboundStreams?: number
  /** Concurrent outbound transfers per connection per purpose (default 16). */
  maxOutboundStreams?: number
  /**
   * Sets of at most this many bytes are sent eagerly: the chunks follow the header without waiting for the reply,
   * which saves a round trip; a decline then wastes at most this much. A receiver discards up to this much of an
   * eager set it declines, and resets the stream beyond it. Default 1 MiB; 0 turns it off.
   */
  eagerBytes?: number
}

/** What the transfer layer needs from the node. */
export interface TensorsComponents {
  libp2p: Libp2p
  metrics: MeshMetrics
  logger: MeshLogger
  /** sha256 factory (default @noble/hashes through @weft/protocol; Node passes node:crypto's, which is faster). */
  createSha256?: () => Sha256
}

/** Tensor-set transfer for every purpose a node serves or sends. */
export interface Tensors {
  /** Receive sets for `purpose` on `/weft/tensors/<purpose>/1.0.0`. Throws if the purpose is handled already. */
  handle(purpose: string, init: TensorHandlerInit): Promise<void>
  unhandle(purpose: string): Promise<void>
  /**
   * Send `set` to `peer` for `purpose`. Do not mutate the tensors' data until this resolves.
   * @throws InvalidTensorSetError when `set` is malformed, RangeError for bad options (programming errors);
   *   every other outcome (declined, rejected, timeout, cancelled, unreachable) is a value.
   */
  send(peer: PeerTarget, purpose: string, set: TensorSet, options?: TensorSendOptions): Promise<TensorSendResult>
  stop(): void
}

const MAX_METADATA = 64 * 1024
const MAX_CHUNK_OVERHEAD = 32

const DECLINE_FROM_WIRE: Record<number, TensorDeclineReason> = {
  [DeclineReason.ALREADY_HAVE]: 'already-have',
  [DeclineReason.TOO_LARGE]: 'too-large',
  [DeclineReason.NOT_WANTED]: 'not-wanted',
}
const DECLINE_TO_WIRE: Record<TensorDeclineReason, DeclineReason> = {
  'already-have': DeclineReason.ALREADY_HAVE,
  'too-large': DeclineReason.TOO_LARGE,
  'not-wanted': DeclineReason.NOT_WANTED,
}

class TransferRejected extends Error {
  override readonly name = 'TransferRejected'
  readonly code: WireErrorCode
  constructor(code: WireErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** First capacity of a default tensor buffer that grows as its data arrives. */
const INITIAL_SINK_BYTES = 1024 * 1024

/**
 * Where one incoming tensor's bytes go. The buffer is taken on the first write: the handler's `allocate`, else a
 * buffer of at most 1 MiB that doubles as data arrives, up to the tensor's size (at most one copy of what arrived per
 * doubling, so under 2× the bytes in copies overall).
 */
class TensorSink {
  readonly #size: number
  readonly #take: () => Uint8Array | undefined
  #buf: Uint8Array | undefined
  #fixed = false
  #filled = 0

  constructor(info: TensorInfo, take: () => Uint8Array | undefined) {
    this.#size = info.byteLength
    this.#take = take
  }

  get full(): boolean {
    return this.#filled === this.#size
  }

  /** Copies as much of `src` as this tensor still needs; returns how many bytes it took. */
  write(src: Uint8Array): number {
    const k = Math.min(this.#size - this.#filled, src.byteLength)
    if (this.#buf === undefined) {
      const given = this.#take()
      this.#fixed = given !== undefined
      this.#buf = given ?? new Uint8Array(Math.min(this.#size, Math.max(INITIAL_SINK_BYTES, k)))
    }
    if (!this.#fixed && this.#filled + k > this.#buf.byteLength) {
      const grown = new Uint8Array(Math.min(this.#size, Math.max(this.#buf.byteLength * 2, this.#filled + k)))
      grown.set(this.#buf.subarray(0, this.#filled))
      this.#buf = grown
    }
    this.#buf.set(k === src.byteLength ? src : src.subarray(0, k), this.#filled)
    this.#filled += k
    return k
  }

  /** The tensor's bytes, once full (an empty tensor has no buffer until asked). */
  bytes(): Uint8Array {
    return this.#buf ?? this.#take() ?? new Uint8Array(0)
  }
}

class TensorsImpl implements Tensors {
  readonly #c: TensorsComponents
  readonly #chunk: number
  readonly #defaultTimeout: number
  readonly #idle: number
  readonly #maxIn: number
  readonly #maxOut: number
  readonly #eager: number
  readonly #handlers = new Map<string, TensorHandlerInit>()
  readonly #stop = new AbortController()
  readonly #sha: () => Sha256

  constructor(components: TensorsComponents, init: TensorsInit) {
    this.#c = components
    this.#chunk = init.chunkBytes ?? 1024 * 1024
    if (!Number.isSafeInteger(this.#chunk) || this.#chunk < 1 || this.#chunk > MAX_FRAME_BYTES - MAX_CHUNK_OVERHEAD) {
      throw new RangeError(`chunkBytes must be 1..${MAX_FRAME_BYTES - MAX_CHUNK_OVERHEAD}, got ${this.#chunk}`)
    }
    this.#defaultTimeout = init.defaultTimeoutMs ?? 600_000
    this.#idle = init.idleTimeoutMs ?? 30_000
    this.#maxIn = init.maxInboundStreams ?? 8
    this.#maxOut = init.maxOutboundStreams ?? 16
    this.#eager = init.eagerBytes ?? 1024 * 1024
    if (!Number.isSafeInteger(this.#eager) || this.#eager < 0) {
      throw new RangeError(`eagerBytes must be a non-negative integer, got ${this.#eager}`)
    }
    this.#sha = components.createSha256 ?? (() => createSha256())
  }

  async handle(purpose: string, init: TensorHandlerInit): Promise<void> {
    const protocol = tensorProtocolId(purpose)
    if (this.#handlers.has(purpose)) {
      throw new Error(`tensor purpose "${purpose}" is already handled`)
    }
    if (!Number.isSafeInteger(init.maxBytes) || init.maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative integer, got ${init.maxBytes}`)
    }
    this.#handlers.set(purpose, init)
    await this.#c.libp2p.handle(protocol, (stream, connection) => this.#receive(purpose, protocol, init, stream, connection), {
      maxInboundStreams: this.#maxIn,
      maxOutboundStreams: this.#maxOut,
    })
  }

  async unhandle(purpose: string): Promise<void> {
    if (this.#handlers.delete(purpose)) {
      await this.#c.libp2p.unhandle(tensorProtocolId(purpose))
    }
  }

  stop(): void {
    this.#stop.abort(new Error('node stopping'))
  }

  async #receive(purpose: string, protocol: string, init: TensorHandlerInit, stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const started = performance.now()
    let outcome = 'ok'
    let received = 0
    // Paused streams keep receiving up to one yamux window (16 MiB) before the remote stops: allow for it.
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, 64 * 1024 * 1024)
    const reader = new FrameReader(stream, { maxFrameBytes: MAX_FRAME_BYTES, onBytes: (n) => this.#c.metrics.onBytes(protocol, 'in', n, from) })
    const idle = (): AbortSignal => abortAfter(this.#idle, this.#stop.signal)
    const violation = (reason: string, err?: unknown): void => {
      outcome = 'BAD_REQUEST'
      this.#c.metrics.onBadMessage(protocol, reason)
      this.#c.logger.warn({ protocol, peer: from, reason, err: err instanceof Error ? err.message : undefined }, 'resetting tensor stream: peer broke the protocol')
      resetStream(stream, new ProtocolViolationError(`${protocol}: ${reason}`))
    }
    const reply = async (r: TransferReply['kind']): Promise<void> => {
      const n = await sendFrame(stream, toBinary(TransferReplySchema, create(TransferReplySchema, { kind: r })), MAX_FRAME_BYTES, { signal: idle() })
      this.#c.metrics.onBytes(protocol, 'out', n, from)
    }
    const ack = async (result: TransferAck['result']): Promise<void> => {
      const n = await sendFrame(stream, toBinary(TransferAckSchema, create(TransferAckSchema, { result })), MAX_FRAME_BYTES, { signal: idle() })
      this.#c.metrics.onBytes(protocol, 'out', n, from)
      await closeStream(stream)
    }
    try {
      // 1. Header.
      let frame: Uint8Array | null
      try {
        frame = await reader.next({ signal: idle() })
      } catch (err) {
        violation(describeReadError(err, 'header'), err)
        return
      }
      let header: IncomingTensorSet
      let eager: boolean
      try {
        if (frame === null) {
          throw new Error('stream ended before a header')
        }
        const wire = fromBinary(TensorSetHeaderSchema, frame)
        header = parseHeader(wire, purpose)
        eager = wire.eager
      } catch (err) {
        violation(`malformed header: ${(err as Error).message}`, err)
        return
      }
      // 2. Accept or decline.
      let decline: TensorDeclineReason | undefined
      let declineMessage = ''
      if (header.totalBytes > init.maxBytes) {
        decline = 'too-large'
        declineMessage = `${header.totalBytes} bytes is more than the ${init.maxBytes} this receiver takes for ${purpose}`
      } else if ((await init.has?.(header.contentHash, header)) === true) {
        decline = 'already-have'
      } else if (init.accept !== undefined) {
        const verdict = await init.accept(header, from)
        if (typeof verdict === 'object') {
          decline = verdict.decline
          declineMessage = verdict.message
        } else {
          decline = verdict === true ? undefined : verdict === false ? 'not-wanted' : verdict
        }
      }
      if (decline !== undefined) {
        outcome = `declined-${decline}`
        await reply({ case: 'decline', value: { $typeName: 'weft.tensor.v1.TransferDecline', reason: DECLINE_TO_WIRE[decline], message: declineMessage } })
        // The chunks of an eager set are on their way: read and drop them (bounded) so the sender can finish.
        if (eager && !(await this.#discard(reader, stream, Math.min(header.totalBytes, this.#eager), idle))) return
        await closeStream(stream)
        return
      }
      await reply({ case: 'accept', value: { $typeName: 'weft.tensor.v1.TransferAccept' } })
      // 3. Chunks, hashed as they come. Memory follows the bytes that actually arrive, not the announced size: a
      // tensor's buffer is taken when its first byte does, and a default buffer grows (doubling) as its data comes,
      // so a peer that announces a large set and sends little holds little (issue 15, finding 9).
      const buffers = header.tensors.map((t) => new TensorSink(t, () => this.#allocate(init, t, header)))
      const hash = this.#sha()
      hash.update(canonicalTensorSetHeader(header.tensors))
      let ti = 0
      while (received < header.totalBytes) {
        let chunkFrame: Uint8Array[] | null
        try {
          chunkFrame = await reader.nextSegments({ signal: idle() })
        } catch (err) {
          violation(describeReadError(err, 'chunk'), err)
          return
        }
        if (chunkFrame === null) {
          violation(`stream ended after ${received} of ${header.totalBytes} bytes`)
          return
        }
        let offset: number
        let data: Uint8Array[]
        let dataLength: number
        try {
          ;({ offset, data, dataLength } = parseChunk(chunkFrame))
        } catch (err) {
          violation(`malformed chunk: ${(err as Error).message}`, err)
          return
        }
        if (offset !== received) {
          violation(`chunk at offset ${offset}, expected ${received}`)
          return
        }
        if (received + dataLength > header.totalBytes) {
          outcome = 'TOO_LARGE'
          this.#c.metrics.onBadMessage(protocol, 'more data than announced')
          this.#c.logger.warn({ protocol, peer: from }, 'tensor sender exceeded its announced size')
          await ack({ case: 'error', value: { $typeName: 'weft.common.v1.WireError', code: WireErrorCode.TOO_LARGE, message: `more than the announced ${header.totalBytes} bytes` } }).catch(() => {})
          resetStream(stream, new ProtocolViolationError('more data than announced'))
          return
        }
        received += dataLength
        for (let src of data) {
          hash.update(src)
          while (src.byteLength > 0) {
            while ((buffers[ti] as TensorSink).full) ti++
            src = src.subarray((buffers[ti] as TensorSink).write(src))
          }
        }
      }
      // 4. Verify, deliver, ack.
      const digest = hash.digest()
      if (!equalBytes(digest, header.contentHash)) {
        outcome = 'HASH_MISMATCH'
        this.#c.metrics.onBadMessage(protocol, 'hash mismatch')
        this.#c.logger.warn({ protocol, peer: from, bytes: received }, 'tensor set failed its content hash; dropped')
        await ack({ case: 'error', value: { $typeName: 'weft.common.v1.WireError', code: WireErrorCode.HASH_MISMATCH, message: 'data does not match the announced content hash' } })
        return
      }
      const set: TensorSet = header.tensors.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: (buffers[i] as TensorSink).bytes() }))
      try {
        await init.onReceive({ ...header, set, seconds: (performance.now() - started) / 1000 }, from)
      } catch (err) {
        const rejected = err instanceof TensorRejectedError
        outcome = rejected ? wireErrorCodeName(err.code) : 'INTERNAL'
        if (!rejected) this.#c.logger.warn({ protocol, peer: from, err: (err as Error)?.message }, 'tensor onReceive failed')
        const code = rejected ? err.code : WireErrorCode.INTERNAL
        await ack({ case: 'error', value: { $typeName: 'weft.common.v1.WireError', code, message: (err as Error)?.message ?? 'receiver failed' } })
        return
      }
      await ack({ case: 'ok', value: { $typeName: 'weft.tensor.v1.TransferOk' } })
    } catch (err) {
      outcome = 'INTERNAL'
      this.#c.logger.debug({ protocol, peer: from, err: (err as Error)?.message }, 'tensor receive failed')
      resetStream(stream, err as Error)
    } finally {
      reader.dispose()
      this.#c.metrics.onTensorTransfer(purpose, 'in', outcome, received, (performance.now() - started) / 1000)
    }
  }

  #allocate(init: TensorHandlerInit, t: TensorInfo, header: IncomingTensorSet): Uint8Array | undefined {
    if (init.allocate === undefined) return undefined
    const buf = init.allocate(t, header)
    if (buf.byteLength !== t.byteLength) {
      throw new RangeError(`allocate() returned ${buf.byteLength} bytes for tensor "${t.name}", which needs ${t.byteLength}`)
    }
    return buf
  }

  /** Reads and drops what a sender streams after a declined eager header, up to `limit` data bytes; false: reset. */
  async #discard(reader: FrameReader, stream: Stream, limit: number, idle: () => AbortSignal): Promise<boolean> {
    let dropped = 0
    try {
      for (;;) {
        const segments = await reader.nextSegments({ signal: idle() })
        if (segments === null) return true
        for (const s of segments) dropped += s.byteLength
        // Each chunk frame carries a few bytes of offset and length besides its data.
        if (dropped > limit + MAX_CHUNK_OVERHEAD * (1 + Math.ceil(limit / this.#chunk))) {
          resetStream(stream, new ProtocolViolationError(`more than ${limit} bytes after a declined eager header`))
          return false
        }
      }
    } catch {
      // A cut frame or a reset from the sender: nothing here to keep either way.
      resetStream(stream, new Error('declined eager transfer ended'))
      return false
    }
  }

  async send(peer: PeerTarget, purpose: string, set: TensorSet, options: TensorSendOptions = {}): Promise<TensorSendResult> {
    const protocol = tensorProtocolId(purpose)
    const infos = tensorInfos(set)
    const total = validateTensorInfos(infos)
    const metadata = options.metadata ?? new Uint8Array(0)
    if (metadata.byteLength > MAX_METADATA) {
      throw new RangeError(`metadata must be at most ${MAX_METADATA} bytes, got ${metadata.byteLength}`)
    }
    if (options.contentHash !== undefined && options.contentHash.byteLength !== 32) {
      throw new RangeError(`contentHash must be a 32-byte sha256, got ${options.contentHash.byteLength} bytes`)
    }
    const started = performance.now()
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeout
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = AbortSignal.any([timeout, this.#stop.signal, ...(options.signal !== undefined ? [options.signal] : [])])
    let sent = 0
    const finish = (r: TensorSendResult): TensorSendResult => {
      this.#c.metrics.onTensorTransfer(purpose, 'out', r.ok ? 'ok' : r.code !== undefined ? wireErrorCodeName(r.code) : r.reason, sent, (performance.now() - started) / 1000)
      return r
    }
    const aborted = (): TensorSendResult =>
      options.signal?.aborted === true
        ? { ok: false, reason: 'cancelled', message: 'transfer cancelled by caller' }
        : timeout.aborted
          ? { ok: false, reason: 'timeout', message: `transfer did not finish within ${timeoutMs} ms` }
          : { ok: false, reason: 'cancelled', message: 'node stopping' }
    // The stream opens (a round trip) while the hash is computed.
    const opening = this.#c.libp2p.dialProtocol(toDialTarget(peer), protocol, { signal, maxOutboundStreams: this.#maxOut })
    opening.catch(() => {})
    let contentHash: Uint8Array
    try {
      contentHash = options.contentHash ?? tensorSetHash(set, { createSha256: this.#sha })
    } catch (err) {
      void opening.then((s) => resetStream(s, err as Error), () => {})
      throw err
    }
    let stream: Stream
    try {
      stream = await opening
    } catch (err) {
      return finish(signal.aborted ? aborted() : { ok: false, reason: 'unavailable', message: `cannot open ${protocol} to ${String(peer)}: ${errorMessage(err)}` })
    }
    const remote = targetPeerId(peer)
    const reader = new FrameReader(stream, { maxFrameBytes: MAX_FRAME_BYTES, onBytes: (n) => this.#c.metrics.onBytes(protocol, 'in', n, remote) })
    try {
      const eager = total <= this.#eager
      const header = create(TensorSetHeaderSchema, { purpose, contentHash, totalBytes: BigInt(total), tensors: toWireDescriptors(infos), metadata, eager })
      this.#c.metrics.onBytes(protocol, 'out', await sendFrame(stream, toBinary(TensorSetHeaderSchema, header), MAX_FRAME_BYTES, { signal }), remote)
      // Chunks: [frame length][field 1: offset][field 2: data length][data], data sent as a view, not copied.
      const writeChunks = async (): Promise<void> => {
        for (const t of set) {
          for (let o = 0; o < t.data.byteLength; o += this.#chunk) {
            const data = t.data.subarray(o, Math.min(o + this.#chunk, t.data.byteLength))
            const head = chunkHead(sent, data.byteLength)
            await sendAll(stream, [head, data], { signal })
            sent += data.byteLength
            this.#c.metrics.onBytes(protocol, 'out', head.byteLength + data.byteLength, remote)
          }
        }
      }
      // An eager set streams while the reply is on its way; otherwise nothing moves before the receiver accepts.
      const writing = eager ? writeChunks() : undefined
      writing?.catch(() => {})
      const replyFrame = await reader.next({ signal })
      if (replyFrame === null) {
        throw new TransferRejected(WireErrorCode.UNAVAILABLE, 'receiver closed the stream without answering the header')
      }
      const reply = fromBinary(TransferReplySchema, replyFrame)
      if (reply.kind.case === 'decline') {
        const why = DECLINE_FROM_WIRE[reply.kind.value.reason] ?? 'not-wanted'
        // The receiver drains what is already under way (at most eagerBytes); let it finish and close cleanly.
        await writing?.catch(() => {})
        void closeStream(stream)
        return finish({ ok: false, reason: `declined-${why}`, message: reply.kind.value.message || `receiver declined: ${why}` })
      }
      if (reply.kind.case !== 'accept') {
        throw new TransferRejected(WireErrorCode.INTERNAL, 'receiver sent an empty reply')
      }
      await (writing ?? writeChunks())
      options.onSent?.()
      await stream.close({ signal })
      const ackFrame = await reader.next({ signal })
      if (ackFrame === null) {
        throw new TransferRejected(WireErrorCode.UNAVAILABLE, 'receiver closed the stream without an ack')
      }
      const ack = fromBinary(TransferAckSchema, ackFrame)
      if (ack.result.case === 'ok') {
        return finish({ ok: true, bytes: sent, seconds: (performance.now() - started) / 1000 })
      }
      if (ack.result.case === 'error') {
        return finish({ ok: false, reason: 'rejected', code: ack.result.value.code, message: ack.result.value.message })
      }
      throw new TransferRejected(WireErrorCode.INTERNAL, 'receiver sent an empty ack')
    } catch (err) {
      resetStream(stream, err as Error)
      if (signal.aborted) {
        return finish(aborted())
      }
      if (err instanceof TransferRejected) {
        return finish({ ok: false, reason: 'failed', code: err.code, message: err.message })
      }
      return finish({ ok: false, reason: 'failed', message: `transfer to ${String(peer)} failed: ${errorMessage(err)}` })
    } finally {
      reader.dispose()
    }
  }
}

/** Decode a TensorChunk frame given as segments, leaving the data as views (the frame is never joined). */
function parseChunk(segments: Uint8Array[]): { offset: number; data: Uint8Array[]; dataLength: number } {
  let si = 0
  let pos = 0
  const byte = (): number => {
    for (;;) {
      const seg = segments[si]
      if (seg === undefined) {
        throw new Error('truncated chunk')
      }
      if (pos < seg.byteLength) {
        return seg[pos++] as number
      }
      si++
      pos = 0
    }
  }
  const varint = (): number => {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      const b = byte()
      value += (b & 0x7f) * scale
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) {
          break
        }
        return value
      }
      scale *= 128
    }
    throw new Error('varint too long')
  }
  const atEnd = (): boolean => {
    while (si < segments.length && pos >= (segments[si] as Uint8Array).byteLength) {
      si++
      pos = 0
    }
    return si >= segments.length
  }
  let offset = 0
  let data: Uint8Array[] | undefined
  let dataLength = 0
  while (!atEnd()) {
    const tag = varint()
    if (tag === 0x08) {
      offset = varint()
    } else if (tag === 0x12 && data === undefined) {
      dataLength = varint()
      data = []
      let left = dataLength
      while (left > 0) {
        if (atEnd()) {
          throw new Error('truncated chunk data')
        }
        const seg = segments[si] as Uint8Array
        const k = Math.min(seg.byteLength - pos, left)
        data.push(seg.subarray(pos, pos + k))
        pos += k
        left -= k
      }
    } else {
      throw new Error(`unexpected field tag ${tag}`)
    }
  }
  return { offset, data: data ?? [], dataLength }
}

function chunkHead(offset: number, dataLength: number): Uint8Array {
  const inner = 1 + varintLength(offset) + 1 + varintLength(dataLength)
  const frameLength = inner + dataLength
  const prefix = encodeFramePrefix(frameLength)
  const out = new Uint8Array(prefix.byteLength + inner)
  out.set(prefix, 0)
  let o = prefix.byteLength
  out[o++] = 0x08 // field 1 (offset), varint
  o = writeVarint(offset, out, o)
  out[o++] = 0x12 // field 2 (data), length-delimited
  writeVarint(dataLength, out, o)
  return out
}

function parseHeader(h: TensorSetHeader, purpose: string): IncomingTensorSet {
  if (h.purpose !== purpose) {
    throw new Error(`header purpose "${h.purpose}" does not match the protocol's "${purpose}"`)
  }
  if (h.contentHash.byteLength !== 32) {
    throw new Error(`content hash must be 32 bytes (sha256), got ${h.contentHash.byteLength}`)
  }
  if (h.metadata.byteLength > MAX_METADATA) {
    throw new Error(`metadata of ${h.metadata.byteLength} bytes exceeds ${MAX_METADATA}`)
  }
  const tensors = fromWireDescriptors(h.tensors)
  const total = validateTensorInfos(tensors)
  if (BigInt(total) !== h.totalBytes) {
    throw new Error(`total_bytes ${h.totalBytes} does not match the descriptors' sum ${total}`)
  }
  return { purpose, contentHash: h.contentHash, totalBytes: total, tensors, metadata: h.metadata }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) {
    return false
  }
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) {
    diff |= (a[i] as number) ^ (b[i] as number)
  }
  return diff === 0
}

/** Create the tensor transfer layer of a node. */
export function createTensors(components: TensorsComponents, init: TensorsInit = {}): Tensors {
  return new TensorsImpl(components, init)
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return `${err.name}: ${err.message}`
  }
  if (err instanceof Event) {
    const inner = (err as Event & { error?: unknown }).error
    return `${err.type} event${inner !== undefined ? ` (${errorMessage(inner)})` : ''}`
  }
  return String(err)
}
