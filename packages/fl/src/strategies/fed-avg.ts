// FedAvg (McMahan et al. 2017): the next global model is the example-weighted mean of the client deltas.
import type { ClientTrainHints, Strategy, StrategyName, StrategyState } from '../contracts/strategy.js'
import { type StrategyInit, checkGlobal, checkNumber, checkParamCount } from './argument-checks.js'
import { streamingRound } from './rounds.js'
import { EMPTY_STATE, importTensors } from './server-state.js'
import { addScaled } from './weighted-sum.js'

export interface FedAvgInit extends StrategyInit {
  /** Server learning rate η applied to the mean delta (default 1: plain FedAvg). */
  readonly serverLr?: number
}

export const FED_AVG_DEFAULTS = Object.freeze({ serverLr: 1 })

/**
 * FedAvg: `global + serverLr · Σ nᵢΔᵢ / Σ nᵢ`, where nᵢ is `numExamples`. Streaming: each delta is folded into a
 * float64 sum as it arrives (see weighted-sum.ts), so memory stays at one model's worth whatever the cohort.
 * Stateless; staleness is ignored.
 * @param init serverLr (positive, default 1), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedAvg(init: FedAvgInit = {}): Strategy {
  const serverLr = checkNumber(init.serverLr, 'fedAvg: init.serverLr', { min: 0, minOpen: true }, FED_AVG_DEFAULTS.serverLr)
  return weightedMeanStrategy('fedavg', serverLr, checkParamCount(init, 'fedAvg'), Object.freeze({}))
}

/** The example-weighted mean rule behind FedAvg and FedProx (which differ only in client hints). */
export function weightedMeanStrategy(
  name: StrategyName,
  serverLr: number,
  paramCount: number | undefined,
  hints: ClientTrainHints,
): Strategy {
  return Object.freeze({
    name,
    streaming: true,
    asynchronous: false,
    minUpdates: 1,
    clientHints: () => hints,
    begin(global: Float32Array) {
      return streamingRound({
        strategy: name,
        global: checkGlobal(global, name, paramCount),
        minUpdates: 1,
        weight: (u) => u.numExamples,
        finish: (g, { sum, totalWeight }) => addScaled(g, sum, serverLr / totalWeight),
      })
    },
    exportState: () => EMPTY_STATE,
    importState(state: StrategyState) {
      importTensors(name, state, [], paramCount)
    },
  })
}
