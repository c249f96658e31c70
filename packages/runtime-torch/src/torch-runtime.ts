// The PyTorch engine: Weft's Runtime contract served by a supervised Python worker process.
//
// Models live in the worker; the Node side keeps each model's last known flat parameters, so `getParams` and
// `setParams` stay synchronous and a model survives a worker restart (it is rebuilt from them). Data sets that can
// be shared (`@weft/data` in-memory data sets) are sent to the worker once and cached there; each epoch then sends
// only the order of its examples, the very order tfjs walks, so both engines see the same batches.
// Over 500 lines on purpose: the Node side of one wire protocol (model life cycle, shared data sets, chunked
// training, evaluation, restart recovery) reads best as one state machine beside the Python worker it mirrors.
import { epochOrder, type SharedDatasetDescriptor } from '@weft/data'
import {
  ARCHITECTURES,
  type BlockRangeModel,
  type CreateModelOptions,
  checkBatchInput,
  checkDatasetFits,
  checkParams,
  type Dataset,
  type EvaluateOptions,
  type EvaluateResult,
  featureSize,
  type GradientsResult,
  InvalidTrainOptionsError,
  initialFlatParams,
  type Model,
  type ModelSpec,
  type NamedTensors,
  NonFiniteLossError,
  type ParamInfo,
  paramInfo,
  parseModelSpec,
  type ResolvedTrainOptions,
  type Runtime,
  type RuntimeCapabilities,
  resolveEvaluateBatchSize,
  resolveTrainOptions,
  type TrainOptions,
  type TrainResult,
  TrainingAbortedError,
  type TransformerConfig,
  type TransformerRuntime,
  type TransformerSpan,
  type TransformerTrainer,
  type TransformerTrainingRuntime,
  type TransformerTrainOptions,
  type OptimizerState,
} from '@weft/runtime'
import type { OutBuffer } from './frames.js'
import { TorchProcess, type TorchProcessInit, type TorchWorkerInfo } from './torch-process.js'
import { loadTorchTransformer } from './torch-transformer.js'
import { createTorchTransformerTrainer } from './torch-transformer-train.js'

/** Options of `torchRuntime`. */
export interface TorchRuntimeInit extends TorchProcessInit {
  /** Most bytes of data sets the worker keeps (float32 on its device). Default 2 GiB. */
  readonly cacheBytes?: number
  /** Longest the worker trains before reporting progress and checking for an abort. Default 200 ms. */
  readonly chunkMs?: number
}

/** Result of `TorchRuntime.measureMatmulGflops`. */
export interface TorchMatmulProbe {
  readonly gflops: number
  readonly iterations: number
  readonly seconds: number
}

/** The PyTorch engine, with what it adds to `Runtime`, transformer spans and transformer training included. */
export interface TorchRuntime extends Runtime, TransformerRuntime, TransformerTrainingRuntime {
  readonly name: 'torch'
  /** `cpu` or `cuda`. */
  readonly backend: 'cpu' | 'cuda'
  /** What the running worker reported (interpreter, versions, device, threads). */
  readonly info: TorchWorkerInfo
  /** Times the worker was restarted after dying. */
  readonly restarts: number
  /** Sustained float32 matrix-multiply rate on the engine's device (for resource ads). */
  measureMatmulGflops(options?: { readonly size?: number; readonly durationMs?: number }): Promise<TorchMatmulProbe>
}

/**
 * Starts the PyTorch worker and returns the engine.
 * @throws TorchUnavailableError when no interpreter can import torch and numpy (the message lists what was tried)
 */
export async function torchRuntime(init: TorchRuntimeInit = {}): Promise<TorchRuntime> {
  const cacheBytes = init.cacheBytes ?? 2 ** 31
  if (!(cacheBytes > 0)) throw new RangeError(`init.cacheBytes must be positive, got ${cacheBytes}`)
  const chunkMs = init.chunkMs ?? 200
  if (!(chunkMs > 0)) throw new RangeError(`init.chunkMs must be positive, got ${chunkMs}`)
  const proc = new TorchProcess(init)
  const info = await proc.start()
  return new TorchRuntimeImpl(proc, info, cacheBytes, chunkMs)
}

interface CachedArray {
  readonly id: string
  /** Bytes it takes on the worker's device. */
  readonly bytes: number
}

/** Where a data set lives in the worker: cached features and labels, and the examples of this view. */
interface CachedData {
  readonly x: string
  readonly y: string
  /** Indices into the cached arrays of the data set's examples, or null when it is the whole of them. */
  readonly indices: Int32Array | null
}

class TorchRuntimeImpl implements TorchRuntime {
  readonly name = 'torch'
  readonly capabilities: RuntimeCapabilities
  readonly #arrays = new WeakMap<SharedArrayBuffer, CachedArray>()
  /** Cached arrays of the current worker, least recently used first. */
  readonly #lru = new Map<string, number>()
  readonly #models = new Set<TorchModel>()
  readonly #transformers = new Set<BlockRangeModel>()
  readonly #trainers = new Set<TransformerTrainer>()
  #nextId = 1
  #cachedBytes = 0
  /** Generation of the worker the arrays in `#lru` live in. */
  #lruGeneration = 0

  constructor(
    readonly proc: TorchProcess,
    readonly firstInfo: TorchWorkerInfo,
    readonly cacheBytes: number,
    readonly chunkMs: number,
  ) {
    this.capabilities = Object.freeze({
      architectures: ARCHITECTURES,
      training: true,
      blockRange: true,
      onnx: false,
      native: true,
      deterministic: firstInfo.device === 'cpu',
    })
  }

  get backend(): 'cpu' | 'cuda' {
    return this.info.device
  }

  get info(): TorchWorkerInfo {
    return this.proc.info ?? this.firstInfo
  }

  get restarts(): number {
    return this.proc.restarts
  }

  nextId(prefix: string): string {
    return `${prefix}${this.#nextId++}`
  }

  async createModel(spec: ModelSpec, options: CreateModelOptions = {}): Promise<Model> {
    const s = parseModelSpec(spec)
    const seed = options.seed ?? 0
    if (!Number.isInteger(seed)) throw new TypeError(`options.seed must be an integer, got ${seed}`)
    const model = new TorchModel(this, s, initialFlatParams(s, seed))
    await model.ensure()
    this.#models.add(model)
    return model
  }

  /**
   * Loads a transformer span into the worker (weights on its device, KV caches there too).
   * @throws InvalidModelSpecError for a bad config, span or tensor; TorchWorkerCrashedError when the worker restarts meanwhile
   */
  async loadTransformer(config: TransformerConfig, span: TransformerSpan, weights: NamedTensors): Promise<BlockRangeModel> {
    const model = await loadTorchTransformer(this.proc, this.nextId('t'), config, span, weights, (m) => this.#transformers.delete(m))
    this.#transformers.add(model)
    return model
  }

  /**
   * Starts training a whole transformer in the worker (weights and optimizer state on its device).
   * @throws InvalidModelSpecError for a bad config or tensor; RangeError for bad options; TorchWorkerCrashedError when
   *   the worker restarts meanwhile
   */
  async createTransformerTrainer(config: TransformerConfig, weights: NamedTensors, options: TransformerTrainOptions): Promise<TransformerTrainer> {
    const trainer = await createTorchTransformerTrainer(this.proc, this.nextId('tt'), config, weights, options, (t) => this.#trainers.delete(t))
    this.#trainers.add(trainer)
    return trainer
  }

  forget(model: TorchModel): void {
    this.#models.delete(model)
  }

  async measureMatmulGflops(options: { readonly size?: number; readonly durationMs?: number } = {}): Promise<TorchMatmulProbe> {
    const size = options.size ?? 256
    const durationMs = options.durationMs ?? 1000
    if (!Number.isInteger(size) || size < 8 || size > 8192) throw new RangeError(`size must be an integer in [8, 8192], got ${size}`)
    if (!(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`)
    const r = await this.proc.request({ op: 'matmul_probe', size, durationMs })
    return { gflops: Number(r.header['gflops']), iterations: Number(r.header['iterations']), seconds: Number(r.header['seconds']) }
  }

  async dispose(): Promise<void> {
    for (const m of [...this.#models]) m.dispose()
    for (const t of [...this.#transformers]) t.dispose()
    for (const t of [...this.#trainers]) t.dispose()
    await this.proc.close()
  }

  /** Makes sure the data set's storage is cached in the running worker; undefined when it cannot be shared. */
  async cache(dataset: Dataset): Promise<CachedData | undefined> {
    const shareable = dataset as Dataset & { toShared?: () => SharedDatasetDescriptor }
    if (typeof shareable.toShared !== 'function' || typeof SharedArrayBuffer === 'undefined') return undefined
    const d = shareable.toShared()
    const fs = featureSize(d.featureShape)
    const count = d.labels.byteLength / 4
    const features = d.features
    const x =
      features.dtype === 'uint8'
        ? await this.#put(features.buffer, { data: new Uint8Array(features.buffer), shape: [count, fs] }, features.scale)
        : await this.#put(features.buffer, { data: new Float32Array(features.buffer), shape: [count, fs] })
    const y = await this.#put(d.labels, { data: new Int32Array(d.labels) })
    return { x, y, indices: d.indices === undefined ? null : new Int32Array(d.indices) }
  }

  async #put(buffer: SharedArrayBuffer, out: OutBuffer, scale?: number): Promise<string> {
    const info = await this.proc.start()
    const generation = this.proc.generation
    if (this.#lruGeneration !== generation) {
      // A new worker holds nothing.
      this.#lru.clear()
      this.#cachedBytes = 0
      this.#lruGeneration = generation
    }
    const known = this.#arrays.get(buffer)
    // Ids are never reused, and the LRU holds only the current worker's: an entry there is in the worker.
    if (known !== undefined && this.#lru.has(known.id)) {
      this.#lru.delete(known.id)
      this.#lru.set(known.id, known.bytes)
      return known.id
    }
    // The worker keeps features as float32 (bytes grow four times) and labels as int64 (twice).
    const bytes = out.data.length * (out.data instanceof Int32Array ? 8 : 4)
    for (const [id, b] of this.#lru) {
      if (this.#cachedBytes + bytes <= this.cacheBytes) break
      this.#lru.delete(id)
      this.#cachedBytes -= b
      await this.proc.request({ op: 'drop_array', array: id }).catch(() => {})
    }
    const id = this.nextId('a')
    const r = await this.proc.request({ op: 'put_array', array: id, ...(scale === undefined ? {} : { scale }) }, [out])
    if (r.generation !== generation) throw new Error(`the PyTorch worker (pid ${info.pid}) restarted while receiving data`)
    this.#arrays.set(buffer, { id, bytes })
    this.#lru.set(id, bytes)
    this.#cachedBytes += bytes
    return id
  }
}

class TorchModel implements Model {
  readonly paramCount: number
  readonly #rt: TorchRuntimeImpl
  readonly #info: readonly ParamInfo[]
  readonly #inSize: number
  readonly #id: string
  /** The last parameters known on this side: what the worker holds unless `#dirty`. */
  #params: Float32Array
  /** Set when `#params` changed here and the worker has not been told. */
  #dirty = true
  /** Generation of the worker process that holds this model (0: none yet). */
  #generation = 0
  #disposed = false

  constructor(
    rt: TorchRuntimeImpl,
    readonly spec: ModelSpec,
    params: Float32Array,
  ) {
    this.#rt = rt
    this.#info = paramInfo(spec)
    this.paramCount = params.length
    this.#inSize = featureSize(spec.inputShape)
    this.#params = params
    this.#id = rt.nextId('m')
  }

  paramInfo(): readonly ParamInfo[] {
    return this.#info
  }

  getParams(): Float32Array {
    this.#check()
    return this.#params.slice()
  }

  setParams(flat: Float32Array): void {
    this.#check()
    checkParams(flat, this.#info)
    this.#params = flat.slice()
    this.#dirty = true
  }

  /** Builds the model in the running worker, or sends it the parameters set here since. */
  async ensure(): Promise<void> {
    this.#check()
    await this.#rt.proc.start()
    const generation = this.#rt.proc.generation
    if (this.#generation !== generation) {
      const r = await this.#rt.proc.request({ op: 'model', model: this.#id, spec: this.spec, info: this.#info }, [{ data: this.#params }])
      this.#generation = r.generation
      this.#dirty = false
    } else if (this.#dirty) {
      await this.#rt.proc.request({ op: 'set_params', model: this.#id }, [{ data: this.#params }])
      this.#dirty = false
    }
  }

  /** Reads the worker's parameters into `#params` (after training changed them there). */
  async #pull(): Promise<void> {
    const r = await this.#rt.proc.request({ op: 'get_params', model: this.#id })
    if (r.generation !== this.#generation) throw new Error('the PyTorch worker restarted during training')
    this.#params = r.buffers[0] as Float32Array
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    this.#check()
    checkBatchInput(x, n, this.#inSize)
    await this.ensure()
    const r = await this.#rt.proc.request({ op: 'predict', model: this.#id }, [{ data: x, shape: [n, this.#inSize] }])
    return r.buffers[0] as Float32Array
  }

  async gradients(x: Float32Array, y: Int32Array, n: number): Promise<GradientsResult> {
    this.#check()
    checkBatchInput(x, n, this.#inSize, y)
    await this.ensure()
    const r = await this.#rt.proc.request({ op: 'gradients', model: this.#id }, [{ data: x, shape: [n, this.#inSize] }, { data: y }])
    return { loss: Number(r.header['loss']), gradients: r.buffers[0] as Float32Array }
  }

  async train(dataset: Dataset, options: TrainOptions): Promise<TrainResult> {
    this.#check()
    checkDatasetFits(this.spec, dataset)
    const o = resolveTrainOptions(options, dataset.size, this.paramCount)
    if (options.signal?.aborted) throw new TrainingAbortedError('training aborted before the first step', { cause: options.signal.reason })
    await this.ensure()
    const data = await this.#rt.cache(dataset)
    const session = this.#rt.nextId('s')
    const proc = this.#rt.proc
    // `o.mu` is 0 without a proximal term.
    const state = o.optimizerState
    await proc.request(
      { op: 'train_begin', model: this.#id, session, optimizer: o.optimizer, mu: o.mu, ...(state === undefined ? {} : { stateStep: state.step }) },
      [...(o.mu > 0 && options.proximal !== undefined ? [{ data: options.proximal.reference }] : []), ...(state === undefined ? [] : [{ data: state.buffers }])],
    )
    let optimizerState: OptimizerState | undefined
    const start = performance.now()
    const run = new TrainRun(o, options, start)
    let epoch = o.startEpoch
    let finished = false
    try {
      while (run.step < o.steps) {
        const epochStartLoss = run.lossSum
        const epochStartStep = run.step
        if (data === undefined) await this.#epochInline(dataset, o, epoch, session, run)
        else await this.#epochCached(dataset.size, data, o, epoch, session, run)
        if (run.step === epochStartStep) throw new InvalidTrainOptionsError(`data set ${dataset.name} yielded no batch in epoch ${epoch}`)
        epoch++
        if (options.onEpochEnd !== undefined && (run.step - epochStartStep === o.stepsPerEpoch || run.step === o.steps)) {
          await this.#pull()
          await options.onEpochEnd({
            epoch: epoch - o.startEpoch,
            steps: run.step,
            examples: run.examples,
            meanLoss: (run.lossSum - epochStartLoss) / Math.max(1, run.step - epochStartStep),
            elapsedMs: performance.now() - start,
          })
          // The callback may have set parameters or run other requests: make the worker current again.
          await this.ensure()
        }
      }
      if (o.exportOptimizerState) {
        const r = await proc.request({ op: 'train_state', session })
        optimizerState = { kind: o.optimizer.kind, step: (state?.step ?? 0) + run.step, buffers: r.buffers[0] as Float32Array }
      }
      finished = true
    } finally {
      // Only in the worker that trained: cleaning up must not start a fresh one after a crash.
      if (proc.running && this.#generation === proc.generation) {
        await proc.request({ op: 'train_end', session }).catch(() => {})
        // Keep what was trained, also when stopping early (abort, non-finite loss).
        if (!this.#dirty) await this.#pull().catch((err) => (finished ? Promise.reject(err) : undefined))
      }
    }
    return {
      steps: run.step,
      epochs: run.step / o.stepsPerEpoch,
      examples: run.examples,
      meanLoss: run.lossSum / run.step,
      finalLoss: run.finalLoss,
      durationMs: performance.now() - start,
      ...(optimizerState === undefined ? {} : { optimizerState }),
    }
  }

  /** One epoch from the worker's cache: sends the epoch's order once, then runs it in time-bounded chunks. */
  async #epochCached(size: number, data: CachedData, o: ResolvedTrainOptions, epoch: number, session: string, run: TrainRun): Promise<void> {
    const positions = epochOrder(size, { shuffle: o.shuffle, seed: o.seed, epoch })
    const end = o.dropLast ? size - (size % o.batchSize) : size
    const order = new Int32Array(end)
    for (let k = 0; k < end; k++) {
      const pos = positions === null ? k : positions[k]!
      order[k] = data.indices === null ? pos : data.indices[pos]!
    }
    let from = 0
    let first = true
    while (from < end && run.step < o.steps) {
      const r = await this.#rt.proc.request(
        {
          op: 'train_run',
          session,
          x: data.x,
          y: data.y,
          from,
          end,
          batchSize: o.batchSize,
          maxSteps: o.steps - run.step,
          budgetMs: this.#rt.chunkMs,
        },
        first ? [{ data: order }] : [],
      )
      first = false
      const losses = r.buffers[0] as Float64Array
      const sizes: number[] = []
      for (let i = 0; i < losses.length; i++) {
        const n = Math.min(o.batchSize, end - from)
        sizes.push(n)
        from += n
      }
      run.record(losses, sizes, r.header['nonFinite'], epoch)
    }
  }

  /** One epoch of a data set the worker cannot cache: its batches travel in the requests. */
  async #epochInline(dataset: Dataset, o: ResolvedTrainOptions, epoch: number, session: string, run: TrainRun): Promise<void> {
    const maxChunkValues = 1 << 20
    let xs: Float32Array[] = []
    let ys: Int32Array[] = []
    let values = 0
    const flush = async (): Promise<void> => {
      if (ys.length === 0) return
      const sizes = Int32Array.from(ys, (y) => y.length)
      const r = await this.#rt.proc.request({ op: 'train_run', session, inline: true, batchSize: o.batchSize, maxSteps: sizes.length }, [
        { data: concat(xs, Float32Array), shape: [values / this.#inSize, this.#inSize] },
        { data: concat(ys, Int32Array) },
        { data: sizes },
      ])
      xs = []
      ys = []
      values = 0
      run.record(r.buffers[0] as Float64Array, Array.from(sizes), r.header['nonFinite'], epoch)
    }
    for (const batch of dataset.batches({ batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed, epoch, dropLast: o.dropLast })) {
      // Batches queued for the next request count against the step budget.
      if (run.step + ys.length >= o.steps) break
      xs.push(batch.x)
      ys.push(batch.y)
      values += batch.x.length
      if (values >= maxChunkValues) await flush()
    }
    await flush()
  }

  async evaluate(dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.#check()
    checkDatasetFits(this.spec, dataset)
    const batchSize = resolveEvaluateBatchSize(options)
    await this.ensure()
    const data = await this.#rt.cache(dataset)
    let lossSum = 0
    let correct = 0
    let examples = 0
    const add = (h: Record<string, unknown>): void => {
      lossSum += Number(h['lossSum'])
      correct += Number(h['correct'])
      examples += Number(h['examples'])
    }
    if (data !== undefined) {
      const r = await this.#rt.proc.request(
        { op: 'evaluate', model: this.#id, x: data.x, y: data.y, batchSize },
        data.indices === null ? [] : [{ data: data.indices }],
      )
      add(r.header)
    } else {
      for (const batch of dataset.batches({ batchSize: Math.max(batchSize, 1024), shuffle: false })) {
        const r = await this.#rt.proc.request({ op: 'evaluate', model: this.#id, inline: true, batchSize }, [
          { data: batch.x, shape: [batch.size, this.#inSize] },
          { data: batch.y },
        ])
        add(r.header)
      }
    }
    return { loss: examples > 0 ? lossSum / examples : Number.NaN, accuracy: examples > 0 ? correct / examples : Number.NaN, examples }
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#rt.forget(this)
    if (this.#rt.proc.running && this.#generation === this.#rt.proc.generation) {
      this.#rt.proc.request({ op: 'drop_model', model: this.#id }).catch(() => {})
    }
  }

  #check(): void {
    if (this.#disposed) throw new Error('model is disposed')
  }
}

/** Counts of one `train` call, fed with the losses of each chunk the worker ran. */
class TrainRun {
  step = 0
  examples = 0
  lossSum = 0
  finalLoss = Number.NaN

  constructor(
    readonly o: ResolvedTrainOptions,
    readonly options: TrainOptions,
    readonly start: number,
  ) {}

  /**
   * Records the steps of one chunk, reporting progress for each.
   * @throws NonFiniteLossError when the worker stopped on a non-finite loss; TrainingAbortedError on abort
   */
  record(losses: Float64Array, sizes: readonly number[], nonFinite: unknown, epoch: number): void {
    const now = performance.now()
    for (const [i, loss] of losses.entries()) {
      this.step++
      this.examples += sizes[i]!
      this.lossSum += loss
      this.finalLoss = loss
      this.options.onProgress?.({
        step: this.step,
        totalSteps: this.o.steps,
        epoch: epoch - this.o.startEpoch,
        examples: this.examples,
        loss,
        elapsedMs: now - this.start,
      })
      if (this.options.signal?.aborted) {
        throw new TrainingAbortedError(`training aborted after ${this.step} of ${this.o.steps} steps`, { cause: this.options.signal.reason })
      }
    }
    if (typeof nonFinite === 'string') {
      const value = nonFinite === 'nan' ? Number.NaN : nonFinite === 'inf' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY
      throw new NonFiniteLossError(this.step + 1, value)
    }
    if (this.options.signal?.aborted) {
      throw new TrainingAbortedError(`training aborted after ${this.step} of ${this.o.steps} steps`, { cause: this.options.signal.reason })
    }
  }
}

function concat<T extends Float32Array | Int32Array>(parts: readonly T[], ctor: new (n: number) => T): T {
  const out = new ctor(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p as never, offset)
    offset += p.length
  }
  return out
}

