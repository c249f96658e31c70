// Messages between the worker pool and its worker threads.
import type { DatasetSource, EvaluateResult, ModelSpec, TrainOptions, TrainResult } from '@weft/runtime'
import type { SharedDatasetDescriptor } from '@weft/data'
import type { BackendName } from './backend.js'

/** Training options that can cross a thread boundary: the contract's, less callbacks and the abort signal. */
export type WorkerTrainOptions = Omit<TrainOptions, 'onProgress' | 'onEpochEnd' | 'signal'>

/** A data set as a worker can receive it: shared memory from `@weft/data`, or a descriptor for the resolver. */
export type WorkerDataset = SharedDatasetDescriptor | DatasetSource

export interface WorkerInit {
  readonly backend: BackendName
  /** Module specifier (file URL) exporting `resolveDataset(source): Dataset | Promise<Dataset>`. */
  readonly resolver?: string
}

export interface TrainRequest {
  readonly id: number
  readonly type: 'train'
  readonly spec: ModelSpec
  readonly params: Float32Array
  readonly dataset: WorkerDataset
  readonly options: WorkerTrainOptions
  /** Evaluate on the training data after training (loss, accuracy). */
  readonly evaluate?: boolean
}

export interface EvaluateRequest {
  readonly id: number
  readonly type: 'evaluate'
  readonly spec: ModelSpec
  readonly params: Float32Array
  readonly dataset: WorkerDataset
  readonly batchSize?: number
}

export type WorkerRequest = TrainRequest | EvaluateRequest

export type WorkerResponse =
  | { readonly type: 'ready'; readonly backend: BackendName; readonly fallbackReason?: string }
  | {
      readonly type: 'done'
      readonly id: number
      readonly params: Float32Array
      readonly result: TrainResult
      readonly evaluation?: { loss: number; accuracy: number; examples: number }
    }
  | { readonly type: 'evaluated'; readonly id: number; readonly evaluation: EvaluateResult }
  | { readonly type: 'failed'; readonly id: number; readonly name: string; readonly message: string }
