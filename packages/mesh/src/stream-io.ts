// Frame-level reading and writing on libp2p v3 streams: bounded frames, backpressure both ways, end/reset as values.
import type { AbortOptions, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { concat, createFrameDecoder, encodeFrame, encodeFramePrefix, type FrameDecoder, MalformedFrameError } from '@weft/protocol'

/** Options for a FrameReader. */
export interface FrameReaderInit {
  maxFrameBytes: number
  /** Pause the stream (stop yamux window updates) once this many decoded bytes wait unread. Default 8 MiB. */
  highWaterBytes?: number
  onBytes?(bytes: number): void
}

/** The stream ended because the remote reset it or the connection died. */
export class StreamResetError extends Error {
  override readonly name = 'StreamResetError'
}

/** Reads length-prefixed frames from a stream; decode errors surface from `next()` as thrown errors. */
export class FrameReader {
  readonly #stream: Stream
  readonly #decoder: FrameDecoder
  readonly #high: number
  readonly #onBytes: ((bytes: number) => void) | undefined
  #frames: { segments: Uint8Array[]; length: number }[] = []
  #queued = 0
  #ended = false
  #disposed = false
  #error: Error | undefined
  #wake: (() => void) | undefined

  constructor(stream: Stream, init: FrameReaderInit) {
    this.#stream = stream
    this.#decoder = createFrameDecoder({ maxFrameBytes: init.maxFrameBytes })
    this.#high = init.highWaterBytes ?? 8 * 1024 * 1024
    this.#onBytes = init.onBytes
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('end', this.#onEnd)
    stream.addEventListener('close', this.#onClose)
    if (stream.readableEnded) {
      this.#ended = true
    }
  }

  #onMessage = (evt: StreamMessageEvent): void => {
    if (this.#error !== undefined) {
      return
    }
    const data = evt.data
    this.#onBytes?.(data.byteLength)
    try {
      for (const buf of data instanceof Uint8Array ? [data] : data) {
        for (const segments of this.#decoder.pushSegments(buf)) {
          let length = 0
          for (const seg of segments) {
            length += seg.byteLength
          }
          this.#frames.push({ segments, length })
          this.#queued += length
        }
      }
    } catch (err) {
      this.#error = err as Error
    }
    if (this.#queued > this.#high && this.#stream.readStatus === 'readable') {
      this.#stream.pause()
    }
    this.#notify()
  }

  #onEnd = (): void => {
    this.#ended = true
    this.#notify()
  }

  #onClose = (evt: StreamCloseEvent): void => {
    if (evt.error !== undefined && this.#error === undefined) {
      this.#error = new StreamResetError(`stream closed: ${evt.error.message}`, { cause: evt.error })
    }
    this.#ended = true
    this.#notify()
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /**
   * The next frame, or null when the remote ended its side cleanly at a frame boundary.
   * @throws FrameTooLargeError / MalformedFrameError on bad bytes, StreamResetError on reset, the signal's reason on abort.
   */
  async next(options: AbortOptions = {}): Promise<Uint8Array | null> {
    const segments = await this.nextSegments(options)
    return segments === null ? null : concat(segments)
  }

  /** Like `next`, but the frame comes as views into the received buffers (no copy). */
  async nextSegments(options: AbortOptions = {}): Promise<Uint8Array[] | null> {
    for (;;) {
      if (this.#disposed) {
        return null
      }
      const frame = this.#frames.shift()
      if (frame !== undefined) {
        this.#queued -= frame.length
        if (this.#queued <= this.#high / 2 && this.#stream.readStatus === 'paused') {
          this.#stream.resume()
        }
        return frame.segments
      }
      if (this.#error !== undefined) {
        throw this.#error
      }
      if (this.#ended) {
        if (!this.#decoder.atBoundary) {
          throw new MalformedFrameError(`stream ended inside a frame (${this.#decoder.bufferedBytes} bytes of it received)`)
        }
        return null
      }
      options.signal?.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const signal = options.signal
        const onAbort = (): void => {
          this.#wake = undefined
          reject(signal?.reason)
        }
        this.#wake = () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  /** Stop listening to the stream; a pending or later `next()` resolves null. */
  dispose(): void {
    this.#disposed = true
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('end', this.#onEnd)
    this.#stream.removeEventListener('close', this.#onClose)
    this.#notify()
  }
}

/** Send buffers in order, waiting for 'drain' whenever the stream says its buffer is full. */
export async function sendAll(stream: Stream, buffers: readonly Uint8Array[], options: AbortOptions = {}): Promise<void> {
  for (const buf of buffers) {
    if (!stream.send(buf)) {
      await stream.onDrain(options)
    }
  }
}

/** Send one frame (payload encoded with a varint length prefix). */
export async function sendFrame(stream: Stream, payload: Uint8Array, maxFrameBytes: number, options: AbortOptions = {}): Promise<number> {
  const frame = encodeFrame(payload, maxFrameBytes)
  await sendAll(stream, [frame], options)
  return frame.byteLength
}

/**
 * Send one frame whose payload is the concatenation of `segments`, without joining them: the length prefix and any
 * run of small segments go out as one buffer, large segments as they are. Like a one-buffer send, the whole frame is
 * queued at once, then the call waits for the stream to drain.
 * @returns the frame's length on the wire
 * @throws FrameTooLargeError when the payload is over `maxFrameBytes`
 */
export async function sendFrameSegments(stream: Stream, segments: readonly Uint8Array[], maxFrameBytes: number, options: AbortOptions = {}): Promise<number> {
  const length = segments.reduce((n, s) => n + s.byteLength, 0)
  const prefix = encodeFramePrefix(length, maxFrameBytes)
  const out: Uint8Array[] = []
  let small: Uint8Array[] = [prefix]
  for (const s of segments) {
    if (s.byteLength < SMALL_SEGMENT_BYTES) {
      small.push(s)
      continue
    }
    if (small.length > 0) out.push(concat(small))
    out.push(s)
    small = []
  }
  if (small.length > 0) out.push(concat(small))
  // All of the frame is queued before any wait: a frame sent beside it on the same stream (a session's other
  // answers) can never land between its segments.
  for (const buf of out) stream.send(buf)
  await stream.onDrain(options)
  return prefix.byteLength + length
}

/** Segments under this size are joined with their neighbours before sending (one muxer frame, not several). */
const SMALL_SEGMENT_BYTES = 16 * 1024

/** Abort a stream unless it is already finished. */
export function resetStream(stream: Stream, err: Error): void {
  if (stream.status === 'open' || stream.status === 'closing') {
    stream.abort(err)
  }
}

/** Close our writing side gracefully, then reset whatever is left after `graceMs` so no handle dangles. */
export async function closeStream(stream: Stream, graceMs = 2_000): Promise<void> {
  try {
    await stream.close({ signal: AbortSignal.timeout(graceMs) })
  } catch (err) {
    resetStream(stream, err as Error)
  }
}
