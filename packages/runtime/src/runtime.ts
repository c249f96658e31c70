// The Runtime contract: what every ML engine (tfjs, ONNX, native) offers to Weft, independent of the engine.
import type { Dataset } from './dataset.js'
import type { ModelSpec } from './model-spec.js'
import type { OptimizerConfig } from './optimizer.js'
import type { ParamInfo } from './registry.js'

/** What an engine can do. Optional abilities are flags so callers can pick an engine without trying. */
export interface RuntimeCapabilities {
  /** Architectures this engine can build. */
  readonly architectures: readonly string[]
  readonly training: boolean
  /** Engine can run a contiguous block range of a transformer with a per-session KV cache (`TransformerRuntime`, `BlockRangeModel` in transformer.ts). */
  readonly blockRange: boolean
  /** Engine can load ONNX graphs (`Runtime.loadOnnx`, not yet part of the contract). */
  readonly onnx: boolean
  /** Native code (not WebAssembly / JS). */
  readonly native: boolean
  /** Training is bit-reproducible for a fixed seed on this backend. */
  readonly deterministic: boolean
}

/** Progress reported during training, at most once per step. */
export interface TrainProgress {
  readonly step: number
  readonly totalSteps: number
  readonly epoch: number
  readonly examples: number
  /** Loss of the last batch (including the proximal term). */
  readonly loss: number
  readonly elapsedMs: number
}

/** Reported to `onEpochEnd` after each full pass over the data. */
export interface EpochEnd {
  /** Epochs completed in this `train` call (1-based). */
  readonly epoch: number
  readonly steps: number
  readonly examples: number
  /** Mean batch loss over this epoch. */
  readonly meanLoss: number
  readonly elapsedMs: number
}

/** FedProx proximal term `mu/2 · ||w − reference||²` added to the loss. */
export interface ProximalTerm {
  readonly mu: number
  /** Flat reference parameters, same layout as `Model.getParams()`. */
  readonly reference: Float32Array
}

/**
 * An optimizer's state between `train` calls, so that several calls train like one (DiLoCo's inner optimizer keeps its
 * moments across outer steps). `buffers` are flat in `paramInfo()` order: Adam/AdamW the first moments then the second
 * (2·n values), SGD with momentum the velocity (n), SGD without momentum none. `step` is the number of updates made
 * (Adam's bias corrections use it). Both engines define the moments as PyTorch does.
 */
export interface OptimizerState {
  readonly kind: 'sgd' | 'adam' | 'adamw'
  readonly step: number
  readonly buffers: Float32Array
}

/** How to train. Give exactly one of `epochs` and `steps`. */
export interface TrainOptions {
  readonly epochs?: number
  /** Number of optimizer steps (mini-batches); epochs are walked as needed. */
  readonly steps?: number
  readonly batchSize: number
  readonly optimizer: OptimizerConfig
  /** Seed of the batch order. Default 0. */
  readonly seed?: number
  /** Epoch number the first epoch is shuffled as (so successive calls see different orders). Default 0. */
  readonly startEpoch?: number
  readonly shuffle?: boolean
  readonly dropLast?: boolean
  readonly proximal?: ProximalTerm
  readonly onProgress?: (progress: TrainProgress) => void
  /** Awaited after each epoch, and after a final partial one (e.g. to evaluate); optimizer state carries over. */
  readonly onEpochEnd?: (end: EpochEnd) => void | Promise<void>
  /** Stops training between steps; `train` then rejects with `TrainingAbortedError`. */
  readonly signal?: AbortSignal
  /** Start the optimizer from this state (from an earlier call's `TrainResult.optimizerState`) instead of zero. */
  readonly optimizerState?: OptimizerState
  /** Return the optimizer's state after the last step in `TrainResult.optimizerState`. Default false. */
  readonly exportOptimizerState?: boolean
}

/** The outcome of `Model.train`. Optimizer state is fresh for every call unless `TrainOptions.optimizerState` is given. */
export interface TrainResult {
  readonly steps: number
  readonly epochs: number
  readonly examples: number
  /** Mean batch loss over the run (including the proximal term). */
  readonly meanLoss: number
  /** Loss of the last batch. */
  readonly finalLoss: number
  readonly durationMs: number
  /** The optimizer's state after the last step, when `exportOptimizerState` was asked. */
  readonly optimizerState?: OptimizerState
}

export interface EvaluateOptions {
  readonly batchSize?: number
}

export interface EvaluateResult {
  /** Mean cross-entropy per example. */
  readonly loss: number
  /** Fraction of examples classified correctly. */
  readonly accuracy: number
  readonly examples: number
}

/** The outcome of `Model.gradients`. */
export interface GradientsResult {
  /** Mean cross-entropy over the batch. */
  readonly loss: number
  /** d loss / d parameter, flat, same layout as `Model.getParams()`. */
  readonly gradients: Float32Array
}

/** A model instance living in an engine. */
export interface Model {
  readonly spec: ModelSpec
  paramInfo(): readonly ParamInfo[]
  /** Number of parameters (length of `getParams()`). */
  readonly paramCount: number
  /** A copy of all parameters, flat, in `paramInfo()` order. */
  getParams(): Float32Array
  /**
   * Replaces all parameters.
   * @throws ParamsLengthError (a RangeError) when the length is not `paramCount`.
   * @throws NonFiniteParamError naming the parameter holding NaN/Infinity.
   */
  setParams(flat: Float32Array): void
  train(dataset: Dataset, options: TrainOptions): Promise<TrainResult>
  evaluate(dataset: Dataset, options?: EvaluateOptions): Promise<EvaluateResult>
  /**
   * Logits for a batch of `n` examples, flat `n * numClasses`. Asynchronous: an engine may compute in another process.
   * @throws RangeError when `x` does not hold `n` examples.
   */
  predict(x: Float32Array, n: number): Promise<Float32Array>
  /**
   * Mean cross-entropy of one batch and its gradient with respect to every parameter, flat in `paramInfo()` order.
   * The parameters are not changed. Used to check engines against each other and by gradient-level algorithms.
   * @throws RangeError when `x` or `y` do not hold `n` examples.
   */
  gradients(x: Float32Array, y: Int32Array, n: number): Promise<GradientsResult>
  dispose(): void
}

export interface CreateModelOptions {
  /** Seed of the parameter initialization. Default 0. */
  readonly seed?: number
}

/** An ML engine. */
export interface Runtime {
  /** Engine name, e.g. `tfjs`. */
  readonly name: string
  /** Backend actually in use, e.g. `wasm` or `cpu`. */
  readonly backend: string
  readonly capabilities: RuntimeCapabilities
  /**
   * Builds a model with seeded initial parameters.
   * @throws InvalidModelSpecError / UnknownArchitectureError for a bad spec.
   */
  createModel(spec: ModelSpec, options?: CreateModelOptions): Promise<Model>
  /** Releases engine resources. */
  dispose(): Promise<void>
}
