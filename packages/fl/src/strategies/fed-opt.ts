// FedAdam, FedYogi and FedAdagrad (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2):
// the server treats the mean client delta as a pseudo-gradient and applies an adaptive optimizer step.
import type { Strategy, StrategyState } from '../contracts/strategy.js'
import { type StrategyInit, checkGlobal, checkNumber, checkParamCount } from './argument-checks.js'
import { streamingRound } from './rounds.js'
import { exportTensors, importTensors } from './server-state.js'

export interface FedOptInit extends StrategyInit {
  /** Server learning rate η (default 0.01). */
  readonly serverLr?: number
  /** First-moment decay β₁ in [0, 1) (default 0.9). */
  readonly beta1?: number
  /** Second-moment decay β₂ in [0, 1) (default 0.99; FedAdagrad has none). */
  readonly beta2?: number
  /** Adaptivity τ > 0 (default 1e-3): the step's denominator is √v + τ, and v starts at τ². */
  readonly tau?: number
}

export type FedAdagradInit = Omit<FedOptInit, 'beta2'>

/** Defaults from the paper's recommended ranges: η = 1e-2, β₁ = 0.9, β₂ = 0.99, τ = 1e-3. */
export const FED_OPT_DEFAULTS = Object.freeze({ serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 })

type Variant = 'fedadam' | 'fedyogi' | 'fedadagrad'

/**
 * FedAdam. With Δ the example-weighted mean delta (streamed):
 * `m ← β₁m + (1−β₁)Δ`, `v ← β₂v + (1−β₂)Δ²`, `global + η·m/(√v + τ)`.
 * As in the paper there is no bias correction, m starts at 0 and v at τ². Server state: tensors `m`, `v`.
 * @param init serverLr (positive, default 0.01), beta1, beta2 (in [0, 1), defaults 0.9, 0.99), tau (positive,
 *   default 1e-3), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function fedAdam(init: FedOptInit = {}): Strategy {
  return fedOpt('fedadam', 'fedAdam', init)
}

/**
 * FedYogi: as {@link fedAdam} but `v ← v − (1−β₂)Δ²·sign(v − Δ²)`, which grows v additively and so adapts
 * more slowly to a sudden large pseudo-gradient.
 */
export function fedYogi(init: FedOptInit = {}): Strategy {
  return fedOpt('fedyogi', 'fedYogi', init)
}

/** FedAdagrad: as {@link fedAdam} but `v ← v + Δ²` (no β₂). */
export function fedAdagrad(init: FedAdagradInit = {}): Strategy {
  return fedOpt('fedadagrad', 'fedAdagrad', init)
}

function fedOpt(variant: Variant, fn: string, init: FedOptInit): Strategy {
  const d = FED_OPT_DEFAULTS
  const lr = checkNumber(init.serverLr, `${fn}: init.serverLr`, { min: 0, minOpen: true }, d.serverLr)
  const beta1 = checkNumber(init.beta1, `${fn}: init.beta1`, { min: 0, max: 1, maxOpen: true }, d.beta1)
  const beta2 =
    variant === 'fedadagrad' ? 0 : checkNumber(init.beta2, `${fn}: init.beta2`, { min: 0, max: 1, maxOpen: true }, d.beta2)
  const tau = checkNumber(init.tau, `${fn}: init.tau`, { min: 0, minOpen: true }, d.tau)
  let paramCount = checkParamCount(init, fn)
  let moments: { m: Float32Array; v: Float32Array } | undefined

  function step(g: Float32Array, sum: Float64Array, totalWeight: number): Float32Array {
    const n = g.length
    if (moments === undefined) moments = { m: new Float32Array(n), v: new Float32Array(n).fill(tau * tau) }
    const { m, v } = moments
    const inv = 1 / totalWeight
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      const delta = inv * sum[i]!
      const d2 = delta * delta
      const mi = beta1 * m[i]! + (1 - beta1) * delta
      const vPrev = v[i]!
      const vi =
        variant === 'fedadam'
          ? beta2 * vPrev + (1 - beta2) * d2
          : variant === 'fedyogi'
            ? vPrev - (1 - beta2) * d2 * Math.sign(vPrev - d2)
            : vPrev + d2
      m[i] = mi
      v[i] = vi
      out[i] = g[i]! + (lr * mi) / (Math.sqrt(vi) + tau)
    }
    return out
  }

  return Object.freeze({
    name: variant,
    streaming: true,
    asynchronous: false,
    minUpdates: 1,
    clientHints: () => ({}),
    begin(global: Float32Array) {
      checkGlobal(global, variant, paramCount)
      paramCount = global.length
      return streamingRound({
        strategy: variant,
        global,
        minUpdates: 1,
        weight: (u) => u.numExamples,
        finish: (g, { sum, totalWeight }) => step(g, sum, totalWeight),
      })
    },
    exportState: () => exportTensors(moments),
    importState(state: StrategyState) {
      const t = importTensors(variant, state, ['m', 'v'], paramCount)
      if (t === undefined) {
        moments = undefined
        return
      }
      const m = t['m']!
      const v = t['v']!
      if (!v.every((x) => x >= 0)) throw new RangeError(`${variant}.importState: state.tensors.v holds a negative value`)
      moments = { m, v }
      paramCount = m.length
    },
  })
}
