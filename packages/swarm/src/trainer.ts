// A swarm peer's trainer over any engine's TrainingPool (tfjs worker threads, PyTorch processes): the peer hands it
// flat parameters and a data-set descriptor, never touches an engine.
import { type DatasetSource, initialFlatParams, type OptimizerState, paramCount, type TrainingPool } from '@weft/runtime'
import type { SwarmTrainer } from './peer.js'
import type { SwarmSpec } from './spec.js'

export interface PoolTrainerInit {
  readonly spec: SwarmSpec
  readonly pool: TrainingPool
  /** The peer's own training data. */
  readonly train: DatasetSource
  /** The peer's test set, when it holds one (the spec's `evaluation.dataset`). */
  readonly test?: DatasetSource
  /** Varies this peer's data order from the others' (default 0). */
  readonly seed?: number
}

/**
 * A trainer that runs each chunk of inner steps as one pool task. With `inner.keepOptimizerState` (the default, as
 * DiLoCo does) the inner optimizer's state (Adam's moments, SGD's velocity) carries from each chunk to the next, across
 * outer steps too: only the parameters restart from the outer ones.
 */
export function poolTrainer(init: PoolTrainerInit): SwarmTrainer {
  const { spec, pool } = init
  const test = init.test
  const keep = spec.inner.keepOptimizerState
  let optimizerState: OptimizerState | undefined
  return {
    paramCount: paramCount(spec.model),
    initialParams: async () => initialFlatParams(spec.model, spec.seed),
    async train(params, steps, round, signal) {
      signal.throwIfAborted()
      const out = await pool.train({
        spec: spec.model,
        params,
        copyParams: true,
        dataset: init.train,
        options: {
          steps,
          batchSize: spec.inner.batchSize,
          optimizer: spec.inner.optimizer,
          seed: spec.seed + (init.seed ?? 0),
          startEpoch: round,
          ...(keep ? { exportOptimizerState: true } : {}),
          ...(keep && optimizerState !== undefined ? { optimizerState } : {}),
        },
      })
      if (keep) optimizerState = out.result.optimizerState
      return { params: out.params, loss: out.result.meanLoss }
    },
    ...(test === undefined
      ? {}
      : {
          async evaluate(params: Float32Array) {
            const r = await pool.evaluate({ spec: spec.model, params, dataset: test, batchSize: 1000 })
            return { loss: r.loss, accuracy: r.accuracy }
          },
        }),
  }
}
