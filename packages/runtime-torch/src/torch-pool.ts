// A TrainingPool of PyTorch worker processes: the torch engine's counterpart of the tfjs worker-thread pool.
import { fromShared, isSharedDatasetDescriptor } from '@weft/data'
import {
  type Dataset,
  type DatasetResolver,
  type DatasetSource,
  DatasetSourceError,
  type EvaluateResult,
  type Model,
  type PoolEvaluateTask,
  type PoolTrainResult,
  type PoolTrainTask,
  parseModelSpec,
  type TrainingPool,
} from '@weft/runtime'
import { TorchWorkerClosedError } from './errors.js'
import { type TorchRuntime, type TorchRuntimeInit, torchRuntime } from './torch-runtime.js'

/** Options of `createTorchPool`. */
export interface TorchPoolInit extends TorchRuntimeInit {
  /** Worker processes (each trains one task at a time with `threads` threads). Default 1. */
  readonly size?: number
  /** Resolves data-set descriptors other than `@weft/data` shared memory. */
  readonly resolver?: DatasetResolver
}

/** PyTorch worker processes behind the `TrainingPool` contract. */
export interface TorchPool extends TrainingPool {
  readonly engine: 'torch'
  /** The engines, one per process (their `info` says device, versions and threads). */
  readonly runtimes: readonly TorchRuntime[]
}

interface Job {
  run(slot: Slot): Promise<void>
  reject(err: Error): void
}

interface Slot {
  readonly runtime: TorchRuntime
  readonly models: Map<string, Model>
  busy: boolean
}

/**
 * Starts `size` PyTorch workers.
 * @throws TorchUnavailableError when Python with torch and numpy cannot be found (nothing is left running)
 */
export async function createTorchPool(init: TorchPoolInit = {}): Promise<TorchPool> {
  const size = init.size ?? 1
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`init.size must be a positive integer, got ${size}`)
  const started = await Promise.allSettled(Array.from({ length: size }, () => torchRuntime(init)))
  const failed = started.find((s) => s.status === 'rejected')
  if (failed !== undefined) {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.dispose() : undefined)))
    throw (failed as PromiseRejectedResult).reason
  }
  const runtimes = started.map((s) => (s as PromiseFulfilledResult<TorchRuntime>).value)
  return new TorchPoolImpl(runtimes, init.resolver)
}

class TorchPoolImpl implements TorchPool {
  readonly engine = 'torch'
  readonly #slots: Slot[]
  readonly #queue: Job[] = []
  #closing = false
  #idle: (() => void) | undefined

  constructor(
    readonly runtimes: readonly TorchRuntime[],
    private readonly resolver: DatasetResolver | undefined,
  ) {
    this.#slots = runtimes.map((runtime) => ({ runtime, models: new Map(), busy: false }))
  }

  get size(): number {
    return this.#slots.length
  }

  train(task: PoolTrainTask): Promise<PoolTrainResult> {
    const spec = parseModelSpec(task.spec)
    if (!(task.params instanceof Float32Array)) return Promise.reject(new TypeError('task.params must be a Float32Array'))
    const params = task.copyParams === true ? task.params.slice() : task.params
    return this.#enqueue(async (slot) => {
      const model = await this.#model(slot, spec)
      model.setParams(params)
      const dataset = await this.#resolve(task.dataset)
      const result = await model.train(dataset, task.options)
      const evaluation = task.evaluate === true ? await model.evaluate(dataset) : undefined
      return { params: model.getParams(), result, ...(evaluation === undefined ? {} : { evaluation }) }
    })
  }

  evaluate(task: PoolEvaluateTask): Promise<EvaluateResult> {
    const spec = parseModelSpec(task.spec)
    if (!(task.params instanceof Float32Array)) return Promise.reject(new TypeError('task.params must be a Float32Array'))
    const params = task.params.slice()
    return this.#enqueue(async (slot) => {
      const model = await this.#model(slot, spec)
      model.setParams(params)
      return model.evaluate(await this.#resolve(task.dataset), task.batchSize === undefined ? {} : { batchSize: task.batchSize })
    })
  }

  async close(): Promise<void> {
    this.#closing = true
    for (const job of this.#queue.splice(0)) job.reject(new TorchWorkerClosedError('the pool closed before this task ran'))
    if (this.#slots.some((s) => s.busy)) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve
      })
    }
    await Promise.all(this.#slots.map((s) => s.runtime.dispose()))
  }

  async #model(slot: Slot, spec: PoolTrainTask['spec']): Promise<Model> {
    const key = JSON.stringify(spec)
    let model = slot.models.get(key)
    if (model === undefined) {
      model = await slot.runtime.createModel(spec)
      slot.models.set(key, model)
    }
    return model
  }

  async #resolve(source: DatasetSource): Promise<Dataset> {
    if (isSharedDatasetDescriptor(source)) return fromShared(source)
    const ds = this.resolver === undefined ? undefined : await this.resolver(source)
    if (ds === undefined) throw new DatasetSourceError(`no resolver for data set kind ${JSON.stringify(source.kind)}`)
    return ds
  }

  #enqueue<T>(work: (slot: Slot) => Promise<T>): Promise<T> {
    if (this.#closing) return Promise.reject(new TorchWorkerClosedError('the pool is closed'))
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        run: async (slot) => {
          try {
            resolve(await work(slot))
          } catch (err) {
            reject(err as Error)
          }
        },
        reject,
      })
      this.#dispatch()
    })
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) break
      if (slot.busy) continue
      const job = this.#queue.shift()!
      slot.busy = true
      void job.run(slot).finally(() => {
        slot.busy = false
        this.#dispatch()
      })
    }
    if (this.#closing && this.#idle !== undefined && this.#slots.every((s) => !s.busy)) {
      const idle = this.#idle
      this.#idle = undefined
      idle()
    }
  }
}
