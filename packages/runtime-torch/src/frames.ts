// The framed binary protocol between Node and the PyTorch worker (python/weft_torch_worker.py).
//
//   frame = u32 LE body length, body
//   body  = u32 LE header length, header (UTF-8 JSON: control fields only), zero padding to 8 bytes,
//           then each buffer the header lists in `buffers` ({ dtype, shape }), raw little-endian, padded to 8 bytes
//
// Tensors travel only as raw buffers; the JSON header carries names, numbers and shapes.
import { FrameError } from './errors.js'

/** Element types that cross the pipe. */
export type FrameDtype = 'float32' | 'float64' | 'int32' | 'uint8'

/** A typed array that can travel as a buffer. */
export type FrameArray = Float32Array | Float64Array | Int32Array | Uint8Array

/** Control fields of a frame. `buffers` is filled in by `encodeFrame`. */
export type FrameHeader = Record<string, unknown>

export interface Frame {
  readonly header: FrameHeader
  readonly buffers: FrameArray[]
}

/** Largest body accepted either way (2 GiB − 1: the worker reads it into one buffer). */
export const MAX_FRAME_BYTES = 2 ** 31 - 1
/** Largest JSON header accepted. */
export const MAX_HEADER_BYTES = 1 << 20

const BYTES: Record<FrameDtype, number> = { float32: 4, float64: 8, int32: 4, uint8: 1 }

const pad8 = (n: number): number => (8 - (n % 8)) % 8

function dtypeOf(a: FrameArray): FrameDtype {
  if (a instanceof Float32Array) return 'float32'
  if (a instanceof Float64Array) return 'float64'
  if (a instanceof Int32Array) return 'int32'
  if (a instanceof Uint8Array) return 'uint8'
  throw new TypeError('frame buffers must be Float32Array, Float64Array, Int32Array or Uint8Array')
}

/** One buffer to send: the array and its shape (default: one dimension). */
export interface OutBuffer {
  readonly data: FrameArray
  readonly shape?: readonly number[]
}

/**
 * Encodes a frame as a list of chunks to write in order (buffers are not copied).
 * @throws FrameError when the header or the whole frame is over its limit
 */
export function encodeFrame(header: FrameHeader, buffers: readonly OutBuffer[] = []): Uint8Array[] {
  const specs = buffers.map((b) => ({ dtype: dtypeOf(b.data), shape: b.shape === undefined ? [b.data.length] : [...b.shape] }))
  for (const [i, b] of buffers.entries()) {
    const n = specs[i]!.shape.reduce((a, d) => a * d, 1)
    if (n !== b.data.length) throw new FrameError(`buffer ${i} has ${b.data.length} values, its shape says ${n}`)
  }
  const json = new TextEncoder().encode(JSON.stringify(specs.length > 0 ? { ...header, buffers: specs } : header))
  if (json.length > MAX_HEADER_BYTES) throw new FrameError(`frame header of ${json.length} bytes is over ${MAX_HEADER_BYTES}`)
  const headPad = pad8(4 + json.length)
  let body = 4 + json.length + headPad
  for (const b of buffers) body += b.data.byteLength + pad8(b.data.byteLength)
  if (body > MAX_FRAME_BYTES) throw new FrameError(`frame of ${body} bytes is over ${MAX_FRAME_BYTES}`)
  const prefix = new Uint8Array(8 + json.length + headPad)
  const view = new DataView(prefix.buffer)
  view.setUint32(0, body, true)
  view.setUint32(4, json.length, true)
  prefix.set(json, 8)
  const out: Uint8Array[] = [prefix]
  for (const b of buffers) {
    out.push(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength))
    const p = pad8(b.data.byteLength)
    if (p > 0) out.push(new Uint8Array(p))
  }
  return out
}

/**
 * Decodes one frame body (without its length prefix). Buffers are fresh, aligned copies.
 * @throws FrameError for a malformed body
 */
export function decodeFrameBody(body: Uint8Array): Frame {
  if (body.length < 4) throw new FrameError('frame body shorter than its header length')
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const hlen = view.getUint32(0, true)
  if (hlen > MAX_HEADER_BYTES || 4 + hlen > body.length) throw new FrameError(`frame header length ${hlen} is out of range`)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + hlen)))
  } catch (err) {
    throw new FrameError(`frame header is not JSON: ${(err as Error).message}`)
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new FrameError('frame header is not an object')
  const h = header as FrameHeader
  let offset = 4 + hlen
  offset += pad8(offset)
  const buffers: FrameArray[] = []
  const specs = h['buffers'] ?? []
  if (!Array.isArray(specs)) throw new FrameError('frame header buffers is not a list')
  for (const spec of specs as unknown[]) {
    const { dtype, shape } = (spec ?? {}) as { dtype?: unknown; shape?: unknown }
    if (typeof dtype !== 'string' || !(dtype in BYTES)) throw new FrameError(`unknown buffer dtype ${JSON.stringify(dtype)}`)
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new FrameError(`bad buffer shape ${JSON.stringify(shape)}`)
    }
    const count = (shape as number[]).reduce((a, d) => a * d, 1)
    const nbytes = count * BYTES[dtype as FrameDtype]
    if (offset + nbytes > body.length) throw new FrameError('frame buffers run past the end of the frame')
    // A copy into a fresh buffer (aligned, and not a view of a pooled Node Buffer).
    const bytes = new Uint8Array(nbytes)
    bytes.set(body.subarray(offset, offset + nbytes))
    const t = dtype as FrameDtype
    buffers.push(
      t === 'float32'
        ? new Float32Array(bytes.buffer, 0, count)
        : t === 'float64'
          ? new Float64Array(bytes.buffer, 0, count)
          : t === 'int32'
            ? new Int32Array(bytes.buffer, 0, count)
            : bytes,
    )
    offset += nbytes + pad8(nbytes)
  }
  return { header: h, buffers }
}

/** Splits a byte stream into frame bodies. */
export class FrameReader {
  readonly #chunks: Uint8Array[] = []
  #buffered = 0
  #need = -1

  /**
   * Adds bytes read from the stream; returns the complete frame bodies they finish.
   * @throws FrameError when a length prefix is over `MAX_FRAME_BYTES`
   */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    const out: Uint8Array[] = []
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) break
        const head = this.#take(4)
        const len = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true)
        if (len < 4 || len > MAX_FRAME_BYTES) throw new FrameError(`frame length ${len} is out of range`)
        this.#need = len
      }
      if (this.#buffered < this.#need) break
      out.push(this.#take(this.#need))
      this.#need = -1
    }
    return out
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!
    if (first.length >= n) {
      const part = first.subarray(0, n)
      if (first.length === n) this.#chunks.shift()
      else this.#chunks[0] = first.subarray(n)
      this.#buffered -= n
      return part
    }
    const out = new Uint8Array(n)
    let got = 0
    while (got < n) {
      const c = this.#chunks[0]!
      const k = Math.min(c.length, n - got)
      out.set(c.subarray(0, k), got)
      got += k
      if (k === c.length) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(k)
    }
    this.#buffered -= n
    return out
  }
}
