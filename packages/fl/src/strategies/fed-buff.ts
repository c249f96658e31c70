// FedBuff (Nguyen et al. 2022): asynchronous buffered aggregation with staleness-discounted updates.
import type { Strategy, StrategyName, StrategyState } from '../contracts/strategy.js'
import { type StrategyInit, checkGlobal, checkNumber, checkParamCount } from './argument-checks.js'
import { streamingRound } from './rounds.js'
import { EMPTY_STATE, importTensors } from './server-state.js'
import { addScaled } from './weighted-sum.js'

export interface FedBuffInit extends StrategyInit {
  /** K: updates per server step (integer ≥ 1, default 10, the paper's setting). */
  readonly bufferSize?: number
  /** Server learning rate η (default 1). */
  readonly serverLr?: number
  /** Exponent a of the staleness weight 1/(1 + staleness)^a (≥ 0, default 0.5, the paper's choice). */
  readonly stalenessExponent?: number
}

export const FED_BUFF_DEFAULTS = Object.freeze({ bufferSize: 10, serverLr: 1, stalenessExponent: 0.5 })

/**
 * FedBuff: each update is weighted by sᵢ = 1/(1 + stalenessᵢ)^a and a buffer of K updates moves the model by
 * `global + η · Σ sᵢΔᵢ / K`. As in the paper the sum is divided by K, not by Σ sᵢ, so stale updates shrink
 * the step instead of being renormalized, and a partial buffer (flushed at the end of a job) moves the model
 * proportionally less. numExamples is ignored (the paper weights clients equally). `add` beyond K throws.
 * Streaming and stateless (the buffer is the round); `asynchronous` is true and `bufferSize` is K. How many
 * clients train at once is the coordinator's business: it reads `concurrency` from the strategy config.
 * @param init bufferSize (integer ≥ 1, default 10), serverLr (positive, default 1), stalenessExponent (≥ 0,
 *   default 0.5), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedBuff(init: FedBuffInit = {}): Strategy {
  const name: StrategyName = 'fedbuff'
  const d = FED_BUFF_DEFAULTS
  const k = checkNumber(init.bufferSize, 'fedBuff: init.bufferSize', { min: 1, integer: true }, d.bufferSize)
  const lr = checkNumber(init.serverLr, 'fedBuff: init.serverLr', { min: 0, minOpen: true }, d.serverLr)
  const a = checkNumber(init.stalenessExponent, 'fedBuff: init.stalenessExponent', { min: 0 }, d.stalenessExponent)
  const paramCount = checkParamCount(init, 'fedBuff')
  return Object.freeze({
    name,
    streaming: true,
    asynchronous: true,
    minUpdates: 1,
    bufferSize: k,
    clientHints: () => ({}),
    begin(global: Float32Array) {
      return streamingRound({
        strategy: name,
        global: checkGlobal(global, name, paramCount),
        minUpdates: 1,
        maxUpdates: k,
        weight: (u) => (1 + u.staleness) ** -a,
        finish: (g, { sum }) => addScaled(g, sum, lr / k),
      })
    },
    exportState: () => EMPTY_STATE,
    importState(state: StrategyState) {
      importTensors(name, state, [], paramCount)
    },
  })
}
