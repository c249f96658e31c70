// Coordinate-wise trimmed mean (Yin et al. 2018): drop the extremes of each coordinate, average the rest.
import type { Strategy, StrategyName } from '../contracts/strategy.js'
import { checkNumber, checkParamCount, type StrategyInit } from './argument-checks.js'
import { coordinatewise, rangeMean } from './order-statistics.js'
import { bufferedStrategy } from './rounds.js'

export interface FedTrimmedAvgInit extends StrategyInit {
  /** Fraction trimmed at each end, in [0, 0.5) (default 0.1). */
  readonly beta?: number
}

export const FED_TRIMMED_AVG_DEFAULTS = Object.freeze({ beta: 0.1 })

/**
 * Trimmed mean: per coordinate, drop the k = ⌊β·n⌋ smallest and k largest deltas and average the other
 * n − 2k (unweighted; numExamples and staleness are ignored). β < 0.5 keeps n > 2k for every n ≥ 1.
 * Keeps every update until finish; exact in any client order. Stateless.
 * @param init beta (in [0, 0.5), default 0.1), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedTrimmedAvg(init: FedTrimmedAvgInit = {}): Strategy {
  const name: StrategyName = 'fedtrimmedavg'
  const beta = checkNumber(init.beta, 'fedTrimmedAvg: init.beta', { min: 0, max: 0.5, maxOpen: true }, FED_TRIMMED_AVG_DEFAULTS.beta)
  const paramCount = checkParamCount(init, 'fedTrimmedAvg')
  return bufferedStrategy({
    name,
    paramCount,
    minUpdates: 1,
    finish(g, updates) {
      const n = updates.length
      const k = Math.floor(beta * n)
      return { global: coordinatewise(g, updates.map((u) => u.delta), (sorted) => rangeMean(sorted, k, n - k)) }
    },
  })
}
