// Bulyan (El Mhamdi et al. 2018): iterated Krum selection, then a coordinate-wise trimmed mean around the median.
import type { AggregateResult, ClientUpdate, Strategy, StrategyName } from '../contracts/strategy.js'
import { checkParamCount, type StrategyInit } from './argument-checks.js'
import { checkF } from './krum.js'
import { krumRanking, pairwiseSquaredDistances } from './krum-scores.js'
import { coordinatewise, rangeMean, sortedMedian } from './order-statistics.js'
import { bufferedStrategy } from './rounds.js'

export interface BulyanInit extends StrategyInit {
  /** Byzantine clients tolerated (integer ≥ 0). No default: it is the job's threat model. */
  readonly f: number
}

/**
 * Bulyan: selects θ = n − 2f updates by Krum repeatedly (pick the best-scored, remove it, rescore the rest),
 * then per coordinate averages the β = θ − 2f selected values closest to their median. `selected` lists the
 * θ client ids in selection order. Needs n ≥ 4f + 3 (`minUpdates`; `finish` throws NotEnoughUpdatesError
 * below it). Unweighted; numExamples and staleness are ignored. Keeps every update until finish. Stateless.
 * @param init f (integer ≥ 0, required), paramCount
 * @throws RangeError/TypeError naming the bad init field
 */
export function bulyan(init: BulyanInit): Strategy {
  const name: StrategyName = 'bulyan'
  const f = checkF(init, 'bulyan')
  const paramCount = checkParamCount(init, 'bulyan')
  const minUpdates = 4 * f + 3
  return bufferedStrategy({
    name,
    paramCount,
    minUpdates,
    finish: (g, updates) => bulyanAggregate(g, updates, f),
  })
}

function bulyanAggregate(global: Float32Array, updates: readonly ClientUpdate[], f: number): AggregateResult {
  const n = updates.length
  const theta = n - 2 * f
  const beta = theta - 2 * f
  const ids = updates.map((u) => u.clientId)
  const dist = pairwiseSquaredDistances(updates.map((u) => u.delta))
  let remaining = Array.from({ length: n }, (_, i) => i)
  const chosen: number[] = []
  while (chosen.length < theta) {
    const best = krumRanking(dist, n, remaining, f, ids).order[0]!
    chosen.push(best)
    remaining = remaining.filter((i) => i !== best)
  }
  const next = coordinatewise(
    global,
    chosen.map((i) => updates[i]!.delta),
    (sorted) => {
      // The β values closest to the median form a window of the sorted values: take the window whose
      // farther end is nearest the median (the leftmost on ties).
      const med = sortedMedian(sorted)
      let from = 0
      let best = Number.POSITIVE_INFINITY
      for (let w = 0; w + beta <= theta; w++) {
        const reach = Math.max(med - sorted[w]!, sorted[w + beta - 1]! - med)
        if (reach < best) {
          best = reach
          from = w
        }
      }
      return rangeMean(sorted, from, from + beta)
    },
  )
  return { global: next, selected: chosen.map((i) => ids[i]!) }
}
