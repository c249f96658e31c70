// The TrainingPool contract: several engine instances (threads or processes) that train and evaluate tasks in
// parallel. The fabric hands it flat parameters and data-set descriptors; which engine computes is the pool's
// business (tfjs worker threads, PyTorch worker processes).
import type { DatasetSource } from './dataset-source.js'
import type { ModelSpec } from './model-spec.js'
import type { EvaluateResult, TrainOptions, TrainResult } from './runtime.js'

/** Training options that can cross a thread or process boundary: the contract's, less callbacks and the abort signal. */
export type PoolTrainOptions = Omit<TrainOptions, 'onProgress' | 'onEpochEnd' | 'signal'>

/** One training task. `params` is transferred (detached in the caller) unless `copyParams` is set. */
export interface PoolTrainTask {
  readonly spec: ModelSpec
  readonly params: Float32Array
  /** A shared-memory descriptor (`@weft/data`'s `toShared()`) or a descriptor the pool's resolver knows. */
  readonly dataset: DatasetSource
  readonly options: PoolTrainOptions
  /** Copy `params` instead of transferring its buffer. Default false. */
  readonly copyParams?: boolean
  /** Also evaluate the trained model on the task's data. */
  readonly evaluate?: boolean
}

export interface PoolTrainResult {
  readonly params: Float32Array
  readonly result: TrainResult
  readonly evaluation?: EvaluateResult
}

/** One evaluation task: the model with `params` evaluated on `dataset`. `params` is copied. */
export interface PoolEvaluateTask {
  readonly spec: ModelSpec
  readonly params: Float32Array
  readonly dataset: DatasetSource
  readonly batchSize?: number
}

/** Engine instances that run tasks in parallel, one task per instance at a time. */
export interface TrainingPool {
  /** Engine name of every instance, e.g. `tfjs` or `torch`. */
  readonly engine: string
  readonly size: number
  /** Runs a task on the next free instance. Rejects when the instance fails or dies, or the pool is closed. */
  train(task: PoolTrainTask): Promise<PoolTrainResult>
  /** Evaluates a model on the next free instance. Rejects like `train`. */
  evaluate(task: PoolEvaluateTask): Promise<EvaluateResult>
  /** Lets running tasks finish, rejects queued ones, then stops every instance. */
  close(): Promise<void>
}
