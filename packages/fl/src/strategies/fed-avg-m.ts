// FedAvgM (Hsu et al. 2019): FedAvg with server momentum over the mean delta.
import type { Strategy, StrategyState } from '../contracts/strategy.js'
import { type StrategyInit, checkGlobal, checkNumber, checkParamCount } from './argument-checks.js'
import { streamingRound } from './rounds.js'
import { exportTensors, importTensors } from './server-state.js'

export interface FedAvgMInit extends StrategyInit {
  /** Server learning rate η (default 1). */
  readonly serverLr?: number
  /** Momentum β in [0, 1) (default 0.9, the paper's best setting). */
  readonly momentum?: number
}

export const FED_AVG_M_DEFAULTS = Object.freeze({ serverLr: 1, momentum: 0.9 })

/**
 * FedAvgM: with Δ̄ the example-weighted mean delta, `v ← β·v + Δ̄` and `global + η·v`. Streaming.
 * Server state: tensor `v` (the velocity, zeros before the first round), exported after every finish.
 * @param init serverLr (positive, default 1), momentum (in [0, 1), default 0.9), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedAvgM(init: FedAvgMInit = {}): Strategy {
  const serverLr = checkNumber(init.serverLr, 'fedAvgM: init.serverLr', { min: 0, minOpen: true }, FED_AVG_M_DEFAULTS.serverLr)
  const beta = checkNumber(init.momentum, 'fedAvgM: init.momentum', { min: 0, max: 1, maxOpen: true }, FED_AVG_M_DEFAULTS.momentum)
  let paramCount = checkParamCount(init, 'fedAvgM')
  let velocity: Float32Array | undefined
  return Object.freeze({
    name: 'fedavgm',
    streaming: true,
    asynchronous: false,
    minUpdates: 1,
    clientHints: () => ({}),
    begin(global: Float32Array) {
      checkGlobal(global, 'fedavgm', paramCount)
      paramCount = global.length
      return streamingRound({
        strategy: 'fedavgm',
        global,
        minUpdates: 1,
        weight: (u) => u.numExamples,
        finish(g, { sum, totalWeight }) {
          const n = g.length
          const v = velocity ?? new Float32Array(n)
          const inv = 1 / totalWeight
          const out = new Float32Array(n)
          for (let i = 0; i < n; i++) {
            const vi = beta * v[i]! + inv * sum[i]!
            v[i] = vi
            out[i] = g[i]! + serverLr * vi
          }
          velocity = v
          return out
        },
      })
    },
    exportState: () => exportTensors(velocity === undefined ? undefined : { v: velocity }),
    importState(state: StrategyState) {
      const t = importTensors('fedavgm', state, ['v'], paramCount)
      velocity = t?.['v']
      if (velocity !== undefined) paramCount = velocity.length
    },
  })
}
