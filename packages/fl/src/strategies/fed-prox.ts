// FedProx (Li et al. 2020): FedAvg aggregation, with clients adding the proximal term μ/2·‖w − w_global‖².
import type { Strategy } from '../contracts/strategy.js'
import { type StrategyInit, checkNumber, checkParamCount } from './argument-checks.js'
import { weightedMeanStrategy } from './fed-avg.js'

export interface FedProxInit extends StrategyInit {
  /** Proximal coefficient μ sent to clients (positive, default 0.01; the paper tunes it in {0.001, 0.01, 0.1, 1}). */
  readonly mu?: number
  /** Server learning rate applied to the mean delta (default 1). */
  readonly serverLr?: number
}

export const FED_PROX_DEFAULTS = Object.freeze({ mu: 0.01, serverLr: 1 })

/**
 * FedProx: the server side is FedAvg's example-weighted mean; `clientHints()` returns `{ proximalMu: mu }` so
 * clients train with the proximal term. Streaming and stateless.
 * @param init mu (positive, default 0.01), serverLr (positive, default 1), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedProx(init: FedProxInit = {}): Strategy {
  const mu = checkNumber(init.mu, 'fedProx: init.mu', { min: 0, minOpen: true }, FED_PROX_DEFAULTS.mu)
  const serverLr = checkNumber(init.serverLr, 'fedProx: init.serverLr', { min: 0, minOpen: true }, FED_PROX_DEFAULTS.serverLr)
  return weightedMeanStrategy('fedprox', serverLr, checkParamCount(init, 'fedProx'), Object.freeze({ proximalMu: mu }))
}
