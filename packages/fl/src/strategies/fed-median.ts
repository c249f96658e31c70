// FedMedian (Yin et al. 2018): the coordinate-wise median of the client deltas, robust to outlying clients.
import type { Strategy, StrategyName } from '../contracts/strategy.js'
import { checkParamCount, type StrategyInit } from './argument-checks.js'
import { coordinatewise, sortedMedian } from './order-statistics.js'
import { bufferedStrategy } from './rounds.js'

/**
 * FedMedian: `global + median(Δ₁…Δₙ)` per coordinate (the mean of the middle two for even n), unweighted:
 * numExamples and staleness are ignored. Keeps every update until finish; exact in any client order. Stateless.
 * @param init paramCount
 */
export function fedMedian(init: StrategyInit = {}): Strategy {
  const name: StrategyName = 'fedmedian'
  const paramCount = checkParamCount(init, 'fedMedian')
  return bufferedStrategy({
    name,
    paramCount,
    minUpdates: 1,
    finish: (g, updates) => ({ global: coordinatewise(g, updates.map((u) => u.delta), sortedMedian) }),
  })
}
