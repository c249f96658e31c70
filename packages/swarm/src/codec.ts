// What a part of the all-reduce travels as: the compression codecs of federated updates (float32, float16, int8 with a
// scale per block of values), applied to one contiguous part; int8 carries error feedback between outer steps.
import { type CompressionConfig, createUpdateEncoder, decodeUpdate, InvalidUpdateError } from '@weft/fl'
import { decodeTensorSet, encodeTensorSet, TensorSetTooLargeError } from '@weft/protocol'
import type { SwarmSpec } from './spec.js'

/** Values per int8 scale: a block's largest magnitude sets its step, so one outlier coarsens only its block. */
const INT8_BLOCK = 1024
/** Bytes a part's encoding may hold beyond its values (the tensor-set header, int8 scales). */
const HEADER_ALLOWANCE = 4096

export type PartCompression = SwarmSpec['averaging']['compression']

const blocks = (length: number): number[] => {
  const out: number[] = []
  for (let at = 0; at < length; at += INT8_BLOCK) out.push(Math.min(INT8_BLOCK, length - at))
  return out.length === 0 ? [0] : out
}

const configOf = (kind: PartCompression): CompressionConfig => ({ kind }) as CompressionConfig

/** The most bytes the encoding of `length` values may take. */
export function maxPartBytes(length: number): number {
  return length * 4 + Math.ceil(length / INT8_BLOCK) * 4 + HEADER_ALLOWANCE
}

/**
 * Encodes `values` (not changed).
 * @throws RangeError when a value is not finite, or too large for float16
 */
export function encodePart(kind: PartCompression, values: Float32Array): Uint8Array {
  if (values.length === 0) return encodeTensorSet([])
  return encodeTensorSet(createUpdateEncoder(configOf(kind), blocks(values.length)).encode(values))
}

/**
 * Decodes a part a peer sent, checking everything it reads against the expected length.
 * @throws InvalidUpdateError when it is not `length` finite values in the codec's layout or is too large
 */
export function decodePart(kind: PartCompression, bytes: Uint8Array, length: number): Float32Array {
  if (length === 0) return new Float32Array(0)
  try {
    const set = decodeTensorSet(bytes, { maxBytes: maxPartBytes(length) })
    // A copy: a decoded float32 part is a view into the message.
    return Float32Array.from(decodeUpdate(set, configOf(kind), blocks(length)))
  } catch (err) {
    if (err instanceof InvalidUpdateError) throw err
    if (err instanceof TensorSetTooLargeError) throw new InvalidUpdateError(`part of ${length} values is larger than ${maxPartBytes(length)} bytes`)
    throw new InvalidUpdateError(`part is not a tensor set: ${(err as Error).message}`)
  }
}

/**
 * A peer's encoder of the parts it sends: with int8 it keeps, for every coordinate of the model, what rounding did not
 * deliver and adds it to what it sends of that coordinate next (error feedback), so quantization error does not
 * accumulate in the model. The residual is kept by coordinate, not by part, since parts move as groups change.
 */
export class PartEncoder {
  readonly #kind: PartCompression
  readonly #residual: Float32Array | undefined

  constructor(kind: PartCompression, length: number) {
    this.#kind = kind
    this.#residual = kind === 'int8' ? new Float32Array(length) : undefined
  }

  /** Encodes the values of the part at `offset`. @throws RangeError when the part lies outside the model */
  encode(offset: number, values: Float32Array): Uint8Array {
    const residual = this.#residual
    if (residual === undefined) return encodePart(this.#kind, values)
    if (offset < 0 || offset + values.length > residual.length) throw new RangeError(`part ${offset}+${values.length} outside ${residual.length} values`)
    const corrected = new Float32Array(values.length)
    for (let i = 0; i < values.length; i++) corrected[i] = (values[i] as number) + (residual[offset + i] as number)
    const bytes = encodePart(this.#kind, corrected)
    const delivered = decodePart(this.#kind, bytes, values.length)
    for (let i = 0; i < values.length; i++) residual[offset + i] = (corrected[i] as number) - (delivered[i] as number)
    return bytes
  }

  /** Euclidean norm of what error feedback still owes (0 without it). */
  residualNorm(): number {
    let s = 0
    for (const v of this.#residual ?? []) s += v * v
    return Math.sqrt(s)
  }
}
