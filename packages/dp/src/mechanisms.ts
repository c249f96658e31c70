// The Gaussian mechanism for federated averaging in its three placements: server-side clipping, client-side
// clipping with server noise, and local DP. Each function's doc says whether it works with secure aggregation.
import { checkClipNorm, checkExpectedClients, checkNoiseMultiplier } from './checks.js'
import { type ClipResult, clipToNorm } from './clipping.js'
import { defaultUniformSource, gaussianSource, type NoiseComponents } from './random.js'

/** The Gaussian mechanism's parameters: noise standard deviation is noiseMultiplier × clipNorm. */
export interface GaussianNoiseParams {
  /** z > 0. */
  readonly noiseMultiplier: number
  /** C > 0: the L2 bound on one client's contribution, hence the sensitivity of the sum. */
  readonly clipNorm: number
}

/** Parameters of a DP federated mean with the fixed denominator of DP-FedAvg. */
export interface DpMeanParams extends GaussianNoiseParams {
  /** m = qN: the EXPECTED number of clients per round, not the number that actually took part. */
  readonly expectedClients: number
}

/** Parameters of `serverSideDpMean`: the mean's parameters plus the model size. */
export interface ServerSideDpMeanParams extends DpMeanParams {
  /** Values per update. Needed because a Poisson-sampled round may have no participants, and its output must
   * still be a noise vector of the model's size: an empty result would reveal that nobody took part. */
  readonly length: number
}

/** A server-side-clipped update: a clipped copy of what the client sent. */
export interface ClippedUpdate extends ClipResult {
  readonly update: Float32Array
}

/** The result of a DP federated mean. */
export interface DpMean {
  /** (Σ clipped updates + N(0, (zC)²)) / m, per coordinate. */
  readonly mean: Float32Array
  /** How many updates went into the sum. */
  readonly participants: number
  /** How many of them were scaled down to the clip norm (known only where the server clips). */
  readonly clippedCount: number
}

function checkNoiseParams(params: GaussianNoiseParams): void {
  checkNoiseMultiplier(params.noiseMultiplier)
  checkClipNorm(params.clipNorm)
}

/**
 * Server-side clipping of one client's update: returns a clipped copy and leaves the original as received.
 * The server must see each individual update, so this does NOT combine with secure aggregation.
 * @throws RangeError if clipNorm is not a finite number > 0
 * @throws NonFiniteUpdateError if the update holds NaN or ±Infinity
 */
export function clipUpdate(update: Float32Array, clipNorm: number): ClippedUpdate {
  const copy = update.slice()
  return { update: copy, ...clipToNorm(copy, clipNorm) }
}

/**
 * Sums update vectors coordinate by coordinate in float64, so that many small float32 deltas do not lose
 * their low bits to rounding.
 * @param length values per update (the model size)
 * @throws RangeError if an update's length is not `length`
 */
export function sumUpdates(updates: readonly Float32Array[], length: number): Float64Array {
  const sum = new Float64Array(length)
  for (const [k, update] of updates.entries()) {
    if (update.length !== length) throw new RangeError(`updates[${k}] has ${update.length} values, expected ${length}`)
    for (let i = 0; i < length; i++) sum[i] = (sum[i] as number) + (update[i] as number)
  }
  return sum
}

/**
 * Adds N(0, (zC)²) to every coordinate of a sum of clipped updates, in place (float64 arithmetic). With
 * client-side clipping this runs on the unmasked output of secure aggregation, so the server never sees an
 * individual update.
 * @param sum the sum of updates each clipped to `clipNorm`
 * @param components `uniform`: the random source (secure by default; inject a seeded one in tests only)
 * @throws RangeError if noiseMultiplier or clipNorm is not a finite number > 0
 */
export function addCentralNoise(sum: Float64Array | Float32Array, params: GaussianNoiseParams, components: NoiseComponents = {}): void {
  checkNoiseParams(params)
  addGaussianNoise(sum, params, components)
}

function addGaussianNoise(vector: Float64Array | Float32Array, params: GaussianNoiseParams, components: NoiseComponents): void {
  const gaussian = gaussianSource(components.uniform ?? defaultUniformSource())
  const std = params.noiseMultiplier * params.clipNorm
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] as number) + std * gaussian.next()
}

/**
 * Divides a noised sum by the expected number of clients m (McMahan et al. 2018, DP-FedAvg's fixed-denominator
 * estimator). Dividing by the actual count would make the output depend on whether one client took part
 * through the denominator too, which the sensitivity bound of C does not cover.
 * @throws RangeError if expectedClients is not a finite number > 0
 */
export function fixedDenominatorMean(sum: Float64Array | Float32Array, expectedClients: number): Float32Array {
  checkExpectedClients(expectedClients)
  const mean = new Float32Array(sum.length)
  for (let i = 0; i < sum.length; i++) mean[i] = (sum[i] as number) / expectedClients
  return mean
}

/**
 * Central DP with server-side clipping: clip each received update to C, sum, add N(0, (zC)²), divide by m.
 * The server sees every individual update, so this does NOT combine with secure aggregation; use client-side
 * clipping with `dpMeanOfClippedSum` for that. Account each round as a release with q = m / N and this z.
 * @param updates the clients' model deltas (not modified)
 * @throws RangeError if a parameter is out of range or the updates differ in length
 * @throws NonFiniteUpdateError if an update holds NaN or ±Infinity
 */
export function serverSideDpMean(updates: readonly Float32Array[], params: ServerSideDpMeanParams, components: NoiseComponents = {}): DpMean {
  checkNoiseParams(params)
  checkExpectedClients(params.expectedClients)
  if (!(Number.isSafeInteger(params.length) && params.length >= 0)) throw new RangeError(`length must be a non-negative integer, got ${params.length}`)
  const clipped = updates.map((u) => clipUpdate(u, params.clipNorm))
  const sum = sumUpdates(
    clipped.map((c) => c.update),
    params.length,
  )
  addCentralNoise(sum, params, components)
  return {
    mean: fixedDenominatorMean(sum, params.expectedClients),
    participants: updates.length,
    clippedCount: clipped.filter((c) => c.clipped).length,
  }
}

/**
 * Central DP with client-side clipping: each client ran `clipToNorm(delta, C)` before upload, and the server
 * holds only their sum (e.g. the unmasked result of secure aggregation). Adds N(0, (zC)²) to that sum and
 * divides by m. Combines with secure aggregation, as long as noise is added after unmasking. The guarantee
 * rests on clients clipping honestly. Account each round as a release with q = m / N and this z.
 * @param clippedSum the sum of the clients' clipped deltas (not modified)
 * @throws RangeError if a parameter is out of range
 */
export function dpMeanOfClippedSum(clippedSum: Float64Array | Float32Array, params: DpMeanParams, components: NoiseComponents = {}): Float32Array {
  checkExpectedClients(params.expectedClients)
  const noised = Float64Array.from(clippedSum)
  addCentralNoise(noised, params, components)
  return fixedDenominatorMean(noised, params.expectedClients)
}

/**
 * Local DP: the client clips its own delta to C and adds N(0, (zC)²) to it, in place, before upload, so nothing
 * it sends depends on its data beyond the Gaussian mechanism. Combines trivially with secure aggregation (and
 * needs none). The client's accountant composes one release with q = 1 per round it takes part in: its data is
 * in every update it sends, so there is no amplification by sampling.
 * @throws RangeError if a parameter is out of range
 * @throws NonFiniteUpdateError if the delta holds NaN or ±Infinity
 */
export function localDpUpdate(delta: Float32Array, params: GaussianNoiseParams, components: NoiseComponents = {}): ClipResult {
  checkNoiseParams(params)
  const result = clipToNorm(delta, params.clipNorm)
  addGaussianNoise(delta, params, components)
  return result
}
