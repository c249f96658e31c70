// Error classes of @weft/dp, one per condition; callers match on `err.name`.

/** No noise multiplier reaches the target ε: it is at or below what the conversion gives with zero privacy loss. */
export class UnreachableEpsilonError extends Error {
  override readonly name = 'UnreachableEpsilonError'
  /** The ε that was asked for. */
  readonly targetEpsilon: number
  /** The smallest ε this set of orders and δ can certify (for any noise); targets must exceed it. */
  readonly floor: number
  constructor(targetEpsilon: number, floor: number, why: string) {
    super(`target epsilon ${targetEpsilon} is unreachable: ${why}`)
    this.targetEpsilon = targetEpsilon
    this.floor = floor
  }
}

/** A serialized accountant or adaptive-clipping state is malformed; nothing was loaded from it. */
export class DpStateError extends Error {
  override readonly name = 'DpStateError'
  /** Dotted path of the bad field, e.g. `rdp.3` or `releases.0.steps`. */
  readonly field: string
  constructor(field: string, problem: string) {
    super(`invalid DP state: ${field}: ${problem}`)
    this.field = field
  }
}

/** An update vector holds NaN or ±Infinity, so it has no norm and cannot be clipped or summed. */
export class NonFiniteUpdateError extends Error {
  override readonly name = 'NonFiniteUpdateError'
  /** Index of the first non-finite coordinate. */
  readonly index: number
  readonly value: number
  constructor(index: number, value: number) {
    super(`update coordinate ${index} is ${value}; updates must be finite to be clipped`)
    this.index = index
    this.value = value
  }
}

/** The fractional-order RDP series did not converge within its term budget (parameters far outside practice). */
export class RdpConvergenceError extends Error {
  override readonly name = 'RdpConvergenceError'
  constructor(order: number, sampleRate: number, noiseMultiplier: number, terms: number) {
    super(`RDP series for order ${order}, sample rate ${sampleRate}, noise multiplier ${noiseMultiplier} did not converge in ${terms} terms`)
  }
}
