// The browser peer's TrainingPool: one Web Worker running tfjs on WebAssembly. Data sets reach it as shared memory
// where the page is cross-origin isolated, else as one copy each, sent before the first task that names them.
import type { InMemoryDataset } from '@weft/data'
import type { EvaluateResult, PoolEvaluateTask, PoolTrainResult, PoolTrainTask, TrainingPool, TrainProgress } from '@weft/runtime'
import type { WasmOptions } from '@weft/runtime-tfjs'
import type { StoredDataset } from './datasets.js'
import type { CopiedDatasetSource, FromWorker, ToWorker, WorkerDatasetSource } from './worker-protocol.js'

export interface BrowserPoolInit {
  /** 'wasm' (default) or 'cpu'. */
  readonly backend?: 'wasm' | 'cpu' | 'webgpu'
  readonly wasm: WasmOptions
  /** Makes the worker (default: the bundled train-worker, as a module worker). */
  readonly createWorker?: () => Worker
  /** Each training task's progress (a few times a second). */
  readonly onProgress?: (progress: TrainProgress) => void
}

export interface BrowserPool extends TrainingPool {
  /** What the worker started: the backend, its threads, and why wasm fell back to cpu if it did. */
  readonly started: Promise<{ backend: string; threads: number; fallbackReason?: string }>
  /**
   * The data set as this pool can train on it: `dataset` itself where memory can be shared, else a view whose
   * `toShared()` names a copy that the pool sends to its worker once.
   */
  portable(dataset: InMemoryDataset, stored: StoredDataset): InMemoryDataset
}

type Pending = { resolve: (value: FromWorker) => void; reject: (err: Error) => void }

/** A worker failure, with the worker's error name. */
export class WorkerTaskError extends Error {
  constructor(
    readonly remoteName: string,
    message: string,
  ) {
    super(message)
    this.name = 'WorkerTaskError'
  }
}

/** Starts the worker and its engine. */
export function browserTrainingPool(init: BrowserPoolInit): BrowserPool {
  const worker = init.createWorker?.() ?? new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module', name: 'weft-train' })
  const pending = new Map<number, Pending>()
  const copies = new Map<string, StoredDataset>()
  const sent = new Set<string>()
  let nextId = 1
  let closed = false
  let readyResolve!: (v: { backend: string; threads: number; fallbackReason?: string }) => void
  let readyReject!: (err: Error) => void
  const started = new Promise<{ backend: string; threads: number; fallbackReason?: string }>((resolve, reject) => {
    readyResolve = resolve
    readyReject = reject
  })
  started.catch(() => {})
  const fail = (err: Error): void => {
    readyReject(err)
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    const msg = event.data
    if (msg.type === 'ready') {
      readyResolve({ backend: msg.backend, threads: msg.threads, ...(msg.fallbackReason === undefined ? {} : { fallbackReason: msg.fallbackReason }) })
      return
    }
    if (msg.type === 'progress') {
      init.onProgress?.(msg.progress)
      return
    }
    if (msg.type === 'failed' && msg.id === -1) {
      fail(new WorkerTaskError(msg.name, msg.message))
      return
    }
    const p = pending.get(msg.id)
    if (p === undefined) return
    pending.delete(msg.id)
    if (msg.type === 'failed') p.reject(new WorkerTaskError(msg.name, msg.message))
    else p.resolve(msg)
  }
  worker.onerror = (event) => fail(new Error(`the training worker failed: ${event.message}`))
  const post = (msg: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(msg, transfer)
  post({ type: 'init', backend: init.backend ?? 'wasm', wasm: init.wasm })

  /** Sends the copy a task names, once. */
  const ensure = (source: WorkerDatasetSource): void => {
    if (source.kind !== 'weft.browser-dataset/1' || sent.has(source.id)) return
    const stored = copies.get(source.id)
    if (stored === undefined) throw new Error(`no data set ${source.id} in this page`)
    const { source: _s, addedAt: _a, ...dataset } = stored
    post({ type: 'dataset', id: source.id, dataset })
    sent.add(source.id)
  }
  const request = async (build: (id: number) => ToWorker, transfer: Transferable[]): Promise<FromWorker> => {
    if (closed) throw new Error('the training pool is closed')
    await started
    const id = nextId++
    const msg = build(id)
    if ('dataset' in msg && msg.type !== 'dataset') ensure(msg.dataset)
    return new Promise<FromWorker>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      post(msg, transfer)
    })
  }

  return {
    engine: 'tfjs',
    size: 1,
    started,
    portable(dataset, stored) {
      if (typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true) return dataset
      const id = `${stored.name}@${stored.addedAt}`
      copies.set(id, stored)
      const descriptor: CopiedDatasetSource = { kind: 'weft.browser-dataset/1', id }
      // Everything else is the data set's own; only its shared-memory descriptor names the copy instead.
      return new Proxy(dataset, {
        get(target, prop) {
          if (prop === 'toShared') return () => descriptor
          const value = Reflect.get(target, prop, target) as unknown
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
        },
      })
    },
    async train(task: PoolTrainTask): Promise<PoolTrainResult> {
      const params = task.copyParams === true ? task.params.slice() : task.params
      const reply = await request(
        (id) => ({ type: 'train', id, spec: task.spec, params, dataset: task.dataset as WorkerDatasetSource, options: task.options, evaluate: task.evaluate === true }),
        [params.buffer as ArrayBuffer],
      )
      if (reply.type !== 'trained') throw new Error(`unexpected worker reply ${reply.type}`)
      return { params: reply.params, result: reply.result, ...(reply.evaluation === undefined ? {} : { evaluation: reply.evaluation }) }
    },
    async evaluate(task: PoolEvaluateTask): Promise<EvaluateResult> {
      const reply = await request(
        (id) => ({
          type: 'evaluate',
          id,
          spec: task.spec,
          params: task.params,
          dataset: task.dataset as WorkerDatasetSource,
          ...(task.batchSize === undefined ? {} : { batchSize: task.batchSize }),
        }),
        [],
      )
      if (reply.type !== 'evaluated') throw new Error(`unexpected worker reply ${reply.type}`)
      return reply.evaluation
    },
    async close() {
      closed = true
      fail(new Error('the training pool is closed'))
      worker.terminate()
    },
  }
}
