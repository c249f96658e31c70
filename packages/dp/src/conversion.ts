// From an RDP curve to an (ε, δ)-DP guarantee: the classic conversion (Mironov 2017) and the tighter one
// (Canonne, Kamath & Steinke 2020; Balle et al. 2020), minimised over the tracked orders.

/** Which RDP → (ε, δ) conversion to use. */
export type Conversion = 'classic' | 'tight'

/** The conversions, for validating user input. */
export const CONVERSIONS: readonly Conversion[] = Object.freeze(['classic', 'tight'])

/** An (ε, δ)-DP guarantee and the Rényi order that gave it. */
export interface PrivacyGuarantee {
  /** ε in nats; 0 when nothing was released. */
  readonly epsilon: number
  readonly delta: number
  /** The order α at which the conversion was smallest. */
  readonly order: number
  readonly conversion: Conversion
}

/**
 * Checks δ ∈ (0, 1) and the conversion name.
 * @throws RangeError naming the bad argument
 */
export function checkConversionArgs(delta: number, conversion: Conversion): void {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`)
  if (!CONVERSIONS.includes(conversion)) throw new RangeError(`conversion must be one of ${CONVERSIONS.join(', ')}, got "${conversion}"`)
}

/**
 * ε(δ) implied at one order α by an RDP value ε_α.
 * classic: ε_α + log(1/δ)/(α-1)                                   (Mironov 2017, Proposition 3)
 * tight:   ε_α + log((α-1)/α) - (log δ + log α)/(α-1)             (Canonne, Kamath & Steinke 2020, Proposition 12)
 * The tight bound can dip below zero for tiny ε_α; ε is never negative, so it is clamped at 0.
 */
function epsilonAtOrder(rdp: number, order: number, logDelta: number, conversion: Conversion): number {
  switch (conversion) {
    case 'classic':
      return rdp - logDelta / (order - 1)
    case 'tight':
      return Math.max(0, rdp + Math.log1p(-1 / order) - (logDelta + Math.log(order)) / (order - 1))
    default: {
      const unknown: never = conversion
      throw new RangeError(`unknown conversion "${String(unknown)}"`)
    }
  }
}

/**
 * The smallest ε over the orders: the (ε, δ)-DP guarantee of a mechanism with this RDP curve.
 * A curve that is zero everywhere (nothing released) is (0, 0)-DP, so its ε is 0.
 * @param rdp RDP values, one per order
 * @param orders the orders α (> 1) of `rdp`
 * @param delta δ in (0, 1)
 * @param conversion 'classic' (default) or 'tight'
 * @throws RangeError if δ is out of range or the two lists differ in length
 */
export function epsilonFromRdp(
  rdp: readonly number[],
  orders: readonly number[],
  delta: number,
  conversion: Conversion = 'classic',
): PrivacyGuarantee {
  checkConversionArgs(delta, conversion)
  if (rdp.length !== orders.length) throw new RangeError(`rdp has ${rdp.length} values but orders has ${orders.length}`)
  const best = bestOrder(rdp, orders, delta, conversion)
  const epsilon = rdp.every((r) => r === 0) ? 0 : best.epsilon
  return { epsilon, delta, order: best.order, conversion }
}

/**
 * The ε these orders give when the RDP is zero: no noise, however large, certifies less than this (the
 * conversion's own slack at the largest order). Targets at or below it are unreachable.
 */
export function epsilonFloor(orders: readonly number[], delta: number, conversion: Conversion): number {
  return bestOrder(
    orders.map(() => 0),
    orders,
    delta,
    conversion,
  ).epsilon
}

function bestOrder(rdp: readonly number[], orders: readonly number[], delta: number, conversion: Conversion): { epsilon: number; order: number } {
  const logDelta = Math.log(delta)
  let epsilon = Number.POSITIVE_INFINITY
  let order = orders[0] as number
  for (const [i, alpha] of orders.entries()) {
    const candidate = epsilonAtOrder(rdp[i] as number, alpha, logDelta, conversion)
    if (candidate < epsilon) {
      epsilon = candidate
      order = alpha
    }
  }
  return { epsilon, order }
}
