// Update compression negotiated per job: the wire codecs of a client's delta (float16, int8, top-k) and their decoder.
//
// Wire layouts (tensor names are the exported constants):
//   none    → float32 "delta" [n]
//   float16 → float16 "delta" [n]
//   int8    → int8 "delta" [n] || float32 "scales" [layout.length]   (value = q · scale of its parameter tensor)
//   topk    → uint8 "indices" [bytes] || float32|float16 "values" [k]
// Top-k indices are the selected positions in increasing order, sent as gaps (the first measured from −1, so every
// gap is ≥ 1) in unsigned LEB128 varints; k = topkCount(fraction, n) exactly.
// Over 500 lines on purpose: each codec's encoder and decoder sit together, with the shared wire-layout checks,
// so a change to one wire format is made and reviewed in one place.
import {
  createTensor,
  DTYPE_BYTES,
  float16ToFloat32,
  float32ToFloat16,
  fromFloat16Bits,
  type Tensor,
  type TensorDType,
  type TensorSet,
  tensorValues,
  varintLength,
  writeVarint,
} from '@weft/protocol'
import { z } from 'zod'
import { DELTA_TENSOR, vectorSet } from './model-set.js'

/** Name of the per-tensor float32 scales of an int8 update. */
export const SCALES_TENSOR = 'scales'
/** Name of the varint-coded index gaps of a top-k update. */
export const INDICES_TENSOR = 'indices'
/** Name of the selected values of a top-k update. */
export const VALUES_TENSOR = 'values'

/**
 * The compression of a job's updates, a union discriminated on `kind`. Parsing fills defaults and rejects
 * unknown fields (a misspelt option must not silently fall back to its default).
 * - `none`: float32, 4 bytes per parameter.
 * - `float16`: binary16 rounding to nearest, 2 bytes per parameter.
 * - `int8`: per-tensor scale max|x|/127 with stochastic rounding (unbiased), 1 byte per parameter.
 * - `topk`: only the ⌈fraction·n⌉ largest-magnitude coordinates; with `errorFeedback` the client keeps what it did
 *   not send and adds it to the next round's delta (Stich et al. 2018; Karimireddy et al. 2019).
 */
export const compressionConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({ kind: z.literal('float16') }),
  z.strictObject({ kind: z.literal('int8') }),
  z.strictObject({
    kind: z.literal('topk'),
    fraction: z.number().gt(0).max(1),
    errorFeedback: z.boolean().default(true),
    values: z.enum(['float32', 'float16']).default('float32'),
  }),
])

/** A parsed compression config (defaults filled). */
export type CompressionConfig = z.output<typeof compressionConfigSchema>
/** A compression config as written by a user (defaults optional). */
export type CompressionConfigInput = z.input<typeof compressionConfigSchema>

/** An update a peer sent does not fit the job's compression: wrong tensors, a bad index stream or bad values. */
export class InvalidUpdateError extends Error {
  override name = 'InvalidUpdateError'
}

/** A client's encoder: it holds the error-feedback residual between rounds, so use one per client and job. */
export interface UpdateEncoder {
  /**
   * Compresses one round's delta. The result may share memory with `delta` (kind `none`); encode again only
   * after it has been sent.
   * @throws RangeError when `delta` does not have the layout's length, holds a non-finite value, or holds a value
   *   that float16 cannot represent (|x| ≥ 65520) under a float16 codec; the residual is then left unchanged.
   */
  encode(delta: Float32Array): TensorSet
  /** Euclidean norm of what error feedback still owes the server (0 without error feedback). */
  residualNorm(): number
}

/** A uniform random source on [0, 1). */
export type RandomSource = () => number

/** The smallest magnitude that binary16 rounds to infinity (65504 is the largest finite value). */
const FLOAT16_OVERFLOW = 65_520
/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38
/** int8 codes are symmetric, ±127: −128 is never produced. */
const INT8_LEVELS = 127
/** Web Crypto fills at most 65,536 bytes per getRandomValues call. */
const RANDOM_BLOCK_WORDS = 16_384
/** A top-k varint never needs more than 8 bytes: 8 × 7 bits cover every safe integer. */
const MAX_VARINT_BYTES = 8

/**
 * A uniform source backed by `crypto.getRandomValues` (browsers and Node ≥ 20), read in 64 KiB blocks.
 * Each draw has 32 random bits, ample for rounding probabilities. Package-internal (attacks reuse it).
 */
export function secureRandom(): RandomSource {
  const block = new Uint32Array(RANDOM_BLOCK_WORDS)
  let used = RANDOM_BLOCK_WORDS
  return () => {
    if (used === RANDOM_BLOCK_WORDS) {
      globalThis.crypto.getRandomValues(block)
      used = 0
    }
    return (block[used++] as number) / 2 ** 32
  }
}

/**
 * The number of coordinates top-k sends: ⌈fraction·n⌉, within [1, n]. The product is read as the decimal the user
 * wrote (0.07 of 100 is 7, although 0.07·100 is 7.000000000000001 in binary floating point).
 */
export function topkCount(fraction: number, n: number): number {
  const k = Math.ceil(fraction * n * (1 - 1e-12))
  return Math.min(n, Math.max(1, k))
}

/**
 * The data bytes of an encoded update (tensor data only, not the tensor-set header): exact for `none`, `float16`
 * and `int8`; for `topk` an upper bound, since the varint index stream depends on which coordinates are chosen.
 * The coordinator uses it to admit or refuse an announced update before receiving it.
 * @param n the parameter count
 * @param layoutLength the number of parameter tensors (int8 sends one scale each)
 * @throws RangeError when `n` or `layoutLength` is not a non-negative safe integer
 */
export function encodedUpdateBytes(config: CompressionConfig, n: number, layoutLength: number): number {
  checkCount(n, 'n')
  checkCount(layoutLength, 'layoutLength')
  switch (config.kind) {
    case 'none':
      return 4 * n
    case 'float16':
      return 2 * n
    case 'int8':
      return n + 4 * layoutLength
    case 'topk': {
      const k = topkCount(config.fraction, n)
      return maxGapVarintBytes(k, n) + k * (config.values === 'float16' ? 2 : 4)
    }
    default:
      return unknownKind(config)
  }
}

/**
 * The most bytes k gap varints can take when the gaps are ≥ 1 and sum to at most n (the last index + 1).
 * Lengthening a varint from b to b + 1 bytes costs 128^b − 128^(b−1) more of the gap budget, and that cost grows
 * with b, so lengthening every varint one byte at a time, shortest first, spends the budget best.
 */
function maxGapVarintBytes(k: number, n: number): number {
  let bytes = k
  let budget = n - k
  for (let b = 1; b < MAX_VARINT_BYTES; b++) {
    const cost = 128 ** b - 128 ** (b - 1)
    const lengthened = Math.min(k, Math.floor(budget / cost))
    bytes += lengthened
    budget -= lengthened * cost
    if (lengthened < k) break
  }
  return bytes
}

/**
 * Creates a client's update encoder for one job.
 * @param layout the sizes of the model's parameter tensors in order (`paramInfo(spec)`), summing to n
 * @param random uniform source for int8's stochastic rounding; default: the platform CSPRNG. Inject a seeded one
 *   only in tests.
 * @throws RangeError when `layout` is empty, holds a size that is not a non-negative safe integer, or sums to 0
 */
export function createUpdateEncoder(config: CompressionConfig, layout: readonly number[], random?: RandomSource): UpdateEncoder {
  const n = layoutTotal(layout)
  switch (config.kind) {
    case 'none':
      return statelessEncoder(n, false, (delta) => vectorSet(DELTA_TENSOR, delta))
    case 'float16':
      return statelessEncoder(n, true, (delta) => [createTensor(DELTA_TENSOR, 'float16', [n], float32ToFloat16(delta))])
    case 'int8': {
      const source = random ?? secureRandom()
      const sizes = [...layout]
      return statelessEncoder(n, false, (delta) => encodeInt8(delta, sizes, source))
    }
    case 'topk':
      return new TopKEncoder(n, topkCount(config.fraction, n), config.values, config.errorFeedback)
    default:
      return unknownKind(config)
  }
}

function statelessEncoder(n: number, float16: boolean, encode: (delta: Float32Array) => TensorSet): UpdateEncoder {
  return Object.freeze({
    encode(delta: Float32Array): TensorSet {
      checkDelta(delta, n, undefined, float16)
      return encode(delta)
    },
    residualNorm: () => 0,
  })
}

/** Top-k sparsification; with error feedback, what was not sent is carried into the next round. */
class TopKEncoder implements UpdateEncoder {
  readonly #n: number
  readonly #k: number
  readonly #values: 'float32' | 'float16'
  /** Error feedback's residual (undefined without error feedback). */
  readonly #residual: Float32Array | undefined
  /** Scratch for the magnitudes that quickselect reorders. */
  readonly #magnitudes: Float32Array

  constructor(n: number, k: number, values: 'float32' | 'float16', errorFeedback: boolean) {
    this.#n = n
    this.#k = k
    this.#values = values
    this.#residual = errorFeedback ? new Float32Array(n) : undefined
    this.#magnitudes = new Float32Array(n)
  }

  encode(delta: Float32Array): TensorSet {
    checkDelta(delta, this.#n, this.#residual, this.#values === 'float16')
    const residual = this.#residual
    // With error feedback the residual becomes this round's accumulator p = residual + Δ; what is sent is then
    // subtracted from it, leaving p − C(p) for the next round.
    if (residual !== undefined) {
      for (let i = 0; i < delta.length; i++) residual[i] = (residual[i] as number) + (delta[i] as number)
    }
    const source = residual ?? delta
    const indices = largestMagnitudes(source, this.#k, this.#magnitudes)
    const sent = new Float32Array(indices.length)
    for (let j = 0; j < indices.length; j++) sent[j] = source[indices[j] as number] as number
    const values = this.#values === 'float16' ? float32ToFloat16(sent) : sent
    if (residual !== undefined) {
      // Subtract what the server will decode, so float16 rounding is fed back too.
      const delivered = values instanceof Uint16Array ? float16ToFloat32(values) : values
      indices.forEach((i, j) => {
        residual[i] = (residual[i] as number) - (delivered[j] as number)
      })
    }
    return [indexTensor(indices), valuesTensor(values)]
  }

  residualNorm(): number {
    return this.#residual === undefined ? 0 : norm(this.#residual)
  }
}

function valuesTensor(values: Float32Array | Uint16Array): Tensor {
  return values instanceof Float32Array
    ? createTensor(VALUES_TENSOR, 'float32', [values.length], values)
    : createTensor(VALUES_TENSOR, 'float16', [values.length], values)
}

/** The increasing indices as gap varints (first gap from −1). */
function indexTensor(indices: Uint32Array): Tensor {
  let bytes = 0
  let previous = -1
  for (const i of indices) {
    bytes += varintLength(i - previous)
    previous = i
  }
  const out = new Uint8Array(bytes)
  let offset = 0
  previous = -1
  for (const i of indices) {
    offset = writeVarint(i - previous, out, offset)
    previous = i
  }
  return createTensor(INDICES_TENSOR, 'uint8', [bytes], out)
}

/**
 * The indices of the k largest |x[i]|, increasing. Ties at the threshold go to the lowest indices, so exactly k
 * are chosen. `scratch` (length ≥ x.length) is overwritten.
 */
function largestMagnitudes(x: Float32Array, k: number, scratch: Float32Array): Uint32Array {
  const n = x.length
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(x[i] as number)
  const threshold = selectKth(scratch.subarray(0, n), n - k)
  let above = 0
  for (let i = 0; i < n; i++) if (Math.abs(x[i] as number) > threshold) above++
  let tiesLeft = k - above
  const out = new Uint32Array(k)
  let j = 0
  for (let i = 0; i < n; i++) {
    const m = Math.abs(x[i] as number)
    if (m > threshold || (m === threshold && tiesLeft-- > 0)) out[j++] = i
  }
  return out
}

/**
 * Quickselect (Hoare partition, median-of-three pivot): reorders `a` so that a[k] holds the value it would hold
 * sorted ascending, and returns it. Expected O(n); the input is the client's own delta, not adversarial.
 */
function selectKth(a: Float32Array, k: number): number {
  let lo = 0
  let hi = a.length - 1
  while (lo < hi) {
    const pivot = medianOfThree(a[lo] as number, a[(lo + hi) >>> 1] as number, a[hi] as number)
    let i = lo
    let j = hi
    while (i <= j) {
      while ((a[i] as number) < pivot) i++
      while ((a[j] as number) > pivot) j--
      if (i <= j) {
        const t = a[i] as number
        a[i++] = a[j] as number
        a[j--] = t
      }
    }
    // Now a[lo..j] ≤ pivot ≤ a[i..hi], and everything strictly between j and i equals the pivot.
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return pivot
  }
  return a[k] as number
}

function medianOfThree(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c))
}

/** int8 with one scale per parameter tensor and stochastic rounding: E[q · scale] = x. */
function encodeInt8(delta: Float32Array, layout: readonly number[], random: RandomSource): TensorSet {
  const codes = new Int8Array(delta.length)
  const scales = new Float32Array(layout.length)
  let start = 0
  layout.forEach((size, t) => {
    const end = start + size
    let max = 0
    for (let i = start; i < end; i++) max = Math.max(max, Math.abs(delta[i] as number))
    const scale = int8Scale(max)
    scales[t] = scale
    if (scale > 0) {
      for (let i = start; i < end; i++) codes[i] = stochasticRound((delta[i] as number) / scale, random)
    }
    start = end
  })
  return [createTensor(DELTA_TENSOR, 'int8', [delta.length], codes), createTensor(SCALES_TENSOR, 'float32', [layout.length], scales)]
}

/**
 * The float32 scale of a tensor whose largest magnitude is `max`: max/127 rounded to float32, moved up one float32
 * where code 127 would then decode below max. That happens among subnormals, where the rounded scale can lose most of
 * its precision or underflow to 0 and erase the tensor. The decoder multiplies by this float32 value, so the encoder
 * divides by the same.
 */
function int8Scale(max: number): number {
  const scale = Math.fround(max / INT8_LEVELS)
  return Math.fround(scale * INT8_LEVELS) >= max ? scale : nextFloat32Up(scale)
}

const float32Bits = new Float32Array(1)
const uint32Bits = new Uint32Array(float32Bits.buffer)

/** The next float32 above a non-negative finite float32 (for non-negative floats the bit patterns are ordered). */
function nextFloat32Up(x: number): number {
  float32Bits[0] = x
  uint32Bits[0] = (uint32Bits[0] as number) + 1
  return float32Bits[0] as number
}

/** Rounds y ∈ [−127, 127] to a neighbouring integer, up with probability frac(y), so the expectation is y. */
function stochasticRound(y: number, random: RandomSource): number {
  const low = Math.floor(y)
  const q = random() < y - low ? low + 1 : low
  // y can exceed 127 by a float32 rounding of the scale; clamping there moves the value by less than an ulp.
  return Math.max(-INT8_LEVELS, Math.min(INT8_LEVELS, q))
}

/**
 * Decodes an update received from a peer into the dense delta, checking everything it reads.
 * Allocates only the n-long result (n comes from the job, never from the set). For `none` the result may share
 * memory with the set.
 * @param layout the sizes of the model's parameter tensors, as given to the encoder (int8 scales map onto it)
 * @throws InvalidUpdateError when the set does not have exactly the tensors (names, dtypes, shapes) the config
 *   prescribes; when a value or scale is non-finite (or a scale negative or so large that a value overflows
 *   float32); when an int8 code is −128; when the top-k index stream overruns, holds an overlong varint, an index
 *   ≥ n or not strictly increasing, or holds more or fewer indices than there are values
 * @throws RangeError when `layout` itself is invalid (a caller's mistake, not the peer's)
 */
export function decodeUpdate(set: TensorSet, config: CompressionConfig, layout: readonly number[]): Float32Array {
  const n = layoutTotal(layout)
  switch (config.kind) {
    case 'none': {
      const [delta] = expectTensors(set, config.kind, [{ name: DELTA_TENSOR, dtype: 'float32', length: n }])
      const values = tensorValues(delta as Tensor<'float32'>)
      checkFinite(values, DELTA_TENSOR)
      return values
    }
    case 'float16': {
      const [delta] = expectTensors(set, config.kind, [{ name: DELTA_TENSOR, dtype: 'float16', length: n }])
      return decodeFloat16(tensorValues(delta as Tensor<'float16'>), DELTA_TENSOR)
    }
    case 'int8': {
      const [delta, scales] = expectTensors(set, config.kind, [
        { name: DELTA_TENSOR, dtype: 'int8', length: n },
        { name: SCALES_TENSOR, dtype: 'float32', length: layout.length },
      ])
      return decodeInt8(tensorValues(delta as Tensor<'int8'>), tensorValues(scales as Tensor<'float32'>), layout)
    }
    case 'topk': {
      const k = topkCount(config.fraction, n)
      const [indices, values] = expectTensors(set, config.kind, [
        { name: INDICES_TENSOR, dtype: 'uint8' },
        { name: VALUES_TENSOR, dtype: config.values, length: k },
      ])
      const dense =
        config.values === 'float16'
          ? decodeFloat16(tensorValues(values as Tensor<'float16'>), VALUES_TENSOR)
          : checkFinite(tensorValues(values as Tensor<'float32'>), VALUES_TENSOR)
      return scatter(tensorValues(indices as Tensor<'uint8'>), dense, n)
    }
    default:
      return unknownKind(config)
  }
}

interface ExpectedTensor {
  readonly name: string
  readonly dtype: TensorDType
  /** Required element count of the rank-1 tensor; any count when absent. */
  readonly length?: number
}

/** Checks the set holds exactly these rank-1 tensors, in order; returns them. */
function expectTensors(set: TensorSet, kind: string, expected: readonly ExpectedTensor[]): readonly Tensor[] {
  const describe = (t: { name: string; dtype: string; shape?: readonly number[] }) =>
    `${t.dtype} "${t.name}"${t.shape === undefined ? '' : ` [${t.shape.join(', ')}]`}`
  const want = expected.map((e) => describe({ ...e, ...(e.length === undefined ? {} : { shape: [e.length] }) })).join(', ')
  const fits =
    set.length === expected.length &&
    expected.every((e, i) => {
      const t = set[i] as Tensor
      const length = t.shape[0] as number
      return (
        t.name === e.name &&
        t.dtype === e.dtype &&
        t.shape.length === 1 &&
        (e.length === undefined || length === e.length) &&
        // A set from decodeTensorSet is consistent already; a hand-built one might not be.
        t.data.byteLength === length * DTYPE_BYTES[e.dtype]
      )
    })
  if (!fits) {
    const got = set.map(describe).join(', ') || 'no tensors'
    throw new InvalidUpdateError(`a ${kind} update must hold ${want}; got ${got}`)
  }
  return set
}

function checkFinite(values: Float32Array, tensor: string): Float32Array {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new InvalidUpdateError(`tensor "${tensor}" holds a non-finite value (${values[i]}) at index ${i}`)
    }
  }
  return values
}

function decodeFloat16(bits: Uint16Array, tensor: string): Float32Array {
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i] as number
    // An all-ones exponent is infinity or NaN.
    if ((b & 0x7c00) === 0x7c00) {
      throw new InvalidUpdateError(`tensor "${tensor}" holds a non-finite float16 value (${fromFloat16Bits(b)}) at index ${i}`)
    }
    out[i] = fromFloat16Bits(b)
  }
  return out
}

function decodeInt8(codes: Int8Array, scales: Float32Array, layout: readonly number[]): Float32Array {
  const out = new Float32Array(codes.length)
  let start = 0
  layout.forEach((size, t) => {
    const scale = scales[t] as number
    // Beyond FLOAT32_MAX / 127 a code of ±127 would decode to infinity.
    if (!(scale >= 0 && scale <= FLOAT32_MAX / INT8_LEVELS)) {
      throw new InvalidUpdateError(`tensor "${SCALES_TENSOR}": scale ${t} is ${scale}, expected a finite value in [0, ${FLOAT32_MAX / INT8_LEVELS}]`)
    }
    const end = start + size
    for (let i = start; i < end; i++) {
      const q = codes[i] as number
      if (q < -INT8_LEVELS) throw new InvalidUpdateError(`tensor "${DELTA_TENSOR}": code ${q} at index ${i} is outside [-127, 127]`)
      out[i] = q * scale
    }
    start = end
  })
  return out
}

/** Places top-k values at their varint-coded indices in a zero vector of length n. */
function scatter(stream: Uint8Array, values: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n)
  let offset = 0
  let index = -1
  for (let j = 0; j < values.length; j++) {
    if (offset === stream.length) {
      throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}" holds ${j} indices, fewer than the ${values.length} values`)
    }
    const gap = readVarint(stream, offset, j)
    offset = gap.next
    if (gap.value === 0) {
      throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}": gap ${j} is 0, repeating index ${index}; indices must strictly increase`)
    }
    index += gap.value
    if (index >= n) {
      throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}": index ${j} is ${index}, beyond the ${n} parameters`)
    }
    out[index] = values[j] as number
  }
  if (offset !== stream.length) {
    throw new InvalidUpdateError(
      `tensor "${INDICES_TENSOR}" holds more indices than the ${values.length} values (${stream.length - offset} bytes left over)`,
    )
  }
  return out
}

/** Reads one unsigned LEB128 varint (at most 8 bytes, no overlong zero tail) of index number `which`. */
function readVarint(stream: Uint8Array, start: number, which: number): { value: number; next: number } {
  let value = 0
  for (let b = 0; b < MAX_VARINT_BYTES; b++) {
    const offset = start + b
    if (offset >= stream.length) {
      throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}": varint of index ${which} runs past the end of the ${stream.length} bytes`)
    }
    const byte = stream[offset] as number
    value += (byte & 0x7f) * 128 ** b
    if (byte < 0x80) {
      if (byte === 0 && b > 0) {
        throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}": varint of index ${which} at byte ${start} is overlong`)
      }
      return { value, next: offset + 1 }
    }
  }
  throw new InvalidUpdateError(`tensor "${INDICES_TENSOR}": varint of index ${which} at byte ${start} is longer than ${MAX_VARINT_BYTES} bytes`)
}

/**
 * Checks a delta before encoding: its length, finite values, and (for float16 codecs) values float16 can hold.
 * With error feedback it checks residual + delta, the values actually sent, before the residual is touched.
 */
function checkDelta(delta: Float32Array, n: number, residual: Float32Array | undefined, float16: boolean): void {
  if (!(delta instanceof Float32Array)) throw new TypeError('delta must be a Float32Array')
  if (delta.length !== n) throw new RangeError(`delta has ${delta.length} values, expected ${n} (the sum of the layout)`)
  const limit = float16 ? FLOAT16_OVERFLOW : Number.POSITIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const x = delta[i] as number
    const v = residual === undefined ? x : Math.fround((residual[i] as number) + x)
    if (!(Math.abs(v) < limit)) {
      const what = residual === undefined ? `delta[${i}] is ${x}` : `delta[${i}] plus the carried residual is ${v}`
      const why = Number.isFinite(v) ? `beyond float16's range (|x| < ${FLOAT16_OVERFLOW}); use float32 values` : 'not finite'
      throw new RangeError(`${what}: ${why}`)
    }
  }
}

function layoutTotal(layout: readonly number[]): number {
  if (!Array.isArray(layout) || layout.length === 0) throw new RangeError('layout must list at least one parameter tensor size')
  let n = 0
  layout.forEach((size, t) => {
    checkCount(size, `layout[${t}]`)
    n += size
  })
  if (n === 0 || !Number.isSafeInteger(n)) throw new RangeError(`layout must sum to a positive safe integer, got ${n}`)
  return n
}

function checkCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`)
}

function norm(x: Float32Array): number {
  let sum = 0
  for (const v of x) sum += v * v
  return Math.sqrt(sum)
}

function unknownKind(config: never): never {
  throw new TypeError(`unknown compression kind ${JSON.stringify((config as { kind?: unknown }).kind)}`)
}
