// A pool of worker threads, each with its own tfjs engine, that trains models in parallel (Node only).
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { type EvaluateResult, type PoolEvaluateTask, type PoolTrainResult, type PoolTrainTask, parseModelSpec, type TrainingPool } from '@weft/runtime'
import type { BackendName } from './backend.js'
import { WorkerCrashedError, WorkerPoolClosedError, WorkerTaskError } from './errors.js'
import type { WorkerDataset, WorkerInit, WorkerRequest, WorkerResponse, WorkerTrainOptions } from './worker-protocol.js'

/** A compiled file beside this module, also when this module runs from its TypeScript source (tests): then from dist/. */
function builtSibling(file: string): URL {
  const here = import.meta.url.endsWith('.ts') ? import.meta.url.replace('/src/', '/dist/') : import.meta.url
  return new URL(file, here)
}

export type { WorkerDataset, WorkerTrainOptions } from './worker-protocol.js'

/** Options of `createWorkerPool`. */
export interface WorkerPoolInit {
  /** Number of worker threads. Default: available parallelism. */
  readonly size?: number
  /** Backend of every worker's engine. Default 'wasm'. */
  readonly backend?: BackendName
  /**
   * File URL of a module exporting `resolveDataset(source)`, used by workers for data-set kinds other than
   * `@weft/data` shared memory (e.g. `{ kind: 'fashion-mnist', split, indices }` loaded once per worker).
   */
  readonly resolver?: string | URL
}

/** One training task (the pool contract's, with the data set as a worker can receive it). */
export interface TrainTask extends PoolTrainTask {
  readonly dataset: WorkerDataset
  readonly options: WorkerTrainOptions
}

export type TrainTaskResult = PoolTrainResult

/** One evaluation task. `params` is copied. */
export interface EvaluateTask extends PoolEvaluateTask {
  readonly dataset: WorkerDataset
}

/** Worker threads with one tfjs engine each. */
export interface WorkerPool extends TrainingPool {
  readonly engine: 'tfjs'
  evaluate(task: EvaluateTask): Promise<EvaluateResult>
  train(task: TrainTask): Promise<TrainTaskResult>
}

interface Pending {
  readonly request: WorkerRequest
  readonly transfer: ArrayBuffer[]
  resolve(r: WorkerResponse & { type: 'done' | 'evaluated' }): void
  reject(e: Error): void
}

interface Slot {
  worker: Worker
  ready: boolean
  current: Pending | undefined
}

/**
 * Starts a worker pool.
 * @throws RangeError when `init.size` is not a positive integer.
 */
export function createWorkerPool(init: WorkerPoolInit = {}): WorkerPool {
  const size = init.size ?? Math.max(1, availableParallelism())
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`init.size must be a positive integer, got ${size}`)
  return new WorkerPoolImpl(size, {
    backend: init.backend ?? 'wasm',
    ...(init.resolver === undefined ? {} : { resolver: String(init.resolver) }),
  })
}

class WorkerPoolImpl implements WorkerPool {
  readonly engine = 'tfjs'
  readonly #slots: Slot[] = []
  readonly #queue: Pending[] = []
  #nextId = 1
  #closing = false
  #idle: (() => void) | undefined

  constructor(
    readonly size: number,
    private readonly workerInit: WorkerInit,
  ) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn())
  }

  train(task: TrainTask): Promise<TrainTaskResult> {
    if (this.#closing) return Promise.reject(new WorkerPoolClosedError('the worker pool is closed'))
    const spec = parseModelSpec(task.spec)
    if (!(task.params instanceof Float32Array)) return Promise.reject(new TypeError('task.params must be a Float32Array'))
    const params = task.copyParams === true ? task.params.slice() : task.params
    const whole = params.byteOffset === 0 && params.byteLength === params.buffer.byteLength
    const sendable = whole && params.buffer instanceof ArrayBuffer ? params : params.slice()
    const request: WorkerRequest = {
      id: this.#nextId++,
      type: 'train',
      spec,
      params: sendable,
      dataset: task.dataset,
      options: task.options,
      ...(task.evaluate === true ? { evaluate: true } : {}),
    }
    return new Promise((resolve, reject) => {
      const done = (msg: WorkerResponse): void => {
        if (msg.type !== 'done') {
          reject(new WorkerTaskError(`unexpected ${msg.type} reply to a train task`, 'Error'))
          return
        }
        resolve({ params: msg.params, result: msg.result, ...(msg.evaluation === undefined ? {} : { evaluation: msg.evaluation }) })
      }
      this.#queue.push({ request, transfer: [sendable.buffer as ArrayBuffer], resolve: done, reject })
      this.#dispatch()
    })
  }

  evaluate(task: EvaluateTask): Promise<EvaluateResult> {
    if (this.#closing) return Promise.reject(new WorkerPoolClosedError('the worker pool is closed'))
    const spec = parseModelSpec(task.spec)
    if (!(task.params instanceof Float32Array)) return Promise.reject(new TypeError('task.params must be a Float32Array'))
    const params = task.params.slice()
    const request: WorkerRequest = {
      id: this.#nextId++,
      type: 'evaluate',
      spec,
      params,
      dataset: task.dataset,
      ...(task.batchSize === undefined ? {} : { batchSize: task.batchSize }),
    }
    return new Promise((resolve, reject) => {
      const done = (msg: WorkerResponse): void => {
        if (msg.type !== 'evaluated') {
          reject(new WorkerTaskError(`unexpected ${msg.type} reply to an evaluate task`, 'Error'))
          return
        }
        resolve(msg.evaluation)
      }
      this.#queue.push({ request, transfer: [params.buffer as ArrayBuffer], resolve: done, reject })
      this.#dispatch()
    })
  }

  async close(): Promise<void> {
    this.#closing = true
    for (const p of this.#queue.splice(0)) p.reject(new WorkerPoolClosedError('the worker pool closed before this task ran'))
    if (this.#slots.some((s) => s.current !== undefined)) {
      await new Promise<void>((resolve) => {
        this.#idle = resolve
      })
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }

  #spawn(): Slot {
    const worker = new Worker(builtSibling('./worker.js'), { workerData: this.workerInit })
    const slot: Slot = { worker, ready: false, current: undefined }
    worker.on('message', (msg: WorkerResponse) => this.#onMessage(slot, msg))
    worker.on('error', (err) => this.#onDeath(slot, `worker error: ${err.message}`))
    worker.on('exit', (code) => this.#onDeath(slot, `worker exited with code ${code}`))
    return slot
  }

  #onMessage(slot: Slot, msg: WorkerResponse): void {
    if (msg.type === 'ready') {
      slot.ready = true
      this.#dispatch()
      return
    }
    const p = slot.current
    if (p === undefined || p.request.id !== msg.id) return
    slot.current = undefined
    if (msg.type === 'done' || msg.type === 'evaluated') {
      p.resolve(msg)
    } else {
      p.reject(new WorkerTaskError(`${msg.name}: ${msg.message}`, msg.name))
    }
    this.#dispatch()
  }

  #onDeath(slot: Slot, why: string): void {
    const i = this.#slots.indexOf(slot)
    if (i < 0) return
    const p = slot.current
    slot.current = undefined
    if (this.#closing) {
      p?.reject(new WorkerCrashedError(`${why} while running task ${p.request.id}`))
      this.#checkIdle()
      return
    }
    this.#slots[i] = this.#spawn()
    p?.reject(new WorkerCrashedError(`${why} while running task ${p.request.id}; the worker was replaced`))
    this.#dispatch()
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) break
      if (!slot.ready || slot.current !== undefined) continue
      const p = this.#queue.shift()!
      slot.current = p
      slot.worker.postMessage(p.request, p.transfer)
    }
    // Workers keep the process alive while tasks run or wait; an idle pool does not.
    const busy = this.#queue.length > 0 || this.#slots.some((s) => s.current !== undefined)
    for (const slot of this.#slots) {
      if (busy) slot.worker.ref()
      else slot.worker.unref()
    }
    this.#checkIdle()
  }

  #checkIdle(): void {
    if (this.#closing && this.#idle !== undefined && this.#slots.every((s) => s.current === undefined)) {
      const idle = this.#idle
      this.#idle = undefined
      idle()
    }
  }
}
