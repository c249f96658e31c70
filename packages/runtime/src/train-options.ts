// Validation of training and evaluation inputs shared by every engine.
import type { Dataset } from './dataset.js'
import { featureSize } from './dataset.js'
import { DatasetMismatchError, InvalidTrainOptionsError } from './errors.js'
import type { ModelSpec } from './model-spec.js'
import { type ResolvedOptimizer, resolveOptimizer } from './optimizer.js'
import type { EvaluateOptions, OptimizerState, TrainOptions } from './runtime.js'

/** Training options with defaults filled in and the step budget computed. */
export interface ResolvedTrainOptions {
  readonly batchSize: number
  /** Total optimizer steps. */
  readonly steps: number
  /** Steps per epoch for this data set. */
  readonly stepsPerEpoch: number
  readonly optimizer: ResolvedOptimizer
  readonly seed: number
  readonly startEpoch: number
  readonly shuffle: boolean
  readonly dropLast: boolean
  readonly mu: number
  /** The state to start the optimizer from (checked against the optimizer and the model's size). */
  readonly optimizerState: OptimizerState | undefined
  readonly exportOptimizerState: boolean
}

/** Buffers an optimizer's state holds for `paramCount` parameters. */
export function optimizerStateLength(optimizer: ResolvedOptimizer, paramCount: number): number {
  if (optimizer.kind === 'sgd') return optimizer.momentum > 0 ? paramCount : 0
  return 2 * paramCount
}

function checkOptimizerState(state: unknown, optimizer: ResolvedOptimizer, paramCount: number): OptimizerState {
  if (typeof state !== 'object' || state === null) throw new InvalidTrainOptionsError('options.optimizerState must be an object')
  const s = state as Partial<OptimizerState>
  if (s.kind !== optimizer.kind) throw new InvalidTrainOptionsError(`options.optimizerState is ${String(s.kind)}'s, the optimizer is ${optimizer.kind}`)
  if (!Number.isSafeInteger(s.step) || (s.step as number) < 0) throw new InvalidTrainOptionsError(`options.optimizerState.step must be a non-negative integer, got ${String(s.step)}`)
  const want = optimizerStateLength(optimizer, paramCount)
  if (!(s.buffers instanceof Float32Array) || s.buffers.length !== want) {
    throw new InvalidTrainOptionsError(`options.optimizerState.buffers must be a Float32Array of ${want} values, got ${s.buffers instanceof Float32Array ? s.buffers.length : typeof s.buffers}`)
  }
  for (let i = 0; i < s.buffers.length; i++) {
    if (!Number.isFinite(s.buffers[i] as number)) throw new InvalidTrainOptionsError(`options.optimizerState.buffers[${i}] is not finite`)
  }
  return { kind: s.kind, step: s.step as number, buffers: s.buffers }
}

/**
 * Checks `options` against a data set of `datasetSize` examples and a model of `paramCount` parameters.
 * @throws InvalidTrainOptionsError naming the bad option.
 */
export function resolveTrainOptions(options: TrainOptions, datasetSize: number, paramCount: number): ResolvedTrainOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidTrainOptionsError('options must be an object')
  const { batchSize, epochs, steps } = options
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidTrainOptionsError(`options.batchSize must be a positive integer, got ${JSON.stringify(batchSize)}`)
  }
  if ((epochs === undefined) === (steps === undefined)) {
    throw new InvalidTrainOptionsError('give exactly one of options.epochs and options.steps')
  }
  if (epochs !== undefined && (!Number.isInteger(epochs) || epochs < 1)) {
    throw new InvalidTrainOptionsError(`options.epochs must be a positive integer, got ${JSON.stringify(epochs)}`)
  }
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) {
    throw new InvalidTrainOptionsError(`options.steps must be a positive integer, got ${JSON.stringify(steps)}`)
  }
  if (datasetSize < 1) throw new InvalidTrainOptionsError('cannot train on an empty data set')
  const dropLast = options.dropLast ?? false
  const stepsPerEpoch = dropLast ? Math.floor(datasetSize / batchSize) : Math.ceil(datasetSize / batchSize)
  if (stepsPerEpoch < 1) {
    throw new InvalidTrainOptionsError(`dropLast with batchSize ${batchSize} leaves no batch of ${datasetSize} examples`)
  }
  const seed = options.seed ?? 0
  if (!Number.isInteger(seed)) throw new InvalidTrainOptionsError(`options.seed must be an integer, got ${seed}`)
  const startEpoch = options.startEpoch ?? 0
  if (!Number.isInteger(startEpoch) || startEpoch < 0) {
    throw new InvalidTrainOptionsError(`options.startEpoch must be a non-negative integer, got ${startEpoch}`)
  }
  let mu = 0
  if (options.proximal !== undefined) {
    const { mu: m, reference } = options.proximal
    if (typeof m !== 'number' || !Number.isFinite(m) || m < 0) {
      throw new InvalidTrainOptionsError(`options.proximal.mu must be a finite number ≥ 0, got ${m}`)
    }
    if (!(reference instanceof Float32Array) || reference.length !== paramCount) {
      throw new InvalidTrainOptionsError(
        `options.proximal.reference must be a Float32Array of ${paramCount} values, got ${
          reference instanceof Float32Array ? reference.length : typeof reference
        }`,
      )
    }
    mu = m
  }
  const optimizer = resolveOptimizer(options.optimizer)
  const optimizerState = options.optimizerState === undefined ? undefined : checkOptimizerState(options.optimizerState, optimizer, paramCount)
  return Object.freeze({
    batchSize,
    steps: steps ?? (epochs as number) * stepsPerEpoch,
    stepsPerEpoch,
    optimizer,
    seed,
    startEpoch,
    shuffle: options.shuffle ?? true,
    dropLast,
    mu,
    optimizerState,
    exportOptimizerState: options.exportOptimizerState === true,
  })
}

/**
 * Checks that a data set fits a model.
 * @throws DatasetMismatchError when feature sizes or class counts differ.
 */
export function checkDatasetFits(spec: ModelSpec, dataset: Dataset): void {
  const want = featureSize(spec.inputShape)
  const got = featureSize(dataset.featureShape)
  if (want !== got) {
    throw new DatasetMismatchError(
      `data set ${dataset.name} has features ${JSON.stringify(dataset.featureShape)} (${got} values); the model expects ${JSON.stringify(spec.inputShape)} (${want})`,
    )
  }
  if (dataset.numClasses > spec.numClasses) {
    throw new DatasetMismatchError(`data set ${dataset.name} has ${dataset.numClasses} classes; the model has ${spec.numClasses}`)
  }
}

/** Default batch size of `Model.evaluate`. */
export const DEFAULT_EVALUATE_BATCH_SIZE = 256

/**
 * The batch size `Model.evaluate` runs with.
 * @throws InvalidTrainOptionsError when `options.batchSize` is not a positive integer.
 */
export function resolveEvaluateBatchSize(options: EvaluateOptions): number {
  const batchSize = options.batchSize ?? DEFAULT_EVALUATE_BATCH_SIZE
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidTrainOptionsError(`options.batchSize must be a positive integer, got ${batchSize}`)
  }
  return batchSize
}

/**
 * Checks a batch handed to `Model.predict` or `Model.gradients`: `n` examples of `featureSize` values, and with
 * `y`, `n` labels.
 * @throws RangeError naming what does not fit.
 */
export function checkBatchInput(x: unknown, n: number, featureSize: number, y?: unknown): void {
  if (!(x instanceof Float32Array) || !Number.isInteger(n) || n < 1 || x.length !== n * featureSize) {
    throw new RangeError(`x must be a Float32Array of n × ${featureSize} = ${n * featureSize} values`)
  }
  if (y !== undefined && (!(y instanceof Int32Array) || y.length !== n)) throw new RangeError(`y must be an Int32Array of ${n} labels`)
}
