// Messages between the browser peer's training pool and its Web Worker.
import type { EvaluateResult, ModelSpec, PoolTrainOptions, TrainProgress, TrainResult } from '@weft/runtime'
import type { WasmOptions } from '@weft/runtime-tfjs'
import type { SharedDatasetDescriptor } from '@weft/data'
import type { StoredDataset } from './datasets.js'

/** A data set held by the page when memory cannot be shared (a page that is not cross-origin isolated). */
export interface CopiedDatasetSource {
  readonly kind: 'weft.browser-dataset/1'
  readonly id: string
}

export type WorkerDatasetSource = SharedDatasetDescriptor | CopiedDatasetSource

export type ToWorker =
  | { readonly type: 'init'; readonly backend: 'wasm' | 'cpu' | 'webgpu'; readonly wasm: WasmOptions }
  /** A copy of a data set, sent once before the first task that names it. */
  | { readonly type: 'dataset'; readonly id: string; readonly dataset: Omit<StoredDataset, 'source' | 'addedAt'> }
  | {
      readonly type: 'train'
      readonly id: number
      readonly spec: ModelSpec
      readonly params: Float32Array
      readonly dataset: WorkerDatasetSource
      readonly options: PoolTrainOptions
      readonly evaluate: boolean
    }
  | { readonly type: 'evaluate'; readonly id: number; readonly spec: ModelSpec; readonly params: Float32Array; readonly dataset: WorkerDatasetSource; readonly batchSize?: number }

export type FromWorker =
  | { readonly type: 'ready'; readonly backend: string; readonly threads: number; readonly isolated: boolean; readonly fallbackReason?: string }
  | { readonly type: 'progress'; readonly id: number; readonly progress: TrainProgress }
  | { readonly type: 'trained'; readonly id: number; readonly params: Float32Array; readonly result: TrainResult; readonly evaluation?: EvaluateResult }
  | { readonly type: 'evaluated'; readonly id: number; readonly evaluation: EvaluateResult }
  | { readonly type: 'failed'; readonly id: number; readonly name: string; readonly message: string }
