// Log-space arithmetic and log erfc for the RDP series, where terms range far beyond float64's exponent range.

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI)
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI)
/** Below this argument erfc comes from the erf series; above it from the continued fraction (both converge fast there). */
const CONTINUED_FRACTION_FROM = 3
const TINY = 1e-300

/** log(e^a + e^b), exact for -Infinity operands. */
export function logAddExp(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b
  if (b === Number.NEGATIVE_INFINITY) return a
  const hi = Math.max(a, b)
  return hi + Math.log1p(Math.exp(-Math.abs(a - b)))
}

/** log(e^a - e^b) for a ≥ b; -Infinity when they are equal. */
export function logSubExp(a: number, b: number): number {
  if (b === Number.NEGATIVE_INFINITY) return a
  if (b >= a) return Number.NEGATIVE_INFINITY
  return a + Math.log1p(-Math.exp(b - a))
}

/** log Σ e^t over `terms`, shifting by the largest term so nothing overflows. */
export function logSumExp(terms: readonly number[]): number {
  let hi = Number.NEGATIVE_INFINITY
  for (const t of terms) if (t > hi) hi = t
  if (hi === Number.NEGATIVE_INFINITY || hi === Number.POSITIVE_INFINITY) return hi
  let sum = 0
  for (const t of terms) sum += Math.exp(t - hi)
  return hi + Math.log(sum)
}

/**
 * erf(x) for 0 ≤ x < 3 from the all-positive series erf(x) = 2/√π · e^{-x²} · Σ 2ⁿ x^{2n+1} / (2n+1)!!,
 * which has no cancellation (unlike the alternating Taylor series).
 */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x
  let term = x
  let sum = x
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= twoX2 / (2 * n + 1)
    sum += term
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum
}

/**
 * log of the continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))) for x ≥ 3, evaluated with
 * Lentz's method; erfc(x) = e^{-x²} / (√π · that).
 */
function logErfcContinuedFraction(x: number): number {
  let f = x
  let c = x
  let d = 0
  for (let n = 1; n < 500; n++) {
    const a = n / 2
    d = x + a * d
    c = x + a / c
    if (Math.abs(d) < TINY) d = TINY
    if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const delta = c * d
    f *= delta
    if (Math.abs(delta - 1) < 1e-16) break
  }
  return -x * x - LOG_SQRT_PI - Math.log(f)
}

/** log erfc(x) for any real x, accurate to about 1e-12 relative even where erfc(x) underflows (x ≳ 27). */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN
  if (x === Number.POSITIVE_INFINITY) return Number.NEGATIVE_INFINITY
  // erfc(-y) = 1 + erf(y); the series is accurate for small y, and erf(y) → 1 for large y.
  if (x < 0) return Math.log1p(-x < CONTINUED_FRACTION_FROM ? erfSeries(-x) : 1 - Math.exp(logErfcContinuedFraction(-x)))
  if (x < CONTINUED_FRACTION_FROM) return Math.log1p(-erfSeries(x))
  return logErfcContinuedFraction(x)
}
