// The TensorFlow.js engine: models built from tfjs-core ops, Weft's optimizers, seeded init, leak-free steps.
import * as tf from '@tensorflow/tfjs-core'
import {
  initialParams,
  ARCHITECTURES,
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
  type Model,
  type ModelSpec,
  NonFiniteLossError,
  type ParamInfo,
  paramInfo,
  parseModelSpec,
  type Runtime,
  type RuntimeCapabilities,
  splitParams,
  type TrainOptions,
  type TrainResult,
  TrainingAbortedError,
  type BlockRangeModel,
  type NamedTensors,
  type TransformerConfig,
  type TransformerRuntime,
  type TransformerTrainer,
  type TransformerTrainingRuntime,
  type TransformerTrainOptions,
  type TransformerSpan,
  resolveEvaluateBatchSize,
  resolveTrainOptions,
  shapeSize,
  type OptimizerState,
} from '@weft/runtime'
import { crossEntropySum, forward } from './architectures.js'
import { type BackendName, startBackend, useBackend, type WasmOptions } from './backend.js'
import { explicitStep } from './explicit-step.js'
import { createOptimizer } from './optimizers.js'
import { createTfjsTransformerTrainer } from './transformer-train.js'
import { loadTfjsTransformer } from './transformer.js'

/** Options of `tfjsRuntime`. `wasmPaths` and `threads`: see WasmOptions (a browser must give wasmPaths). */
export interface TfjsRuntimeInit extends WasmOptions {
  /**
   * 'wasm' (default: WebAssembly, SIMD, single thread), 'webgpu' (a browser's GPU; wasm where there is none) or 'cpu'
   * (plain JS).
   */
  readonly backend?: BackendName
  /**
   * How training steps compute gradients. 'explicit' (default): a hand-written backward pass per architecture
   * (explicit-step.ts); 'tape': tf.variableGrads' gradient tape (the engine before issue 20, kept for comparison
   * and as the reference in tests).
   */
  readonly trainingStep?: TrainingStep
}

/** See `TfjsRuntimeInit.trainingStep`. */
export type TrainingStep = 'explicit' | 'tape'

/** Injected dependencies of `tfjsRuntime`. */
export interface TfjsRuntimeComponents {
  /** Where to say why wasm fell back to cpu. Default `console.warn`. */
  readonly log?: (message: string) => void
}

/** The tfjs engine, with what it adds to `Runtime`: it also runs transformer spans, in the calling thread. */
export interface TfjsRuntime extends Runtime, TransformerRuntime, TransformerTrainingRuntime {
  readonly backend: BackendName
  /** Threads the wasm kernels use (1 unless threads were asked for in a cross-origin isolated page). */
  readonly threads: number
  /** Set when the backend asked for is not the one used, with the reason. */
  readonly fallbackReason: string | undefined
}

const YIELD_EVERY_MS = 50

/**
 * Starts a tfjs engine on `init.backend` (default wasm), falling back from WebGPU to wasm and from wasm to cpu.
 * tfjs has one engine per thread: several runtimes in one thread share it and switch the active backend.
 * @throws TypeError for an unknown backend name.
 */
export async function tfjsRuntime(init: TfjsRuntimeInit = {}, components: TfjsRuntimeComponents = {}): Promise<TfjsRuntime> {
  const preferred = init.backend ?? 'wasm'
  if (preferred !== 'wasm' && preferred !== 'cpu' && preferred !== 'webgpu') {
    throw new TypeError(`init.backend must be 'wasm', 'webgpu' or 'cpu', got ${JSON.stringify(preferred)}`)
  }
  const trainingStep = init.trainingStep ?? 'explicit'
  if (trainingStep !== 'explicit' && trainingStep !== 'tape') {
    throw new TypeError(`init.trainingStep must be 'explicit' or 'tape', got ${JSON.stringify(trainingStep)}`)
  }
  const started = await startBackend(preferred, {
    ...(init.wasmPaths === undefined ? {} : { wasmPaths: init.wasmPaths }),
    ...(init.threads === undefined ? {} : { threads: init.threads }),
  })
  if (started.fallbackReason !== undefined) (components.log ?? console.warn)(`weft/runtime-tfjs: ${started.fallbackReason}; using ${started.backend}`)
  return new TfjsRuntimeImpl(started.backend, started.fallbackReason, trainingStep, started.threads ?? 1)
}

class TfjsRuntimeImpl implements TfjsRuntime {
  readonly name = 'tfjs'
  readonly capabilities: RuntimeCapabilities
  readonly #models = new Set<TfjsModel>()
  readonly #transformers = new Set<BlockRangeModel>()

  constructor(
    readonly backend: BackendName,
    readonly fallbackReason: string | undefined,
    readonly trainingStep: TrainingStep,
    readonly threads: number,
  ) {
    this.capabilities = Object.freeze({
      architectures: ARCHITECTURES,
      training: true,
      blockRange: true,
      onnx: false,
      native: false,
      deterministic: true,
    })
  }

  async createModel(spec: ModelSpec, options: CreateModelOptions = {}): Promise<Model> {
    const s = parseModelSpec(spec)
    const seed = options.seed ?? 0
    if (!Number.isInteger(seed)) throw new TypeError(`options.seed must be an integer, got ${seed}`)
    const model = new TfjsModel(s, this.backend, this.trainingStep === 'explicit', seed, (m) => this.#models.delete(m))
    this.#models.add(model)
    return model
  }

  async createTransformerTrainer(config: TransformerConfig, weights: NamedTensors, options: TransformerTrainOptions): Promise<TransformerTrainer> {
    return createTfjsTransformerTrainer(config, weights, options, this.backend)
  }

  async loadTransformer(config: TransformerConfig, span: TransformerSpan, weights: NamedTensors): Promise<BlockRangeModel> {
    const model = loadTfjsTransformer(config, span, weights, this.backend, (m) => this.#transformers.delete(m))
    this.#transformers.add(model)
    return model
  }

  async dispose(): Promise<void> {
    for (const m of [...this.#models]) m.dispose()
    for (const m of [...this.#transformers]) m.dispose()
  }
}

class TfjsModel implements Model {
  readonly paramCount: number
  readonly #info: readonly ParamInfo[]
  readonly #vars: tf.Variable[]
  readonly #inSize: number
  readonly #onDispose: (m: TfjsModel) => void
  /** Train with `explicitStep` instead of the gradient tape. */
  readonly #explicitStep: boolean
  #disposed = false

  constructor(
    readonly spec: ModelSpec,
    readonly backend: BackendName,
    explicitStep: boolean,
    seed: number,
    onDispose: (m: TfjsModel) => void,
  ) {
    this.#explicitStep = explicitStep
    this.#onDispose = onDispose
    this.#info = paramInfo(spec)
    this.paramCount = this.#info.reduce((n, p) => n + shapeSize(p.shape), 0)
    this.#inSize = featureSize(spec.inputShape)
    useBackend(backend)
    const init = initialParams(this.#info, seed)
    this.#vars = this.#info.map((p, i) => tf.tidy(() => tf.variable(tf.tensor(init[i]!, [...p.shape]), true)))
  }

  paramInfo(): readonly ParamInfo[] {
    return this.#info
  }

  getParams(): Float32Array {
    this.#check()
    useBackend(this.backend)
    const out = new Float32Array(this.paramCount)
    let offset = 0
    for (const v of this.#vars) {
      const d = v.dataSync() as Float32Array
      out.set(d, offset)
      offset += d.length
    }
    return out
  }

  setParams(flat: Float32Array): void {
    this.#check()
    checkParams(flat, this.#info)
    useBackend(this.backend)
    const parts = splitParams(flat, this.#info)
    for (const [i, v] of this.#vars.entries()) {
      tf.tidy(() => {
        v.assign(tf.tensor(parts[i]!.slice(), v.shape))
      })
    }
  }

  async predict(x: Float32Array, n: number): Promise<Float32Array> {
    this.#check()
    checkBatchInput(x, n, this.#inSize)
    useBackend(this.backend)
    return tf.tidy(() => forward(this.spec, this.#vars, tf.tensor2d(x, [n, this.#inSize])).dataSync() as Float32Array).slice()
  }

  async gradients(x: Float32Array, y: Int32Array, n: number): Promise<GradientsResult> {
    this.#check()
    checkBatchInput(x, n, this.#inSize, y)
    useBackend(this.backend)
    return tf.tidy(() => {
      const xt = tf.tensor2d(x, [n, this.#inSize])
      const yt = tf.tensor1d(y, 'int32')
      const { value, grads } = tf.variableGrads(
        () => tf.mul(crossEntropySum(forward(this.spec, this.#vars, xt), yt, this.spec.numClasses), tf.scalar(1 / n)),
        this.#vars,
      )
      const out = new Float32Array(this.paramCount)
      let offset = 0
      for (const v of this.#vars) {
        const g = grads[v.name]!.dataSync() as Float32Array
        out.set(g, offset)
        offset += g.length
      }
      return { loss: (value.dataSync() as Float32Array)[0]!, gradients: out }
    })
  }

  async train(dataset: Dataset, options: TrainOptions): Promise<TrainResult> {
    this.#check()
    checkDatasetFits(this.spec, dataset)
    const o = resolveTrainOptions(options, dataset.size, this.paramCount)
    if (options.signal?.aborted) throw new TrainingAbortedError('training aborted before the first step', { cause: options.signal.reason })
    useBackend(this.backend)
    const optimizer = createOptimizer(o.optimizer, this.#vars, o.optimizerState)
    let optimizerState: OptimizerState | undefined
    const refs =
      options.proximal !== undefined && o.mu > 0
        ? splitParams(options.proximal.reference, this.#info).map((r, i) => tf.tensor(r.slice(), this.#vars[i]!.shape))
        : []
    const halfMu = tf.scalar(o.mu / 2)
    const mu = tf.scalar(o.mu)
    const start = performance.now()
    let lastYield = start
    let step = 0
    let examples = 0
    let lossSum = 0
    let finalLoss = Number.NaN
    let epoch = o.startEpoch
    try {
      while (step < o.steps) {
        const epochStartLoss = lossSum
        const epochStartStep = step
        for (const batch of dataset.batches({
          batchSize: o.batchSize,
          shuffle: o.shuffle,
          seed: o.seed,
          epoch,
          dropLast: o.dropLast,
        })) {
          if (step >= o.steps) break
          useBackend(this.backend)
          const n = batch.size
          // The update is applied only when the loss is finite, so a diverging step leaves the weights as they were.
          const loss = tf.tidy(() => {
            const x = tf.tensor2d(batch.x, [n, this.#inSize])
            if (this.#explicitStep) {
              const step = explicitStep(this.spec, this.#vars, x, batch.y)
              let l = step.loss
              let grads = step.grads
              if (refs.length > 0) {
                // FedProx: + μ/2·‖w − w_ref‖², whose gradient is μ·(w − w_ref).
                const diffs = this.#vars.map((w, i) => tf.sub(w, refs[i]!))
                l += (o.mu / 2) * tf.addN(diffs.map((d) => tf.sum(tf.square(d)))).dataSync()[0]!
                grads = grads.map((g, i) => tf.add(g, tf.mul(mu, diffs[i]!)))
              }
              if (Number.isFinite(l)) optimizer.step(this.#vars, grads)
              return l
            }
            const y = tf.tensor1d(batch.y, 'int32')
            const invN = tf.scalar(1 / n)
            const { value, grads } = tf.variableGrads(() => {
              let loss: tf.Scalar = tf.mul(crossEntropySum(forward(this.spec, this.#vars, x), y, this.spec.numClasses), invN)
              if (refs.length > 0) {
                const prox = tf.addN(this.#vars.map((w, i) => tf.sum(tf.squaredDifference(w, refs[i]!))))
                loss = tf.add(loss, tf.mul(halfMu, prox))
              }
              return loss
            }, this.#vars)
            const l = (value.dataSync() as Float32Array)[0]!
            if (Number.isFinite(l)) {
              optimizer.step(
                this.#vars,
                this.#vars.map((v) => grads[v.name]!),
              )
            }
            return l
          })
          if (!Number.isFinite(loss)) throw new NonFiniteLossError(step + 1, loss)
          step++
          examples += n
          lossSum += loss
          finalLoss = loss
          const now = performance.now()
          options.onProgress?.({
            step,
            totalSteps: o.steps,
            epoch: epoch - o.startEpoch,
            examples,
            loss,
            elapsedMs: now - start,
          })
          if (now - lastYield > YIELD_EVERY_MS) {
            await new Promise((resolve) => setTimeout(resolve, 0))
            lastYield = performance.now()
          }
          if (options.signal?.aborted) {
            throw new TrainingAbortedError(`training aborted after ${step} of ${o.steps} steps`, { cause: options.signal.reason })
          }
        }
        if (step === epochStartStep) throw new InvalidTrainOptionsError(`data set ${dataset.name} yielded no batch in epoch ${epoch}`)
        epoch++
        if (options.onEpochEnd !== undefined && (step - epochStartStep === o.stepsPerEpoch || step === o.steps)) {
          await options.onEpochEnd({
            epoch: epoch - o.startEpoch,
            steps: step,
            examples,
            meanLoss: (lossSum - epochStartLoss) / Math.max(1, step - epochStartStep),
            elapsedMs: performance.now() - start,
          })
          useBackend(this.backend)
        }
      }
      if (o.exportOptimizerState) optimizerState = optimizer.state()
    } finally {
      optimizer.dispose()
      for (const r of refs) r.dispose()
      halfMu.dispose()
      mu.dispose()
    }
    return {
      steps: step,
      epochs: step / o.stepsPerEpoch,
      examples,
      meanLoss: lossSum / step,
      finalLoss,
      durationMs: performance.now() - start,
      ...(optimizerState === undefined ? {} : { optimizerState }),
    }
  }

  async evaluate(dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.#check()
    checkDatasetFits(this.spec, dataset)
    const batchSize = resolveEvaluateBatchSize(options)
    let lossSum = 0
    let correct = 0
    let examples = 0
    let lastYield = performance.now()
    for (const batch of dataset.batches({ batchSize, shuffle: false })) {
      useBackend(this.backend)
      const n = batch.size
      const [l, c] = tf.tidy(() => {
        const logits = forward(this.spec, this.#vars, tf.tensor2d(batch.x, [n, this.#inSize]))
        const y = tf.tensor1d(batch.y, 'int32')
        const ce = crossEntropySum(logits, y, this.spec.numClasses)
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'))
        return [ce.dataSync()[0]!, hits.dataSync()[0]!]
      })
      lossSum += l
      correct += c
      examples += n
      if (performance.now() - lastYield > YIELD_EVERY_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        lastYield = performance.now()
      }
    }
    return { loss: examples > 0 ? lossSum / examples : Number.NaN, accuracy: examples > 0 ? correct / examples : Number.NaN, examples }
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const v of this.#vars) v.dispose()
    this.#onDispose(this)
  }

  #check(): void {
    if (this.#disposed) throw new Error('model is disposed')
  }
}
