// The tensor-set model shared by every Weft component, its canonical encoding and its content hash.
//
// Canonical encoding (all integers little-endian):
//   header = "WEFTTS01" (8 ASCII bytes) || u32 tensorCount ||
//            for each tensor in order: u16 nameByteLength || name (UTF-8) || u8 dtype || u8 rank ||
//                                      rank x u64 dim || u64 byteLength
//   encoding = header || data(tensor 0) || data(tensor 1) || ...
// dtype codes: float32 = 1, float16 = 2, int8 = 3, uint8 = 4, uint32 = 5 (the same numbers as weft.tensor.v1.DType).
// Content hash = sha256(encoding); tensor order and names are part of the content.

import { create } from '@bufbuild/protobuf'
import { sha256 } from '@noble/hashes/sha2.js'
import { InvalidTensorSetError, TensorSetTooLargeError } from './errors.js'
import { type DType, type TensorDescriptor, TensorDescriptorSchema } from './gen/weft/tensor/v1/transfer_pb.js'

/** Element types a tensor may have. */
export type TensorDType = 'float32' | 'float16' | 'int8' | 'uint8' | 'uint32'

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<TensorDType, number>> = Object.freeze({ float32: 4, float16: 2, int8: 1, uint8: 1, uint32: 4 })

/** Typed array that views each dtype's elements (float16 as raw binary16 bits). */
export interface TensorValues {
  float32: Float32Array
  float16: Uint16Array
  int8: Int8Array
  uint8: Uint8Array
  uint32: Uint32Array
}

/** What a tensor is, without its data. */
export interface TensorInfo {
  readonly name: string
  readonly dtype: TensorDType
  readonly shape: readonly number[]
  readonly byteLength: number
}

/** One named tensor; `data` holds its elements as little-endian bytes. */
export interface Tensor<D extends TensorDType = TensorDType> {
  readonly name: string
  readonly dtype: D
  readonly shape: readonly number[]
  readonly data: Uint8Array
}

/** An ordered list of uniquely named tensors (a model's weights, an update, a batch of activations). */
export type TensorSet = readonly Tensor[]

/** A running sha256 (noble's `sha256.create()` and node's `createHash('sha256')` both fit). */
export interface Sha256 {
  update(data: Uint8Array): unknown
  digest(): Uint8Array
}

/** Options for hashing: inject a faster sha256 where the platform has one. */
export interface HashOptions {
  createSha256?: () => Sha256
}

export const MAX_TENSORS = 65_536
export const MAX_RANK = 32
export const MAX_NAME_BYTES = 1024

const MAGIC = new TextEncoder().encode('WEFTTS01')
const DTYPE_CODE: Readonly<Record<TensorDType, number>> = { float32: 1, float16: 2, int8: 3, uint8: 4, uint32: 5 }
const CODE_DTYPE: ReadonlyArray<TensorDType | undefined> = [undefined, 'float32', 'float16', 'int8', 'uint8', 'uint32']
const utf8 = new TextEncoder()
const utf8d = new TextDecoder('utf-8', { fatal: true })
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Element count of a shape (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) {
    n *= d
  }
  return n
}

/**
 * Check one tensor's metadata; returns nothing, throws InvalidTensorSetError naming the rule broken.
 */
export function validateTensorInfo(t: TensorInfo): void {
  if (typeof t.name !== 'string' || t.name.length === 0 || utf8.encode(t.name).byteLength > MAX_NAME_BYTES) {
    throw new InvalidTensorSetError(`tensor name must be a non-empty string of at most ${MAX_NAME_BYTES} UTF-8 bytes, got ${JSON.stringify(t.name)}`)
  }
  if (!(t.dtype in DTYPE_CODE)) {
    throw new InvalidTensorSetError(`tensor "${t.name}": dtype must be one of float32|float16|int8|uint8|uint32, got ${String(t.dtype)}`)
  }
  if (t.shape.length > MAX_RANK) {
    throw new InvalidTensorSetError(`tensor "${t.name}": rank ${t.shape.length} exceeds ${MAX_RANK}`)
  }
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new InvalidTensorSetError(`tensor "${t.name}": shape dims must be non-negative integers, got [${t.shape.join(', ')}]`)
    }
  }
  const expected = shapeSize(t.shape) * DTYPE_BYTES[t.dtype]
  if (!Number.isSafeInteger(expected) || expected !== t.byteLength) {
    throw new InvalidTensorSetError(`tensor "${t.name}": ${t.dtype}[${t.shape.join(', ')}] needs ${expected} bytes, got ${t.byteLength}`)
  }
}

/** Check a whole set (names unique, each tensor consistent); returns its total data bytes. */
export function validateTensorInfos(infos: readonly TensorInfo[]): number {
  if (infos.length > MAX_TENSORS) {
    throw new InvalidTensorSetError(`a tensor set holds at most ${MAX_TENSORS} tensors, got ${infos.length}`)
  }
  const names = new Set<string>()
  let total = 0
  for (const t of infos) {
    validateTensorInfo(t)
    if (names.has(t.name)) {
      throw new InvalidTensorSetError(`duplicate tensor name "${t.name}"`)
    }
    names.add(t.name)
    total += t.byteLength
  }
  return total
}

/** Metadata of each tensor of a set. */
export function tensorInfos(set: TensorSet): TensorInfo[] {
  return set.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength }))
}

/** Total data bytes of a set. */
export function tensorSetByteLength(set: TensorSet): number {
  let n = 0
  for (const t of set) {
    n += t.data.byteLength
  }
  return n
}

/**
 * Build a tensor from a typed array (its bytes are viewed, not copied). float16 takes binary16 bits (Uint16Array).
 * @throws InvalidTensorSetError when the array type or length does not fit dtype and shape.
 */
export function createTensor<D extends TensorDType>(name: string, dtype: D, shape: readonly number[], values: TensorValues[D]): Tensor<D> {
  if (!LITTLE_ENDIAN && DTYPE_BYTES[dtype] > 1) {
    throw new InvalidTensorSetError('multi-byte tensors need a little-endian host')
  }
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const t: Tensor<D> = { name, dtype, shape: [...shape], data }
  validateTensorInfo({ name, dtype, shape, byteLength: data.byteLength })
  return t
}

/** A typed-array view of a tensor's elements (copied only when `data` is not aligned for the element size). */
export function tensorValues<D extends TensorDType>(t: Tensor<D>): TensorValues[D] {
  const size = DTYPE_BYTES[t.dtype]
  let d = t.data
  if (d.byteOffset % size !== 0) {
    // A copy (not d.slice(): on a Node Buffer that is a view at the same unaligned offset).
    d = new Uint8Array(d)
  }
  const n = d.byteLength / size
  switch (t.dtype) {
    case 'float32':
      return new Float32Array(d.buffer, d.byteOffset, n) as TensorValues[D]
    case 'float16':
      return new Uint16Array(d.buffer, d.byteOffset, n) as TensorValues[D]
    case 'int8':
      return new Int8Array(d.buffer, d.byteOffset, n) as TensorValues[D]
    case 'uint8':
      return new Uint8Array(d.buffer, d.byteOffset, n) as TensorValues[D]
    case 'uint32':
      return new Uint32Array(d.buffer, d.byteOffset, n) as TensorValues[D]
    default: {
      const never: never = t.dtype
      throw new InvalidTensorSetError(`unknown dtype ${String(never)}`)
    }
  }
}

/** The canonical header of a set with these tensors (see the file comment). */
export function canonicalTensorSetHeader(infos: readonly TensorInfo[]): Uint8Array {
  validateTensorInfos(infos)
  const names = infos.map((t) => utf8.encode(t.name))
  let len = MAGIC.byteLength + 4
  infos.forEach((t, i) => {
    len += 2 + (names[i] as Uint8Array).byteLength + 2 + 8 * t.shape.length + 8
  })
  const out = new Uint8Array(len)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  let o = MAGIC.byteLength
  view.setUint32(o, infos.length, true)
  o += 4
  infos.forEach((t, i) => {
    const name = names[i] as Uint8Array
    view.setUint16(o, name.byteLength, true)
    o += 2
    out.set(name, o)
    o += name.byteLength
    out[o++] = DTYPE_CODE[t.dtype]
    out[o++] = t.shape.length
    for (const d of t.shape) {
      view.setBigUint64(o, BigInt(d), true)
      o += 8
    }
    view.setBigUint64(o, BigInt(t.byteLength), true)
    o += 8
  })
  return out
}

/** The canonical encoding of a set: header then every tensor's data, in order. */
export function encodeTensorSet(set: TensorSet): Uint8Array {
  const header = canonicalTensorSetHeader(tensorInfos(set))
  const out = new Uint8Array(header.byteLength + tensorSetByteLength(set))
  out.set(header, 0)
  let o = header.byteLength
  for (const t of set) {
    out.set(t.data, o)
    o += t.data.byteLength
  }
  return out
}

/** Options for decoding a canonical encoding. */
export interface DecodeTensorSetOptions {
  /** Reject sets whose data exceeds this many bytes. Default: no limit beyond the input's length. */
  maxBytes?: number
}

/**
 * Parse a canonical encoding; tensor data are views into `bytes` (no copy).
 * @throws InvalidTensorSetError on any structural error, TensorSetTooLargeError over `maxBytes`.
 */
export function decodeTensorSet(bytes: Uint8Array, options: DecodeTensorSetOptions = {}): TensorSet {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = 0
  const need = (n: number, what: string): void => {
    if (o + n > bytes.byteLength) {
      throw new InvalidTensorSetError(`tensor set encoding truncated while reading ${what} at byte ${o}`)
    }
  }
  need(MAGIC.byteLength, 'magic')
  for (let i = 0; i < MAGIC.byteLength; i++) {
    if (bytes[i] !== MAGIC[i]) {
      throw new InvalidTensorSetError('not a tensor set encoding (magic "WEFTTS01" expected)')
    }
  }
  o = MAGIC.byteLength
  need(4, 'tensor count')
  const count = view.getUint32(o, true)
  o += 4
  if (count > MAX_TENSORS) {
    throw new InvalidTensorSetError(`a tensor set holds at most ${MAX_TENSORS} tensors, got ${count}`)
  }
  const infos: TensorInfo[] = []
  for (let i = 0; i < count; i++) {
    need(2, 'name length')
    const nameLen = view.getUint16(o, true)
    o += 2
    need(nameLen, 'name')
    let name: string
    try {
      name = utf8d.decode(bytes.subarray(o, o + nameLen))
    } catch (cause) {
      throw new InvalidTensorSetError(`tensor ${i}: name is not valid UTF-8`, { cause })
    }
    o += nameLen
    need(2, 'dtype and rank')
    const dtype = CODE_DTYPE[bytes[o++] as number]
    const rank = bytes[o++] as number
    if (dtype === undefined) {
      throw new InvalidTensorSetError(`tensor "${name}": unknown dtype code ${bytes[o - 2]}`)
    }
    need(8 * rank + 8, 'shape')
    const shape: number[] = []
    for (let r = 0; r < rank; r++) {
      shape.push(readU64(view, o, 'shape dim'))
      o += 8
    }
    const byteLength = readU64(view, o, 'byte length')
    o += 8
    infos.push({ name, dtype, shape, byteLength })
  }
  const total = validateTensorInfos(infos)
  if (options.maxBytes !== undefined && total > options.maxBytes) {
    throw new TensorSetTooLargeError(`tensor set of ${total} bytes exceeds the limit of ${options.maxBytes} bytes`)
  }
  if (bytes.byteLength - o !== total) {
    throw new InvalidTensorSetError(`tensor set header announces ${total} data bytes, ${bytes.byteLength - o} present`)
  }
  return infos.map((t) => {
    const data = bytes.subarray(o, o + t.byteLength)
    o += t.byteLength
    return { name: t.name, dtype: t.dtype, shape: t.shape, data }
  })
}

function readU64(view: DataView, o: number, what: string): number {
  const v = view.getBigUint64(o, true)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidTensorSetError(`${what} ${v} is too large`)
  }
  return Number(v)
}

/** A fresh running sha256: the injected one, else noble's (browser-safe). */
export function createSha256(options: HashOptions = {}): Sha256 {
  return options.createSha256 !== undefined ? options.createSha256() : sha256.create()
}

/** The content hash of a set: sha256 of its canonical encoding, computed without concatenating the data. */
export function tensorSetHash(set: TensorSet, options: HashOptions = {}): Uint8Array {
  const h = createSha256(options)
  h.update(canonicalTensorSetHeader(tensorInfos(set)))
  for (const t of set) {
    h.update(t.data)
  }
  return h.digest()
}

/** Lowercase hex of bytes (content hashes in logs, keys and maps). */
export function toHex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) {
    s += b.toString(16).padStart(2, '0')
  }
  return s
}

/** The wire dtype of a model dtype. */
export function dtypeToWire(dtype: TensorDType): DType {
  return DTYPE_CODE[dtype] as DType
}

/** The model dtype of a wire dtype, or undefined for an unknown value. */
export function dtypeFromWire(dtype: DType): TensorDType | undefined {
  return CODE_DTYPE[dtype]
}

/** Wire descriptors of a set's tensors. */
export function toWireDescriptors(infos: readonly TensorInfo[]): TensorDescriptor[] {
  return infos.map((t) =>
    create(TensorDescriptorSchema, { name: t.name, dtype: dtypeToWire(t.dtype), shape: t.shape.map(BigInt), byteLength: BigInt(t.byteLength) }),
  )
}

/**
 * Parse wire descriptors received from a peer.
 * @throws InvalidTensorSetError naming what was wrong.
 */
export function fromWireDescriptors(descriptors: readonly TensorDescriptor[]): TensorInfo[] {
  const infos = descriptors.map((d, i) => {
    const dtype = dtypeFromWire(d.dtype)
    if (dtype === undefined) {
      throw new InvalidTensorSetError(`tensor ${i} ("${d.name}"): unknown dtype ${d.dtype}`)
    }
    const big = (v: bigint, what: string): number => {
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new InvalidTensorSetError(`tensor ${i} ("${d.name}"): ${what} ${v} is too large`)
      }
      return Number(v)
    }
    return { name: d.name, dtype, shape: d.shape.map((s) => big(s, 'shape dim')), byteLength: big(d.byteLength, 'byte length') }
  })
  validateTensorInfos(infos)
  return infos
}
