// Rényi DP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019), order by order.
import { checkNoiseMultiplier } from './checks.js'
import { RdpConvergenceError } from './errors.js'
import { logAddExp, logErfc, logSubExp, logSumExp } from './log-math.js'

/** One DP release: `steps` applications of a Gaussian mechanism, each on a Poisson sample of rate `sampleRate`. */
export interface GaussianRelease {
  /** Probability q that each record (or client) is in a step's sample, in [0, 1]. */
  readonly sampleRate: number
  /** z: noise standard deviation divided by the L2 sensitivity (the clip norm). */
  readonly noiseMultiplier: number
  /** Number of steps (rounds) released with these parameters; a non-negative integer. */
  readonly steps: number
}

function buildDefaultOrders(): readonly number[] {
  const orders: number[] = []
  // Quarter steps below 10, where the optimal order of small-ε settings lies and ε changes fastest with it.
  for (let k = 5; k <= 40; k++) orders.push(k / 4)
  for (let a = 11; a <= 64; a++) orders.push(a)
  orders.push(128, 256, 512, 1024)
  return Object.freeze(orders)
}

/**
 * The Rényi orders α tracked by default: 1.25 to 10 in steps of 0.25, every integer 11 to 64, then 128, 256,
 * 512 and 1024 (large orders only matter for tiny noise or very small δ).
 */
export const DEFAULT_ORDERS: readonly number[] = buildDefaultOrders()

/** Stop the fractional series once both new terms are below e^-30: A_α ≥ 1, so this is a relative bound. */
const LOG_TERM_CUTOFF = -30
const MAX_SERIES_TERMS = 10_000_000
const LOG_HALF = Math.log(0.5)

/**
 * Checks a sample rate and noise multiplier.
 * @throws RangeError naming the argument that is out of range
 */
function checkMechanism(sampleRate: number, noiseMultiplier: number): void {
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new RangeError(`sampleRate must be in [0, 1], got ${sampleRate}`)
  checkNoiseMultiplier(noiseMultiplier)
}

function checkOrder(order: number): void {
  if (!(order > 1 && Number.isFinite(order))) throw new RangeError(`order must be a finite number > 1, got ${order}`)
}

/**
 * log A_α for integer α: A_α = Σ_{k=0}^{α} C(α,k) (1-q)^{α-k} q^k exp((k²-k)/(2σ²)), a finite sum of positive
 * terms (Mironov et al. 2019, Section 3.3). log C(α,k) is built incrementally: C(α,k) = C(α,k-1)·(α-k+1)/k.
 */
function logAIntegerOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  const twoSigma2 = 2 * sigma * sigma
  const terms: number[] = []
  let logBinomial = 0
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinomial += Math.log((alpha - k + 1) / k)
    terms.push(logBinomial + k * logQ + (alpha - k) * log1mQ + (k * k - k) / twoSigma2)
  }
  return logSumExp(terms)
}

/**
 * log A_α for fractional α, from the two infinite series of Mironov et al. 2019 (Section 3.3). Splitting the
 * integral at z₀ = σ² log(1/q - 1) + 1/2, where the mixture's two components are equal, makes each binomial
 * expansion converge:
 *   A₁ = Σ_k C(α,k) (1-q)^{α-k} q^k     · ½ exp((k²-k)/(2σ²)) erfc((k - z₀)/(√2σ))
 *   A₂ = Σ_k C(α,k) (1-q)^k     q^{α-k} · ½ exp((j²-j)/(2σ²)) erfc((z₀ - j)/(√2σ)),  j = α - k.
 * For k > α the binomials alternate in sign and shrink, so the error after stopping is below the last term.
 * Positive and negative terms are summed separately in log space and subtracted once at the end.
 */
function logAFractionalOrder(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q)
  const log1mQ = Math.log1p(-q)
  const twoSigma2 = 2 * sigma * sigma
  const sqrt2Sigma = Math.SQRT2 * sigma
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5
  let logPositive = Number.NEGATIVE_INFINITY
  let logNegative = Number.NEGATIVE_INFINITY
  let logAbsBinomial = 0
  let negative = false
  for (let k = 0; k < MAX_SERIES_TERMS; k++) {
    if (k > 0) {
      const ratio = (alpha - k + 1) / k
      logAbsBinomial += Math.log(Math.abs(ratio))
      if (ratio < 0) negative = !negative
    }
    const j = alpha - k
    const below = logAbsBinomial + k * logQ + j * log1mQ + (k * k - k) / twoSigma2 + LOG_HALF + logErfc((k - z0) / sqrt2Sigma)
    const above = logAbsBinomial + j * logQ + k * log1mQ + (j * j - j) / twoSigma2 + LOG_HALF + logErfc((z0 - j) / sqrt2Sigma)
    const both = logAddExp(below, above)
    if (negative) logNegative = logAddExp(logNegative, both)
    else logPositive = logAddExp(logPositive, both)
    if (k > alpha && Math.max(below, above) < LOG_TERM_CUTOFF) return logSubExp(logPositive, logNegative)
  }
  throw new RdpConvergenceError(alpha, q, sigma, MAX_SERIES_TERMS)
}

/**
 * RDP ε(α) of one step of the sampled Gaussian mechanism: each record is included with probability q, and
 * Gaussian noise of standard deviation z·(sensitivity) is added to the sum.
 * q = 1 is the plain Gaussian mechanism, α/(2z²); q = 0 releases nothing about the data, so 0.
 * @param sampleRate q in [0, 1]
 * @param noiseMultiplier z > 0
 * @param order α > 1 (integer orders use the exact finite sum, fractional ones the two-series expression)
 * @returns ε(α) ≥ 0 in nats
 * @throws RangeError if an argument is out of range; RdpConvergenceError if the series does not converge
 */
export function rdpSampledGaussian(sampleRate: number, noiseMultiplier: number, order: number): number {
  checkMechanism(sampleRate, noiseMultiplier)
  checkOrder(order)
  if (sampleRate === 0) return 0
  if (sampleRate === 1) return order / (2 * noiseMultiplier * noiseMultiplier)
  const logA = Number.isInteger(order)
    ? logAIntegerOrder(sampleRate, noiseMultiplier, order)
    : logAFractionalOrder(sampleRate, noiseMultiplier, order)
  // Rényi divergences are ≥ 0; for tiny q, log A is O(q²) and rounding can leave it a hair below zero.
  return Math.max(0, logA / (order - 1))
}

/**
 * Checks that `orders` is a non-empty list of finite numbers > 1.
 * @throws RangeError naming the first bad order
 */
export function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new RangeError('orders must not be empty')
  for (const [i, order] of orders.entries()) {
    if (!(order > 1 && Number.isFinite(order))) throw new RangeError(`orders[${i}] must be a finite number > 1, got ${order}`)
  }
}

/**
 * The RDP curve of a release: ε(α) for each order, times the number of steps (RDP composes by addition).
 * @param release sample rate, noise multiplier and steps (a non-negative integer)
 * @param orders the orders α to evaluate, each > 1
 * @returns one RDP value per order, in the same order
 * @throws RangeError if an argument is out of range
 */
export function rdpOfRelease(release: GaussianRelease, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  checkRelease(release)
  checkOrders(orders)
  if (release.steps === 0) return orders.map(() => 0)
  return orders.map((order) => release.steps * rdpSampledGaussian(release.sampleRate, release.noiseMultiplier, order))
}

/**
 * Checks a release's sample rate, noise multiplier and steps.
 * @throws RangeError naming the field that is out of range
 */
export function checkRelease(release: GaussianRelease): void {
  checkMechanism(release.sampleRate, release.noiseMultiplier)
  if (!(Number.isSafeInteger(release.steps) && release.steps >= 0)) {
    throw new RangeError(`steps must be a non-negative integer, got ${release.steps}`)
  }
}
