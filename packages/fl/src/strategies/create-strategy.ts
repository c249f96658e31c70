// Builds the Strategy a parsed strategy config names.
import type { Strategy } from '../contracts/strategy.js'
import type { StrategyInit } from './argument-checks.js'
import { bulyan } from './bulyan.js'
import { fedAvg } from './fed-avg.js'
import { fedAvgM } from './fed-avg-m.js'
import { fedBuff } from './fed-buff.js'
import { fedMedian } from './fed-median.js'
import { fedAdagrad, fedAdam, fedYogi } from './fed-opt.js'
import { fedProx } from './fed-prox.js'
import { fedTrimmedAvg } from './fed-trimmed-avg.js'
import { krum, multiKrum } from './krum.js'
import type { StrategyConfig } from './strategy-config.js'

/**
 * Creates the strategy for a config parsed by `strategyConfigSchema` (or `parseStrategyConfig`).
 * @param config the parsed config (defaults filled)
 * @param init paramCount: when given, `begin` and `importState` reject models of another size
 * @returns a fresh strategy (fresh server state)
 * @throws RangeError/TypeError naming the bad field when the config bypassed the schema and is out of range
 */
export function createStrategy(config: StrategyConfig, init: StrategyInit = {}): Strategy {
  const common = init.paramCount === undefined ? {} : { paramCount: init.paramCount }
  switch (config.name) {
    case 'fedavg':
      return fedAvg({ ...common, serverLr: config.serverLr })
    case 'fedavgm':
      return fedAvgM({ ...common, serverLr: config.serverLr, momentum: config.momentum })
    case 'fedprox':
      return fedProx({ ...common, mu: config.mu, serverLr: config.serverLr })
    case 'fedadam':
    case 'fedyogi': {
      const opt = { ...common, serverLr: config.serverLr, beta1: config.beta1, beta2: config.beta2, tau: config.tau }
      return config.name === 'fedadam' ? fedAdam(opt) : fedYogi(opt)
    }
    case 'fedadagrad':
      return fedAdagrad({ ...common, serverLr: config.serverLr, beta1: config.beta1, tau: config.tau })
    case 'fedmedian':
      return fedMedian(common)
    case 'fedtrimmedavg':
      return fedTrimmedAvg({ ...common, beta: config.beta })
    case 'krum':
      return krum({ ...common, f: config.f })
    case 'multikrum':
      return multiKrum({ ...common, f: config.f, ...(config.m === undefined ? {} : { m: config.m }) })
    case 'bulyan':
      return bulyan({ ...common, f: config.f })
    case 'fedbuff':
      return fedBuff({
        ...common,
        bufferSize: config.bufferSize,
        serverLr: config.serverLr,
        stalenessExponent: config.stalenessExponent,
      })
    default: {
      const never: never = config
      throw new TypeError(`createStrategy: unknown strategy name ${JSON.stringify((never as { name: unknown }).name)}`)
    }
  }
}
