// Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021): the clip norm tracks a target quantile of
// the clients' update norms, learned privately from one noised bit per client per round.
import { checkExpectedClients, checkNoiseMultiplier } from './checks.js'
import { DpStateError } from './errors.js'
import { defaultUniformSource, gaussianSource, type NoiseComponents } from './random.js'

/** The adaptive-clipping state the server keeps between rounds; plain JSON, so it is stored with the job. */
export interface AdaptiveClippingState {
  /** C: the clip norm for the next round, > 0. */
  readonly clipNorm: number
  /** γ ∈ (0, 1): the fraction of clients whose update norm C should cover (0.5 = the median). */
  readonly targetQuantile: number
  /** η > 0: the step size of the geometric update. */
  readonly learningRate: number
  /** σ_b > 0: standard deviation of the noise on the count of unclipped clients. */
  readonly countNoiseStd: number
}

/** One round's count: how many participants had ‖Δ‖ ≤ C (the bit b = !clipped), out of how many. */
export interface ClipCount {
  readonly withinNormCount: number
  readonly participants: number
  /** m: the expected number of clients per round, the fixed denominator. */
  readonly expectedClients: number
}

/** The updated state and the noised fraction that drove the update. */
export interface ClipNormUpdate {
  readonly state: AdaptiveClippingState
  /** b̃: the noised estimate of the fraction of clients within C. */
  readonly noisyFraction: number
}

const FIELD_RANGES: Readonly<Record<keyof AdaptiveClippingState, { valid: (n: number) => boolean; expected: string }>> = {
  clipNorm: { valid: (n) => n > 0 && Number.isFinite(n), expected: 'a finite number > 0' },
  targetQuantile: { valid: (n) => n > 0 && n < 1, expected: 'a number in (0, 1)' },
  learningRate: { valid: (n) => n > 0 && Number.isFinite(n), expected: 'a finite number > 0' },
  countNoiseStd: { valid: (n) => n > 0 && Number.isFinite(n), expected: 'a finite number > 0' },
}

/**
 * A checked, frozen adaptive-clipping state.
 * @throws RangeError naming the first field out of range
 */
export function adaptiveClipping(init: AdaptiveClippingState): AdaptiveClippingState {
  for (const [field, { valid, expected }] of Object.entries(FIELD_RANGES)) {
    const value = init[field as keyof AdaptiveClippingState]
    if (!valid(value)) throw new RangeError(`${field} must be ${expected}, got ${value}`)
  }
  const { clipNorm, targetQuantile, learningRate, countNoiseStd } = init
  return Object.freeze({ clipNorm, targetQuantile, learningRate, countNoiseStd })
}

/**
 * Restores an adaptive-clipping state from stored JSON.
 * @throws DpStateError naming the first missing or malformed field
 */
export function parseAdaptiveClippingState(value: unknown): AdaptiveClippingState {
  if (typeof value !== 'object' || value === null) throw new DpStateError('(root)', `expected an object, got ${JSON.stringify(value)}`)
  const record = value as Record<string, unknown>
  for (const [field, { valid, expected }] of Object.entries(FIELD_RANGES)) {
    const v = record[field]
    if (typeof v !== 'number' || !valid(v)) throw new DpStateError(field, `expected ${expected}, got ${JSON.stringify(v)}`)
  }
  return adaptiveClipping(record as unknown as AdaptiveClippingState)
}

/**
 * One round of the clip-norm update: b̃ = (Σ(b_i − ½) + N(0, σ_b²))/m + ½, then C ← C·exp(−η(b̃ − γ)).
 * Each bit is centred at ½ before noising, as in the paper, so one client moves the sum by at most ½; that
 * halved sensitivity is where the 2σ_b in `adaptiveUpdateNoiseMultiplier` comes from. With exactly m
 * participants this is the paper's b̃ = (Σb_i + N(0, σ_b²))/m. The update is geometric, so C stays positive
 * and moves by the same factor whatever its scale.
 * @returns the new state (the input is not modified) and b̃
 * @throws RangeError if a count is out of range
 */
export function updateClipNorm(state: AdaptiveClippingState, count: ClipCount, components: NoiseComponents = {}): ClipNormUpdate {
  const { withinNormCount, participants, expectedClients } = count
  if (!(Number.isSafeInteger(participants) && participants >= 0)) throw new RangeError(`participants must be a non-negative integer, got ${participants}`)
  if (!(Number.isSafeInteger(withinNormCount) && withinNormCount >= 0 && withinNormCount <= participants)) {
    throw new RangeError(`withinNormCount must be an integer in [0, participants = ${participants}], got ${withinNormCount}`)
  }
  checkExpectedClients(expectedClients)
  const noise = state.countNoiseStd * gaussianSource(components.uniform ?? defaultUniformSource()).next()
  const noisyFraction = (withinNormCount - participants / 2 + noise) / expectedClients + 0.5
  const clipNorm = state.clipNorm * Math.exp(-state.learningRate * (noisyFraction - state.targetQuantile))
  return { state: adaptiveClipping({ ...state, clipNorm }), noisyFraction }
}

/**
 * The noise multiplier z_Δ left for the update itself when a run with overall noise multiplier z also spends
 * budget on the clip count: z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) (Andrew et al. 2021). Account each round with z,
 * noise the update sum with z_Δ; together they are as private as one Gaussian release with z.
 * @param noiseMultiplier z, the overall noise multiplier the accountant uses
 * @param countNoiseStd σ_b, which must exceed z/2 (otherwise the count alone spends the whole budget)
 * @throws RangeError if an argument is out of range or σ_b ≤ z/2
 */
export function adaptiveUpdateNoiseMultiplier(noiseMultiplier: number, countNoiseStd: number): number {
  checkNoiseMultiplier(noiseMultiplier)
  if (!(countNoiseStd > noiseMultiplier / 2)) {
    throw new RangeError(`countNoiseStd must be > noiseMultiplier / 2 = ${noiseMultiplier / 2} for noiseMultiplier ${noiseMultiplier}, got ${countNoiseStd}`)
  }
  return (noiseMultiplier ** -2 - (2 * countNoiseStd) ** -2) ** -0.5
}
