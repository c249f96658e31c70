// The RoundAggregator lifecycle shared by all strategies: checks, counting, min-updates, finish-once.
// Streaming rounds fold each update into a float64 weighted sum at once; buffered rounds keep the updates.
import { NotEnoughUpdatesError } from '../errors.js'
import type { AggregateResult, ClientUpdate, RoundAggregator, Strategy, StrategyName, StrategyState } from '../contracts/strategy.js'
import { checkGlobal, checkUpdate } from './argument-checks.js'
import { EMPTY_STATE, importTensors } from './server-state.js'
import { type WeightedSum, weightedSum } from './weighted-sum.js'

/** The weighted sum of a streaming round, handed to the strategy's finish. */
export interface StreamedSum {
  /** Σ weight_i · delta_i, float64. */
  readonly sum: Float64Array
  /** Σ weight_i. */
  readonly totalWeight: number
  /** Updates folded. */
  readonly count: number
}

export interface StreamingRoundInit {
  readonly strategy: StrategyName
  readonly global: Float32Array
  readonly minUpdates: number
  /** Most updates the round takes (FedBuff's K); `add` beyond it throws. */
  readonly maxUpdates?: number
  /** The update's weight in the sum (a positive finite number). */
  weight(update: ClientUpdate): number
  /** Computes the next global model from the sum; called once. */
  finish(global: Float32Array, streamed: StreamedSum): Float32Array
}

/** A round that folds each update as it arrives and keeps no reference to its delta. */
export function streamingRound(init: StreamingRoundInit): RoundAggregator {
  const { strategy, minUpdates } = init
  const length = init.global.length
  let global: Float32Array | undefined = init.global
  let acc: WeightedSum | undefined
  let totalWeight = 0
  let count = 0
  return Object.freeze({
    get count() {
      return count
    },
    add(update: ClientUpdate) {
      if (global === undefined) throw new Error(`${strategy}.add: the round is finished; begin a new one`)
      checkUpdate(update, strategy, length)
      if (init.maxUpdates !== undefined && count >= init.maxUpdates) {
        throw new Error(`${strategy}.add: the buffer already holds ${init.maxUpdates} updates; finish it and begin the next`)
      }
      const w = init.weight(update)
      acc ??= weightedSum(length)
      acc.add(update.delta, w)
      totalWeight += w
      count++
    },
    finish(): AggregateResult {
      if (global === undefined) throw new Error(`${strategy}.finish: the round is already finished`)
      if (count < minUpdates || acc === undefined) throw new NotEnoughUpdatesError(strategy, minUpdates, count)
      const next = init.finish(global, { sum: acc.sum, totalWeight, count })
      global = undefined
      acc.release()
      acc = undefined
      return { global: next }
    },
  })
}

export interface BufferedRoundInit {
  readonly strategy: StrategyName
  readonly global: Float32Array
  readonly minUpdates: number
  /** Computes the next global model from all updates (in arrival order); called once. */
  finish(global: Float32Array, updates: readonly ClientUpdate[]): AggregateResult
}

/** A round that keeps every update (by reference, as the contract allows) until `finish`. */
export function bufferedRound(init: BufferedRoundInit): RoundAggregator {
  const { strategy, minUpdates } = init
  const length = init.global.length
  let global: Float32Array | undefined = init.global
  let updates: ClientUpdate[] = []
  return Object.freeze({
    get count() {
      return updates.length
    },
    add(update: ClientUpdate) {
      if (global === undefined) throw new Error(`${strategy}.add: the round is finished; begin a new one`)
      checkUpdate(update, strategy, length)
      updates.push(update)
    },
    finish(): AggregateResult {
      if (global === undefined) throw new Error(`${strategy}.finish: the round is already finished`)
      if (updates.length < minUpdates) throw new NotEnoughUpdatesError(strategy, minUpdates, updates.length)
      const result = init.finish(global, updates)
      global = undefined
      updates = []
      return result
    },
  })
}

/** What distinguishes one stateless rule that holds its round's updates (median, trimmed mean, Krum, Bulyan). */
export interface BufferedStrategyInit {
  readonly name: StrategyName
  readonly paramCount: number | undefined
  readonly minUpdates: number
  finish(global: Float32Array, updates: readonly ClientUpdate[]): AggregateResult
}

/** A stateless, synchronous, non-streaming strategy whose rounds keep every update until `finish`. */
export function bufferedStrategy(init: BufferedStrategyInit): Strategy {
  const { name, paramCount, minUpdates, finish } = init
  return Object.freeze({
    name,
    streaming: false,
    asynchronous: false,
    minUpdates,
    clientHints: () => ({}),
    begin: (global: Float32Array) =>
      bufferedRound({ strategy: name, global: checkGlobal(global, name, paramCount), minUpdates, finish }),
    exportState: () => EMPTY_STATE,
    importState(state: StrategyState) {
      importTensors(name, state, [], paramCount)
    },
  })
}
