// FedMedian (Yin et al. 2018): the coordinate-wise median of the client deltas, robust to outlying clients.
import type { Strategy, StrategyName, StrategyState } from '../strategy.js'
import { type StrategyInit, checkGlobal, checkParamCount } from './argument-checks.js'
import { coordinatewise, sortedMedian } from './order-statistics.js'
import { bufferedRound } from './rounds.js'
import { EMPTY_STATE, importTensors } from './server-state.js'

/**
 * FedMedian: `global + median(Δ₁…Δₙ)` per coordinate (the mean of the middle two for even n), unweighted:
 * numExamples and staleness are ignored. Keeps every update until finish; exact in any client order. Stateless.
 * @param init paramCount
 */
export function fedMedian(init: StrategyInit = {}): Strategy {
  const name: StrategyName = 'fedmedian'
  const paramCount = checkParamCount(init, 'fedMedian')
  return Object.freeze({
    name,
    streaming: false,
    asynchronous: false,
    minUpdates: 1,
    clientHints: () => ({}),
    begin(global: Float32Array) {
      return bufferedRound({
        strategy: name,
        global: checkGlobal(global, name, paramCount),
        minUpdates: 1,
        finish: (g, updates) => ({ global: coordinatewise(g, updates.map((u) => u.delta), sortedMedian) }),
      })
    },
    exportState: () => EMPTY_STATE,
    importState(state: StrategyState) {
      importTensors(name, state, [], paramCount)
    },
  })
}
