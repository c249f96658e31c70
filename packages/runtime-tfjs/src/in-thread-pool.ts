// A TrainingPool of one tfjs engine in the calling thread: no worker thread, so no second JavaScript heap and no
// second copy of the engine's code. For a node with little memory (`lowMemory`); tasks run one at a time.
import { fromShared, isSharedDatasetDescriptor } from '@weft/data'
import type { Dataset, DatasetSource, EvaluateResult, Model, PoolEvaluateTask, PoolTrainResult, PoolTrainTask, TrainingPool } from '@weft/runtime'
import { DatasetSourceError } from '@weft/runtime'
import type { BackendName } from './backend.js'
import { tfjsRuntime } from './tfjs-runtime.js'

export interface InThreadPoolInit {
  /** 'wasm' (default) or 'cpu'. */
  readonly backend?: BackendName
  /** Examples per evaluation batch when a task names none (default 32: activations stay small). */
  readonly evaluateBatchSize?: number
}

/** Starts the engine lazily, at the first task. */
export function createInThreadPool(init: InThreadPoolInit = {}): TrainingPool {
  const evaluateBatchSize = init.evaluateBatchSize ?? 32
  let runtime: ReturnType<typeof tfjsRuntime> | undefined
  /** The model of the last spec (one kept: the point is to hold little). */
  let kept: { key: string; model: Model } | undefined
  let chain: Promise<unknown> = Promise.resolve()
  let closed = false

  const modelFor = async (spec: PoolTrainTask['spec']): Promise<Model> => {
    const key = JSON.stringify(spec)
    if (kept?.key === key) return kept.model
    kept?.model.dispose()
    runtime ??= tfjsRuntime({ backend: init.backend ?? 'wasm' }, { log: () => {} })
    const model = await (await runtime).createModel(spec)
    kept = { key, model }
    return model
  }
  const datasetOf = (source: DatasetSource): Dataset => {
    if (isSharedDatasetDescriptor(source)) return fromShared(source)
    throw new DatasetSourceError(`the in-thread pool takes shared-memory data sets only, not ${JSON.stringify(source.kind)}`)
  }
  /** Runs `task` after the ones before it. */
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new Error('the training pool is closed'))
    const run = chain.then(task, task)
    chain = run.catch(() => {})
    return run
  }

  return {
    engine: 'tfjs',
    size: 1,
    train: (task: PoolTrainTask): Promise<PoolTrainResult> =>
      serial(async () => {
        const model = await modelFor(task.spec)
        model.setParams(task.params)
        const dataset = datasetOf(task.dataset)
        const result = await model.train(dataset, task.options)
        const evaluation = task.evaluate === true ? await model.evaluate(dataset, { batchSize: evaluateBatchSize }) : undefined
        return { params: model.getParams(), result, ...(evaluation === undefined ? {} : { evaluation }) }
      }),
    evaluate: (task: PoolEvaluateTask): Promise<EvaluateResult> =>
      serial(async () => {
        const model = await modelFor(task.spec)
        model.setParams(task.params)
        return model.evaluate(datasetOf(task.dataset), { batchSize: task.batchSize ?? evaluateBatchSize })
      }),
    async close() {
      closed = true
      await chain
      kept?.model.dispose()
      kept = undefined
    },
  }
}
