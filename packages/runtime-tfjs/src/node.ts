// Node-only part of @weft/runtime-tfjs: the worker-thread pool.
export { WorkerCrashedError, WorkerPoolClosedError, WorkerTaskError } from './errors.js'
export {
  createWorkerPool,
  type EvaluateTask,
  type TrainTask,
  type TrainTaskResult,
  type WorkerDataset,
  type WorkerPool,
  type WorkerPoolInit,
  type WorkerTrainOptions,
} from './worker-pool.js'
