// L2 norms and clipping of update vectors: bounding each client's contribution is what gives noise its meaning.
import { checkClipNorm } from './checks.js'
import { NonFiniteUpdateError } from './errors.js'

/** What clipping did to one vector. */
export interface ClipResult {
  /** The L2 norm before clipping. */
  readonly norm: number
  /** Whether the vector was scaled down (norm > clipNorm); `!clipped` is the bit b = [‖Δ‖ ≤ C] of adaptive clipping. */
  readonly clipped: boolean
}

/**
 * Scaling by exactly C/‖v‖ and rounding to float32 can land a hair above C (each coordinate moves by up to
 * 2^-24 relative). Scaling to C·(1 - 2^-22) keeps the result at or below C, which the sensitivity bound needs.
 */
const CLIP_SHRINK = 1 - 2 ** -22

/** The L2 norm of a vector, accumulated in float64. NaN or Infinity if a coordinate is. */
export function l2Norm(vector: Float32Array): number {
  let sum = 0
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i] as number
    sum += x * x
  }
  return Math.sqrt(sum)
}

/**
 * Clips a vector in place to L2 norm at most `clipNorm`, keeping its direction; a vector already within the
 * norm is left untouched. This is also what a client runs on its own delta in client-side clipping.
 * @returns the original norm and whether the vector was scaled
 * @throws RangeError if clipNorm is not a finite number > 0
 * @throws NonFiniteUpdateError if a coordinate is NaN or ±Infinity (such a vector has no meaningful norm)
 */
export function clipToNorm(vector: Float32Array, clipNorm: number): ClipResult {
  checkClipNorm(clipNorm)
  const norm = l2Norm(vector)
  if (!Number.isFinite(norm)) throw nonFiniteAt(vector)
  if (norm <= clipNorm) return { norm, clipped: false }
  const scale = (clipNorm / norm) * CLIP_SHRINK
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) * scale
  return { norm, clipped: true }
}

function nonFiniteAt(vector: Float32Array): NonFiniteUpdateError {
  const index = vector.findIndex((x) => !Number.isFinite(x))
  return new NonFiniteUpdateError(index, vector[index] as number)
}
