// The safetensors format (Hugging Face's): an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the data. Weft writes float32 and reads float32, float16 and bfloat16 (widened),
// so a user's own Hugging Face checkpoint loads; every length and range in an untrusted file is checked first.
import type { NamedTensor } from './transformer.js'

/** A safetensors file that cannot be read: the message names what is wrong. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError'
}

/** Largest JSON header read by default (the format's own reference reader stops at 100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 16 * 1024 * 1024

const BYTES_PER: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2 }

/** Tensors and the free-form string metadata (`__metadata__`) of a safetensors file. */
export interface Safetensors {
  readonly tensors: Map<string, NamedTensor>
  readonly metadata: Readonly<Record<string, string>>
}

/**
 * Writes float32 tensors as a safetensors file, in the order given, with optional string metadata.
 * @throws RangeError when a tensor's data does not hold its shape.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, NamedTensor>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const header: Record<string, unknown> = {}
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let offset = 0
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1)
    if (n !== t.data.length) throw new RangeError(`tensor ${name} holds ${t.data.length} values; its shape [${t.shape.join(', ')}] holds ${n}`)
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + n * 4] }
    offset += n * 4
  }
  let json = new TextEncoder().encode(JSON.stringify(header))
  // Pad with spaces to 8 bytes so the data starts aligned (what the reference writer does).
  const padded = Math.ceil(json.length / 8) * 8
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header).padEnd(padded, ' '))
  const out = new Uint8Array(8 + json.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let at = 8 + json.length
  for (const t of tensors.values()) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    if (isLittleEndian) out.set(bytes, at)
    else {
      const view = new DataView(out.buffer, at)
      for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i] as number, true)
    }
    at += t.data.byteLength
  }
  return out
}

/**
 * Reads a safetensors file into float32 tensors (F16 and BF16 widened).
 * @throws SafetensorsError naming the problem: a header over `maxHeaderBytes`, bad JSON, an unknown dtype, a shape
 *   that does not match its byte range, ranges that overlap, leave gaps or run past the end.
 */
export function decodeSafetensors(bytes: Uint8Array, options: { readonly maxHeaderBytes?: number } = {}): Safetensors {
  const maxHeader = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES
  if (bytes.length < 8) throw new SafetensorsError(`${bytes.length} bytes is too short for a safetensors file (an 8-byte header length first)`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = view.getBigUint64(0, true)
  if (headerLength > BigInt(maxHeader)) throw new SafetensorsError(`the header claims ${headerLength} bytes; at most ${maxHeader} are read`)
  const hl = Number(headerLength)
  if (8 + hl > bytes.length) throw new SafetensorsError(`the header claims ${hl} bytes but the file has ${bytes.length - 8} after the length`)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hl)))
  } catch (err) {
    throw new SafetensorsError(`the header is not JSON: ${(err as Error).message}`)
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError('the header must be a JSON object')
  const dataStart = 8 + hl
  const dataLength = bytes.length - dataStart
  const metadata: Record<string, string> = {}
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = []
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SafetensorsError('__metadata__ must be an object of strings')
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__.${k} must be a string`)
        metadata[k] = v
      }
      continue
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    if (typeof e !== 'object' || e === null) throw new SafetensorsError(`tensor ${name}: not an object`)
    if (typeof e.dtype !== 'string' || BYTES_PER[e.dtype] === undefined) {
      throw new SafetensorsError(`tensor ${name}: dtype ${JSON.stringify(e.dtype)} is not one of ${Object.keys(BYTES_PER).join(', ')}`)
    }
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new SafetensorsError(`tensor ${name}: shape must be non-negative integers`)
    const offsets = e.data_offsets
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`tensor ${name}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end`)
    }
    const [begin, end] = offsets as [number, number]
    if (end > dataLength) throw new SafetensorsError(`tensor ${name}: bytes ${begin}..${end} run past the ${dataLength} bytes of data`)
    const shape = e.shape as number[]
    const count = shape.reduce((a, b) => a * b, 1)
    if (count * (BYTES_PER[e.dtype] as number) !== end - begin) {
      throw new SafetensorsError(`tensor ${name}: shape [${shape.join(', ')}] of ${e.dtype} is ${count * (BYTES_PER[e.dtype] as number)} bytes; its range holds ${end - begin}`)
    }
    entries.push({ name, dtype: e.dtype, shape, begin, end })
  }
  // The ranges tile the data exactly: no overlap (one byte read as two tensors), no gap, nothing trailing.
  entries.sort((a, b) => a.begin - b.begin)
  let expected = 0
  for (const e of entries) {
    if (e.begin !== expected) throw new SafetensorsError(`tensor ${e.name} starts at byte ${e.begin}; the data before it ends at ${expected} (ranges must tile the data)`)
    expected = e.end
  }
  if (expected !== dataLength) throw new SafetensorsError(`the tensors hold ${expected} bytes; the data is ${dataLength}`)
  const tensors = new Map<string, NamedTensor>()
  for (const e of entries) {
    const at = dataStart + e.begin
    const n = (e.end - e.begin) / (BYTES_PER[e.dtype] as number)
    const data = new Float32Array(n)
    if (e.dtype === 'F32') {
      const src = new DataView(bytes.buffer, bytes.byteOffset + at, e.end - e.begin)
      for (let i = 0; i < n; i++) data[i] = src.getFloat32(i * 4, true)
    } else {
      const src = new DataView(bytes.buffer, bytes.byteOffset + at, e.end - e.begin)
      const widen = e.dtype === 'BF16' ? bf16ToF32 : f16ToF32
      for (let i = 0; i < n; i++) data[i] = widen(src.getUint16(i * 2, true))
    }
    tensors.set(e.name, { shape: e.shape, data })
  }
  return { tensors, metadata }
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

function bf16ToF32(h: number): number {
  u32[0] = h << 16
  return f32[0] as number
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024)
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : Number.NaN
  return sign * 2 ** (exp - 15) * (1 + frac / 1024)
}
