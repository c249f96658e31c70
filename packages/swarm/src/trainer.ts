// A swarm peer's trainer over any engine's TrainingPool (tfjs worker threads, PyTorch processes): the peer hands it
// flat parameters and a data-set descriptor, never touches an engine.
import {
  type DatasetSource,
  initialFlatParams,
  initTransformerWeights,
  mulberry32,
  type NamedTensor,
  type NamedTensors,
  type OptimizerState,
  paramCount,
  resolveOptimizer,
  type TrainingPool,
  type TransformerTrainer,
  type TransformerTrainingRuntime,
  transformerTensorShapes,
} from '@weft/runtime'
import type { SwarmTrainer } from './peer.js'
import { evenWindows, meanWindowLoss, randomWindows } from '@weft/lm'
import { isTransformerModel, type SwarmSpec } from './spec.js'

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
  const model = spec.model
  if (isTransformerModel(model)) throw new RangeError('a language-model swarm trains through transformerTrainer, not a training pool')
  const test = init.test
  const keep = spec.inner.keepOptimizerState
  let optimizerState: OptimizerState | undefined
  return {
    paramCount: paramCount(model),
    initialParams: async () => initialFlatParams(model, spec.seed),
    async train(params, steps, round, signal) {
      signal.throwIfAborted()
      const out = await pool.train({
        spec: model,
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
            const r = await pool.evaluate({ spec: model, params, dataset: test, batchSize: 1000 })
            return { loss: r.loss, accuracy: r.accuracy }
          },
        }),
  }
}

export interface TransformerTrainerInit {
  readonly spec: SwarmSpec
  /** An engine that trains whole transformers (tfjs or torch). */
  readonly runtime: TransformerTrainingRuntime
  /** The peer's own training text as token ids. */
  readonly train: Int32Array
  /** Held-out token ids the peer evaluates on (the spec's `evaluation`); the loss is reported, accuracy is NaN. */
  readonly validation?: Int32Array
  /** Varies this peer's window order from the others' (default 0). */
  readonly seed?: number
  /** Validation windows evaluated (default 64, evenly spread). */
  readonly evalWindows?: number
}

/**
 * A language-model peer's trainer: one engine trainer for the whole run, whose AdamW moments go on across chunks and
 * outer steps (`setWeights` restarts only the weights from the outer ones). Each inner step trains on `batchSize`
 * random windows of `context + 1` ids of the peer's own text; parameters are flat in `transformerTensorNames` order.
 */
export function transformerTrainer(init: TransformerTrainerInit): SwarmTrainer & { dispose(): void } {
  const { spec, runtime } = init
  const model = spec.model
  if (!isTransformerModel(model)) throw new RangeError('transformerTrainer trains a transformer swarm')
  const { config, context } = model
  const window = context + 1
  if (init.train.length < window) throw new RangeError(`the training stream has ${init.train.length} ids; one window is ${window}`)
  const shapes = transformerTensorShapes(config)
  const count = [...shapes.values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0)
  const flatten = (weights: NamedTensors): Float32Array => {
    const out = new Float32Array(count)
    let at = 0
    for (const name of shapes.keys()) {
      const t = weights.get(name) as NamedTensor
      out.set(t.data, at)
      at += t.data.length
    }
    return out
  }
  const unflatten = (flat: Float32Array): Map<string, NamedTensor> => {
    const out = new Map<string, NamedTensor>()
    let at = 0
    for (const [name, shape] of shapes) {
      const n = shape.reduce((a, b) => a * b, 1)
      out.set(name, { shape, data: flat.slice(at, at + n) })
      at += n
    }
    return out
  }
  const o = resolveOptimizer(spec.inner.optimizer)
  if (o.kind !== 'adamw') throw new RangeError(`a transformer trains with adamw, got ${o.kind}`)
  const options = { learningRate: o.lr, weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2, clipNorm: 1 }
  let trainer: Promise<TransformerTrainer> | undefined
  const trainerFor = (params: Float32Array): Promise<TransformerTrainer> => {
    trainer ??= runtime.createTransformerTrainer(config, unflatten(params), options)
    return trainer
  }
  const rng = mulberry32(spec.seed * 7919 + (init.seed ?? 0))
  const batch = spec.inner.batchSize
  const tokens = new Int32Array(batch * window)
  const validation = init.validation
  const windows = validation !== undefined && validation.length >= window ? evenWindows(validation, window, init.evalWindows ?? 64) : undefined
  let disposed = false
  return {
    paramCount: count,
    initialParams: async () => flatten(initTransformerWeights(config, spec.seed)),
    async train(params, steps, _round, signal) {
      const t = await trainerFor(params)
      await t.setWeights(unflatten(params))
      let loss = 0
      for (let step = 0; step < steps; step++) {
        signal.throwIfAborted()
        randomWindows(rng, init.train, window, tokens)
        loss += await t.step(tokens, batch)
        // An engine that computes in this thread (tfjs) resolves each step at once; let timers and the network run
        // between steps, or the members' reports wait for the whole chunk.
        await new Promise((resolve) => setTimeout(resolve, 0))
      }
      return { params: flatten(await t.weights()), loss: loss / steps }
    },
    ...(windows === undefined
      ? {}
      : {
          async evaluate(params: Float32Array) {
            const t = await trainerFor(params)
            await t.setWeights(unflatten(params))
            return { loss: await meanWindowLoss(t, windows, window, batch), accuracy: Number.NaN }
          },
        }),
    dispose() {
      if (disposed) return
      disposed = true
      void trainer?.then((t) => t.dispose(), () => undefined)
    },
  }
}
