// Flat parameter vectors as tensor sets: the one form in which models and updates are hashed, stored and sent.
import { createTensor, type HashOptions, type TensorSet, tensorSetHash, toHex } from '@weft/protocol'

/** Name of the single tensor of a global model set. */
export const MODEL_TENSOR = 'params'
/** Name of the single tensor of an update set. */
export const DELTA_TENSOR = 'delta'
/** Tensor name of a secure-aggregation masked input (uint32, in the ring Z/2^32). */
export const MASKED_TENSOR = 'masked'

/**
 * Why `tensors` (the set's headers, as an update's transfer announces them) are not one masked input, or undefined
 * when they are: one uint32 vector named `masked`.
 */
export function maskedInputProblem(tensors: readonly { readonly name: string; readonly dtype: string; readonly shape: readonly number[] }[]): string | undefined {
  const t = tensors[0]
  if (tensors.length !== 1 || t?.name !== MASKED_TENSOR || t.dtype !== 'uint32' || t.shape.length !== 1) return `a masked input is one uint32 vector named "${MASKED_TENSOR}"`
  return undefined
}

/** The tensor set of a masked input (shares `masked`' memory). */
export function maskedSet(masked: Uint32Array): TensorSet {
  return [createTensor(MASKED_TENSOR, 'uint32', [masked.length], masked)]
}

/** The tensor set of a flat vector (shares `values`' memory). */
export function vectorSet(name: string, values: Float32Array): TensorSet {
  return [createTensor(name, 'float32', [values.length], values)]
}

/**
 * The flat float32 vector held by a one-tensor set, as a Float32Array over the same memory when aligned.
 * @throws TypeError when the set is not exactly one float32 tensor named `name`
 */
export function setVector(set: TensorSet, name: string): Float32Array {
  const t = set[0]
  if (set.length !== 1 || t === undefined || t.name !== name || t.dtype !== 'float32') {
    throw new TypeError(`expected one float32 tensor named "${name}", got ${set.map((x) => `${x.name}:${x.dtype}`).join(', ') || 'none'}`)
  }
  const d = t.data
  if (d.byteOffset % 4 === 0) return new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4)
  return new Float32Array(d.slice().buffer)
}

/** Content hash (hex) of a global model: the hash its `fl-model` transfer announces. */
export function modelHash(params: Float32Array, options: HashOptions = {}): string {
  return toHex(tensorSetHash(vectorSet(MODEL_TENSOR, params), options))
}
