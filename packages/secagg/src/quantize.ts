// Fixed-point encoding of float inputs into Z_{2^32}: clip to [-clip, clip], scale to [0, 2^bits - 1], round
// stochastically (unbiased), so that the sum of n encodings never wraps when n * (2^bits - 1) < 2^32.
import { expandSeed, PRG_NONCES } from './prg.js'
import type { RandomBytes } from './random.js'

/** The fixed-point encoding of one round. */
export interface QuantizationParams {
  /** Inputs are clipped to [-clip, clip]; finite and positive. */
  readonly clip: number
  /** Fixed-point bits per coordinate, 1 to 31. */
  readonly bits: number
}

/** The masked sum lives in Z_{2^MODULUS_BITS}. */
export const MODULUS_BITS = 32

const TWO_POW_32 = 2 ** 32
const SEED_BYTES = 32

/**
 * The most fixed-point bits that `clients` encodings can use without their sum wrapping around 2^32:
 * 32 - ceil(log2(clients)), which gives clients * (2^bits - 1) < 2^32.
 * @throws RangeError when clients is not an integer in [1, 2^31].
 */
export function maxQuantizationBits(clients: number): number {
  if (!Number.isInteger(clients) || clients < 1 || clients > 2 ** 31) {
    throw new RangeError(`clients must be an integer in [1, 2^31], got ${clients}`)
  }
  return MODULUS_BITS - Math.ceil(Math.log2(clients))
}

/**
 * Checks that the encoding is usable by `clients` clients: a finite positive clip, and bits in [1, 31] with
 * clients * (2^bits - 1) <= 2^32 - 1 (the true sum never wraps).
 * @throws RangeError naming the bad value.
 */
export function checkQuantization(params: QuantizationParams, clients: number): void {
  if (!Number.isFinite(params.clip) || params.clip <= 0) {
    throw new RangeError(`clip must be a finite positive number, got ${params.clip}`)
  }
  if (!Number.isInteger(params.bits) || params.bits < 1 || params.bits > MODULUS_BITS - 1) {
    throw new RangeError(`bits must be an integer in [1, ${MODULUS_BITS - 1}], got ${params.bits}`)
  }
  if (clients * (2 ** params.bits - 1) > TWO_POW_32 - 1) {
    throw new RangeError(
      `bits ${params.bits} is too many for ${clients} clients: their sum could reach ${clients} * (2^${params.bits} - 1) ` +
        `>= 2^32 and wrap; use at most ${maxQuantizationBits(clients)} bits`,
    )
  }
}

/**
 * The largest error of a dequantized sum of `count` inputs against the sum of the clipped inputs, per coordinate:
 * each input's stochastic rounding moves it by less than one step, 2 * clip / (2^bits - 1), so the sum is off by less
 * than count steps (about count * clip / 2^(bits - 1)); divide by count for the mean.
 */
export function quantizationErrorBound(params: QuantizationParams, count: number): number {
  return (count * 2 * params.clip) / (2 ** params.bits - 1)
}

/**
 * Encodes a float vector: each coordinate clipped to [-clip, clip], scaled to [0, 2^bits - 1] and rounded up with
 * probability equal to its fractional part (so the encoding is unbiased). The rounding coins come from a ChaCha20
 * stream under a fresh seed drawn from `randomBytes`.
 * @returns one uint32 per coordinate, each below 2^bits.
 * @throws RangeError when a coordinate is NaN.
 */
export function quantize(input: Float32Array, params: QuantizationParams, randomBytes: RandomBytes): Uint32Array {
  const levels = 2 ** params.bits - 1
  const scale = levels / (2 * params.clip)
  const coins = expandSeed(randomBytes(SEED_BYTES), PRG_NONCES.rounding, input.length)
  const out = new Uint32Array(input.length)
  for (let i = 0; i < input.length; i++) {
    const value = input[i]!
    if (Number.isNaN(value)) throw new RangeError(`input[${i}] is NaN; inputs must be numbers (infinities are clipped)`)
    const scaled = (Math.min(params.clip, Math.max(-params.clip, value)) + params.clip) * scale
    const floor = Math.min(levels, Math.floor(scaled))
    // Round up when a uniform 32-bit coin falls below the fractional part scaled to 2^32.
    out[i] = coins[i]! < (scaled - floor) * TWO_POW_32 ? floor + 1 : floor
  }
  return out
}

/**
 * Decodes the sum of `count` encodings back to floats: sum * step - count * clip.
 * @returns the sum of the (clipped) inputs, within `quantizationErrorBound(params, count)` per coordinate.
 */
export function dequantizeSum(sum: Uint32Array, count: number, params: QuantizationParams): Float32Array {
  const step = (2 * params.clip) / (2 ** params.bits - 1)
  const offset = count * params.clip
  const out = new Float32Array(sum.length)
  for (let i = 0; i < sum.length; i++) out[i] = sum[i]! * step - offset
  return out
}
