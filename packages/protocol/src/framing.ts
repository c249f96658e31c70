// Length-prefixed framing (unsigned LEB128 varint length, then payload) with a max frame size every decoder enforces.
import { FrameTooLargeError, MalformedFrameError } from './errors.js'

/** Largest frame any Weft decoder accepts (4 MiB); protocols set lower limits of their own. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

/** Options for frame decoding. */
export interface FrameDecoderInit {
  /** Frames whose declared length exceeds this are rejected before their payload is read. Default MAX_FRAME_BYTES. */
  maxFrameBytes?: number
}

/** Incremental decoder: push bytes as they arrive, take complete frames out. */
export interface FrameDecoder {
  /**
   * Append received bytes and return every frame now complete, in order.
   * @throws FrameTooLargeError when a declared length exceeds the limit (nothing after it is decoded).
   * @throws MalformedFrameError on a varint longer than any allowed length could need.
   */
  push(bytes: Uint8Array): Uint8Array[]
  /**
   * Like `push`, but each frame comes as the list of views into the pushed buffers that make it up (no copy).
   * The views stay valid as long as the caller does not reuse the buffers it pushed.
   */
  pushSegments(bytes: Uint8Array): Uint8Array[][]
  /** Bytes received but not yet returned as a frame. */
  readonly bufferedBytes: number
  /** True when no partial frame is pending (a clean place for the stream to end). */
  readonly atBoundary: boolean
}

/** Number of bytes the varint encoding of `n` takes. */
export function varintLength(n: number): number {
  let len = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    len++
  }
  return len
}

/**
 * Write `n` (a non-negative safe integer) as an unsigned LEB128 varint into `out` at `offset`.
 * @returns the offset just past the varint.
 */
export function writeVarint(n: number, out: Uint8Array, offset: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`varint value must be a non-negative safe integer, got ${n}`)
  }
  while (n >= 0x80) {
    out[offset++] = (n % 128) | 0x80
    n = Math.floor(n / 128)
  }
  out[offset++] = n
  return offset
}

/** Encode `payload` as one frame: varint(payload.length) || payload. */
export function encodeFrame(payload: Uint8Array, maxFrameBytes: number = MAX_FRAME_BYTES): Uint8Array {
  if (payload.byteLength > maxFrameBytes) {
    throw new FrameTooLargeError(payload.byteLength, maxFrameBytes)
  }
  const out = new Uint8Array(varintLength(payload.byteLength) + payload.byteLength)
  out.set(payload, writeVarint(payload.byteLength, out, 0))
  return out
}

/** Encode just the varint length prefix of a frame whose payload is sent separately (zero-copy senders). */
export function encodeFramePrefix(payloadLength: number, maxFrameBytes: number = MAX_FRAME_BYTES): Uint8Array {
  if (payloadLength > maxFrameBytes) {
    throw new FrameTooLargeError(payloadLength, maxFrameBytes)
  }
  const out = new Uint8Array(varintLength(payloadLength))
  writeVarint(payloadLength, out, 0)
  return out
}

class FrameDecoderImpl implements FrameDecoder {
  readonly #max: number
  readonly #maxVarintBytes: number
  #chunks: Uint8Array[] = []
  #buffered = 0
  #frameLength = -1

  constructor(init: FrameDecoderInit) {
    const max = init.maxFrameBytes ?? MAX_FRAME_BYTES
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new RangeError(`maxFrameBytes must be a non-negative integer, got ${max}`)
    }
    this.#max = max
    this.#maxVarintBytes = varintLength(max)
  }

  get bufferedBytes(): number {
    return this.#buffered
  }

  get atBoundary(): boolean {
    return this.#buffered === 0 && this.#frameLength === -1
  }

  push(bytes: Uint8Array): Uint8Array[] {
    return this.pushSegments(bytes).map(concat)
  }

  pushSegments(bytes: Uint8Array): Uint8Array[][] {
    if (bytes.byteLength > 0) {
      this.#chunks.push(bytes)
      this.#buffered += bytes.byteLength
    }
    const frames: Uint8Array[][] = []
    for (;;) {
      if (this.#frameLength === -1 && !this.#readLength()) {
        return frames
      }
      if (this.#buffered < this.#frameLength) {
        return frames
      }
      frames.push(this.#take(this.#frameLength))
      this.#frameLength = -1
    }
  }

  /** Try to read the varint length prefix; false when more bytes are needed. */
  #readLength(): boolean {
    let value = 0
    let scale = 1
    let i = 0
    for (const chunk of this.#chunks) {
      for (let j = 0; j < chunk.byteLength; j++) {
        const b = chunk[j] as number
        value += (b & 0x7f) * scale
        scale *= 128
        i++
        if ((b & 0x80) === 0) {
          if (value > this.#max) {
            throw new FrameTooLargeError(value, this.#max)
          }
          this.#skip(i)
          this.#frameLength = value
          return true
        }
        if (i >= this.#maxVarintBytes) {
          // Any continuation past this many bytes encodes a length above the limit (or is non-minimal padding).
          throw new MalformedFrameError(`frame length varint longer than ${this.#maxVarintBytes} bytes (limit ${this.#max} bytes)`)
        }
      }
    }
    return false
  }

  #skip(n: number): void {
    this.#buffered -= n
    while (n > 0) {
      const head = this.#chunks[0] as Uint8Array
      if (head.byteLength <= n) {
        n -= head.byteLength
        this.#chunks.shift()
      } else {
        this.#chunks[0] = head.subarray(n)
        n = 0
      }
    }
  }

  #take(n: number): Uint8Array[] {
    const out: Uint8Array[] = []
    while (n > 0) {
      const c = this.#chunks[0] as Uint8Array
      const k = Math.min(c.byteLength, n)
      out.push(k === c.byteLength ? c : c.subarray(0, k))
      this.#skip(k)
      n -= k
    }
    return out
  }
}

/** Join segments into one buffer (no copy for a single segment). */
export function concat(segments: readonly Uint8Array[]): Uint8Array {
  if (segments.length === 1) {
    return segments[0] as Uint8Array
  }
  let n = 0
  for (const s of segments) {
    n += s.byteLength
  }
  const out = new Uint8Array(n)
  let o = 0
  for (const s of segments) {
    out.set(s, o)
    o += s.byteLength
  }
  return out
}

/** Create an incremental frame decoder that enforces `maxFrameBytes`. */
export function createFrameDecoder(init: FrameDecoderInit = {}): FrameDecoder {
  return new FrameDecoderImpl(init)
}

/**
 * Decode a complete buffer of frames.
 * @throws FrameTooLargeError, MalformedFrameError (also when the buffer ends inside a frame).
 */
export function decodeFrames(bytes: Uint8Array, init: FrameDecoderInit = {}): Uint8Array[] {
  const decoder = createFrameDecoder(init)
  const frames = decoder.push(bytes)
  if (!decoder.atBoundary) {
    throw new MalformedFrameError(`buffer ends inside a frame (${decoder.bufferedBytes} bytes left over)`)
  }
  return frames
}
