// Malicious clients, for evaluation only: the attacks Weft plays in simulation and on test meshes to measure how
// robust an aggregation strategy is. Nothing in a normal job calls them.
//
// Attacks (Δ is an update; μ, σ the per-coordinate mean and population standard deviation of the benign updates):
//   label-flip  trains on labels y' = C − 1 − y, then sends its update unchanged (a data-level attack)
//   sign-flip   −scale · Δ
//   gaussian    N(0, std²) per coordinate instead of Δ
//   alie        μ − z · σ ("A Little Is Enough", Baruch et al. 2019)
//   ipm         −ε · μ (inner-product manipulation, Xie, Koyejo & Gupta 2020)
import type { SharedDatasetDescriptor } from '@weft/data'
import { mulberry32, permutation } from '@weft/runtime'
import { z } from 'zod'
import { type RandomSource, secureRandom } from './compression.js'

/** The share of clients that attack when a config does not say. */
const DEFAULT_ATTACKER_FRACTION = 0.1

const fraction = z.number().min(0).max(1).default(DEFAULT_ATTACKER_FRACTION)

/**
 * An attack to evaluate robustness against, a union discriminated on `kind`; `fraction` (default 0.1) is the share
 * of clients that attack. Parsing fills defaults and rejects unknown fields.
 * - `label-flip`: attackers train on flipped labels (see {@link flipLabels}).
 * - `sign-flip`: send −scale·Δ (`scale` default 1).
 * - `gaussian`: send N(0, std²) noise per coordinate (`std` default 1).
 * - `alie`: send μ − z·σ; `z` overrides the paper's value (see {@link alieZ}).
 * - `ipm`: send −ε·μ (`epsilon` default 0.5).
 */
export const attackConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('label-flip'), fraction }),
  z.strictObject({ kind: z.literal('sign-flip'), fraction, scale: z.number().positive().default(1) }),
  z.strictObject({ kind: z.literal('gaussian'), fraction, std: z.number().positive().default(1) }),
  z.strictObject({ kind: z.literal('alie'), fraction, z: z.number().optional() }),
  z.strictObject({ kind: z.literal('ipm'), fraction, epsilon: z.number().positive().default(0.5) }),
])

/** A parsed attack config (defaults filled). For evaluation only. */
export type AttackConfig = z.output<typeof attackConfigSchema>
/** An attack config as written by a user (defaults optional). */
export type AttackConfigInput = z.input<typeof attackConfigSchema>

/** Class-index labels, as datasets hold them. */
export type LabelArray = Uint8Array | Uint16Array | Int32Array | Uint32Array

/**
 * Label flipping, for evaluation only: a copy of `labels` with each class y replaced by numClasses − 1 − y.
 * Applied to an attacker's data before local training. Flipping twice gives the labels back.
 * @throws RangeError when `numClasses` is not a positive integer or a label is outside [0, numClasses)
 */
export function flipLabels<T extends LabelArray>(labels: T, numClasses: number): T {
  if (!Number.isSafeInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`)
  }
  const out = labels.slice() as T
  for (let i = 0; i < out.length; i++) {
    const y = out[i] as number
    if (y < 0 || y >= numClasses) throw new RangeError(`labels[${i}] is ${y}, outside [0, ${numClasses})`)
    out[i] = numClasses - 1 - y
  }
  return out
}

/**
 * Chooses the attackers among a round's clients, for evaluation only: round(fraction · n) of them, drawn by a
 * seeded shuffle of the ids in sorted order, so the same ids and seed give the same set whatever their order.
 * @throws RangeError when `fraction` is outside [0, 1], `seed` is not finite, or an id appears twice
 */
export function attackerIds(clientIds: readonly string[], fraction: number, seed: number): ReadonlySet<string> {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`fraction must be in [0, 1], got ${fraction}`)
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`)
  const sorted = [...clientIds].sort()
  sorted.forEach((id, i) => {
    if (i > 0 && sorted[i - 1] === id) throw new RangeError(`client id ${JSON.stringify(id)} appears more than once`)
  })
  const count = Math.round(fraction * sorted.length)
  const order = permutation(sorted.length, mulberry32(seed)).subarray(0, count)
  return new Set(Array.from(order, (i) => sorted[i] as string))
}

// Acklam's rational approximation of the normal quantile: relative error below 1.15e-9 over (0, 1).
const ACKLAM_A = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]
const ACKLAM_B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572, 1]
const ACKLAM_C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
const ACKLAM_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416, 1]
/** Below this p (and above 1 − p) the tail formula replaces the central one. */
const ACKLAM_TAIL = 0.02425

/** Horner evaluation of a polynomial whose coefficients run from the highest power down. */
function horner(coefficients: readonly number[], x: number): number {
  let y = 0
  for (const c of coefficients) y = y * x + c
  return y
}

/**
 * Φ⁻¹(p), the standard normal quantile, by Acklam's rational approximation (relative error < 1.15e-9).
 * @returns −∞ at 0 and +∞ at 1
 * @throws RangeError when `p` is outside [0, 1]
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`)
  if (p === 0) return Number.NEGATIVE_INFINITY
  if (p === 1) return Number.POSITIVE_INFINITY
  if (p < ACKLAM_TAIL) {
    const q = Math.sqrt(-2 * Math.log(p))
    return horner(ACKLAM_C, q) / horner(ACKLAM_D, q)
  }
  if (p > 1 - ACKLAM_TAIL) {
    const q = Math.sqrt(-2 * Math.log1p(-p))
    return -horner(ACKLAM_C, q) / horner(ACKLAM_D, q)
  }
  const q = p - 0.5
  const r = q * q
  return (q * horner(ACKLAM_A, r)) / horner(ACKLAM_B, r)
}

/**
 * ALIE's z for n clients of which m attack (Baruch et al. 2019): with s = ⌊n/2 + 1⌋ − m, the non-attackers the
 * attackers need on their side for a majority, z = Φ⁻¹((n − s)/n). For n = 50, m = 12: s = 14, z = Φ⁻¹(0.72) ≈ 0.58.
 * @throws RangeError when n or m is not an integer, m > n, or (n − s)/n is not inside (0, 1) (no finite z exists:
 *   the attackers already hold a majority, or there is no one to sway)
 */
export function alieZ(totalClients: number, attackers: number): number {
  if (!Number.isSafeInteger(totalClients) || totalClients < 1) {
    throw new RangeError(`totalClients must be a positive integer, got ${totalClients}`)
  }
  if (!Number.isSafeInteger(attackers) || attackers < 0 || attackers > totalClients) {
    throw new RangeError(`attackers must be an integer in [0, ${totalClients}], got ${attackers}`)
  }
  const s = Math.floor(totalClients / 2 + 1) - attackers
  const p = (totalClients - s) / totalClients
  if (!(p > 0 && p < 1)) {
    throw new RangeError(`ALIE has no finite z for ${totalClients} clients with ${attackers} attackers ((n − s)/n = ${p}); set z explicitly`)
  }
  return normalQuantile(p)
}

/** One round as colluding attackers in a simulation see it. For evaluation only. */
export interface ColludingRound {
  /** The benign clients' updates: ALIE and IPM compute μ (and σ) from them. */
  readonly benign: readonly Float32Array[]
  /** How many attackers take part; each gets one crafted update. */
  readonly attackerCount: number
  /**
   * Each attacker's own honest update (for label-flip: trained on flipped labels), one per attacker, in order.
   * Required by label-flip (sent as is) and sign-flip (negated); ignored by the others.
   */
  readonly attackerUpdates?: readonly Float32Array[]
  /** n, the clients whose updates are aggregated, for ALIE's z. Default: benign.length + attackerCount. */
  readonly totalClients?: number
}

/**
 * The updates colluding attackers send in one round, for evaluation only (simulation: the attackers see every
 * benign update). ALIE and IPM send one shared crafted update from the benign statistics; sign-flip and gaussian
 * transform or replace each attacker's own update; label-flip sends them unchanged.
 * @param random uniform source for the gaussian attack; default: the platform CSPRNG
 * @returns one new array per attacker, never sharing memory with the inputs
 * @throws RangeError when `attackerCount` is not a non-negative integer, the vectors differ in length, the
 *   attack needs `attackerUpdates` (one per attacker) or at least one benign update and lacks them, or ALIE has no
 *   finite z (see {@link alieZ})
 */
export function craftMaliciousUpdates(config: AttackConfig, round: ColludingRound, random?: RandomSource): Float32Array[] {
  const { attackerCount, benign } = round
  if (!Number.isSafeInteger(attackerCount) || attackerCount < 0) {
    throw new RangeError(`attackerCount must be a non-negative integer, got ${attackerCount}`)
  }
  const length = commonLength([...benign, ...(round.attackerUpdates ?? [])])
  if (attackerCount === 0) return []
  const repeat = (make: () => Float32Array) => Array.from({ length: attackerCount }, make)
  switch (config.kind) {
    case 'label-flip':
      return ownUpdates(round, config.kind).map((u) => u.slice())
    case 'sign-flip':
      return ownUpdates(round, config.kind).map((u) => scaled(u, -config.scale))
    case 'gaussian': {
      if (length === undefined) throw new RangeError('gaussian needs at least one update to know the vector length')
      const source = random ?? secureRandom()
      return repeat(() => gaussianVector(length, config.std, source))
    }
    case 'alie': {
      const z = config.z ?? alieZ(round.totalClients ?? benign.length + attackerCount, attackerCount)
      const { mean, std } = coordinateStats(benignUpdates(round, config.kind))
      const crafted = Float32Array.from(mean, (m, j) => m - z * (std[j] as number))
      return repeat(() => crafted.slice())
    }
    case 'ipm': {
      const { mean } = coordinateStats(benignUpdates(round, config.kind))
      const crafted = Float32Array.from(mean, (m) => -config.epsilon * m)
      return repeat(() => crafted.slice())
    }
    default:
      return unknownAttack(config)
  }
}

/**
 * What one attacking node can send on its own, for evaluation only (a real mesh: it sees no other update).
 * Sign-flip and gaussian are exact; label-flip returns a copy of its update (the attack was in its data). IPM takes
 * its own update as the estimate of μ: −ε·Δ. ALIE takes its own update as μ and |Δ| per coordinate as the estimate
 * of σ, sending Δ − z·|Δ|, a crude stand-in for the benign spread, which it cannot observe; without `z` in the config
 * it uses the large-n limit of the paper's z, Φ⁻¹(1/2 + fraction), since it does not know n.
 * @param random uniform source for the gaussian attack; default: the platform CSPRNG
 * @returns a new array
 * @throws RangeError for ALIE without `z` when fraction ≥ 0.5 (no finite z)
 */
export function craftLocalMaliciousUpdate(config: AttackConfig, ownHonestDelta: Float32Array, random?: RandomSource): Float32Array {
  switch (config.kind) {
    case 'label-flip':
      return ownHonestDelta.slice()
    case 'sign-flip':
      return scaled(ownHonestDelta, -config.scale)
    case 'gaussian':
      return gaussianVector(ownHonestDelta.length, config.std, random ?? secureRandom())
    case 'alie': {
      const z = config.z ?? largeNAlieZ(config.fraction)
      return ownHonestDelta.map((x) => x - z * Math.abs(x))
    }
    case 'ipm':
      return scaled(ownHonestDelta, -config.epsilon)
    default:
      return unknownAttack(config)
  }
}

/** lim n→∞ of alieZ(n, fraction·n): (n − s)/n tends to 1/2 + fraction. */
function largeNAlieZ(fraction: number): number {
  if (fraction >= 0.5) {
    throw new RangeError(`ALIE has no finite z when attackers are a fraction ${fraction} ≥ 0.5 of the clients; set z explicitly`)
  }
  return normalQuantile(0.5 + fraction)
}

/** The length every vector shares (undefined when there are none). */
function commonLength(vectors: readonly Float32Array[]): number | undefined {
  const length = vectors[0]?.length
  vectors.forEach((v, i) => {
    if (v.length !== length) throw new RangeError(`update ${i} has ${v.length} values, expected ${length} like the first`)
  })
  return length
}

function ownUpdates(round: ColludingRound, kind: string): readonly Float32Array[] {
  const own = round.attackerUpdates
  if (own === undefined || own.length !== round.attackerCount) {
    throw new RangeError(`${kind} needs attackerUpdates, one per attacker (${round.attackerCount}), got ${own?.length ?? 'none'}`)
  }
  return own
}

function benignUpdates(round: ColludingRound, kind: string): readonly Float32Array[] {
  if (round.benign.length === 0) throw new RangeError(`${kind} needs at least one benign update to estimate the mean`)
  return round.benign
}

/** Per-coordinate mean and population standard deviation, accumulated in float64. */
function coordinateStats(updates: readonly Float32Array[]): { mean: Float64Array; std: Float64Array } {
  const length = (updates[0] as Float32Array).length
  const mean = new Float64Array(length)
  for (const u of updates) for (let j = 0; j < length; j++) mean[j] = (mean[j] as number) + (u[j] as number)
  for (let j = 0; j < length; j++) mean[j] = (mean[j] as number) / updates.length
  // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] − E[x]².
  const variance = new Float64Array(length)
  for (const u of updates) {
    for (let j = 0; j < length; j++) {
      const d = (u[j] as number) - (mean[j] as number)
      variance[j] = (variance[j] as number) + d * d
    }
  }
  return { mean, std: variance.map((v) => Math.sqrt(v / updates.length)) }
}

function scaled(v: Float32Array, factor: number): Float32Array {
  return v.map((x) => factor * x)
}

/** Independent N(0, std²) values by the Box–Muller transform (two per pair of uniforms). */
function gaussianVector(length: number, std: number, random: RandomSource): Float32Array {
  const out = new Float32Array(length)
  for (let i = 0; i < length; i += 2) {
    // 1 − u lies in (0, 1], so the logarithm is finite.
    const radius = std * Math.sqrt(-2 * Math.log(1 - random()))
    const angle = 2 * Math.PI * random()
    out[i] = radius * Math.cos(angle)
    if (i + 1 < length) out[i + 1] = radius * Math.sin(angle)
  }
  return out
}

function unknownAttack(config: never): never {
  throw new TypeError(`unknown attack kind ${JSON.stringify((config as { kind?: unknown }).kind)}`)
}

/** A data-set descriptor over the same features with every label y replaced by numClasses − 1 − y (a copy). */
export function withFlippedLabels(dataset: SharedDatasetDescriptor): SharedDatasetDescriptor {
  const source = new Int32Array(dataset.labels)
  const labels = new SharedArrayBuffer(source.byteLength)
  const flipped = new Int32Array(labels)
  for (let i = 0; i < source.length; i++) flipped[i] = dataset.numClasses - 1 - (source[i] as number)
  return { ...dataset, labels }
}

/**
 * The data a client trains on under an attack: label flipping changes it (on a copy, so the client's own data is
 * never changed); the other attacks change the update instead.
 */
export function trainingData(dataset: SharedDatasetDescriptor, attack: AttackConfig | undefined): SharedDatasetDescriptor {
  return attack?.kind === 'label-flip' ? withFlippedLabels(dataset) : dataset
}
