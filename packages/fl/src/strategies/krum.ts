// Krum and Multi-Krum (Blanchard et al. 2017; El Mhamdi et al. 2018): keep the updates closest to their peers.
import type { AggregateResult, ClientUpdate, Strategy, StrategyName } from '../contracts/strategy.js'
import { checkNumber, checkParamCount, type StrategyInit } from './argument-checks.js'
import { krumRanking, pairwiseSquaredDistances } from './krum-scores.js'
import { bufferedStrategy } from './rounds.js'

export interface KrumInit extends StrategyInit {
  /** Byzantine clients tolerated (integer ≥ 0). No default: it is the job's threat model. */
  readonly f: number
}

export interface MultiKrumInit extends KrumInit {
  /** Updates averaged (integer ≥ 1); default, and at most, n − f for the n updates of the round. */
  readonly m?: number
}

/**
 * Krum: scores each update by the sum of squared distances to its n − f − 2 nearest neighbours and returns
 * `global + Δ` of the lowest score (`selected` = [its clientId]). Needs n ≥ 2f + 3 (`minUpdates`).
 * numExamples and staleness are ignored. Keeps every update until finish. Stateless.
 * @param init f (integer ≥ 0, required), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function krum(init: KrumInit): Strategy {
  const f = checkF(init, 'krum')
  return krumStrategy('krum', f, checkParamCount(init, 'krum'), () => 1)
}

/**
 * Multi-Krum: ranks the updates by Krum score and returns `global` plus the unweighted mean of the best m
 * deltas (unweighted as in El Mhamdi et al. 2018: weighting by the client-reported numExamples would let a
 * Byzantine client buy influence). `selected` lists the m client ids, best first. Needs n ≥ 2f + 3.
 * @param init f (integer ≥ 0, required), m (integer ≥ 1, default n − f, capped at n − f), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function multiKrum(init: MultiKrumInit): Strategy {
  const f = checkF(init, 'multiKrum')
  const m = init.m === undefined ? undefined : checkNumber(init.m, 'multiKrum: init.m', { min: 1, integer: true })
  return krumStrategy('multikrum', f, checkParamCount(init, 'multiKrum'), (n) => Math.min(m ?? n - f, n - f))
}

/** Checks the init object and its `f` (shared with Bulyan). */
export function checkF(init: KrumInit, fn: string): number {
  if (typeof init !== 'object' || init === null) throw new TypeError(`${fn}: init must be an object with f`)
  return checkNumber(init.f, `${fn}: init.f`, { min: 0, integer: true })
}

function krumStrategy(
  name: StrategyName,
  f: number,
  paramCount: number | undefined,
  averaged: (n: number) => number,
): Strategy {
  const minUpdates = 2 * f + 3
  return bufferedStrategy({
    name,
    paramCount,
    minUpdates,
    finish: (g, updates) => krumAggregate(g, updates, f, averaged(updates.length)),
  })
}

function krumAggregate(global: Float32Array, updates: readonly ClientUpdate[], f: number, m: number): AggregateResult {
  const n = updates.length
  const ids = updates.map((u) => u.clientId)
  const all = Array.from({ length: n }, (_, i) => i)
  const { order } = krumRanking(pairwiseSquaredDistances(updates.map((u) => u.delta)), n, all, f, ids)
  const chosen = order.slice(0, m)
  return { global: meanOf(global, chosen.map((i) => updates[i]!.delta)), selected: chosen.map((i) => ids[i]!) }
}

/** `global` plus the unweighted mean of `deltas`, summed in float64 in the given order (n equal deltas give that delta exactly). */
export function meanOf(global: Float32Array, deltas: readonly Float32Array[]): Float32Array {
  const length = global.length
  const out = new Float32Array(length)
  const only = deltas.length === 1 ? deltas[0] : undefined
  if (only !== undefined) {
    for (let j = 0; j < length; j++) out[j] = global[j]! + only[j]!
    return out
  }
  const sum = new Float64Array(length)
  for (const d of deltas) for (let j = 0; j < length; j++) sum[j] = sum[j]! + d[j]!
  const count = deltas.length
  for (let j = 0; j < length; j++) out[j] = global[j]! + sum[j]! / count
  return out
}
