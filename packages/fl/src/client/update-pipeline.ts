// The client's side of a round that every client implementation shares: its local training options, its update
// (clipped, noised and compressed as the job says), and the coordinator's decoding of it.
import { clipToNorm, localDpUpdate } from '@weft/dp'
import type { TensorDType, TensorInfo, TensorSet } from '@weft/protocol'
import { type OptimizerConfig, paramInfo, shapeSize, type TrainOptions } from '@weft/runtime'
import {
  type CompressionConfig,
  createUpdateEncoder,
  decodeUpdate,
  encodedUpdateBytes,
  INDICES_TENSOR,
  type RandomSource,
  SCALES_TENSOR,
  VALUES_TENSOR,
} from '../compression.js'
import { DELTA_TENSOR } from '../model-set.js'
import type { JobSpec } from '../job-spec.js'
import type { ClientTrainHints } from '../contracts/strategy.js'

/** Training options without callbacks (what crosses to a worker thread). */
export type LocalTrainOptions = Omit<TrainOptions, 'onProgress' | 'onEpochEnd' | 'signal'>

/**
 * The options of a client's local training in one round.
 * @param spec - the job
 * @param seed - the round's client seed (`clientSeed`)
 * @param proximalMu - FedProx μ from the strategy's hints (0 or absent: none)
 * @param global - the global model the client starts from (the proximal reference)
 */
export function localTrainOptions(spec: JobSpec, seed: number, proximalMu: number | undefined, global: Float32Array): LocalTrainOptions {
  const { train } = spec
  return {
    ...(train.steps !== undefined ? { steps: train.steps } : { epochs: train.epochs }),
    batchSize: train.batchSize,
    optimizer: train.optimizer as OptimizerConfig,
    seed,
    ...(proximalMu !== undefined && proximalMu > 0 ? { proximal: { mu: proximalMu, reference: global } } : {}),
  }
}

/**
 * Turns trained weights into the update a client sends, in place: `trained[i] -= global[i]`.
 * @returns `trained`, now the delta
 */
export function toDeltaInPlace(trained: Float32Array, global: Float32Array): Float32Array {
  if (trained.length !== global.length) throw new RangeError(`trained has ${trained.length} values; the global model has ${global.length}`)
  for (let i = 0; i < trained.length; i++) trained[i] = (trained[i] as number) - (global[i] as number)
  return trained
}

/** The sizes of the model's parameter tensors in order: compression's per-tensor layout. */
export function parameterLayout(spec: JobSpec): number[] {
  return paramInfo(spec.model).map((p) => shapeSize(p.shape))
}

/** An update ready to send: the tensor set on the wire and what its header says about clipping. */
export interface PreparedUpdate {
  readonly set: TensorSet
  /** Whether the delta was within the DP clip norm before clipping (absent when the client did not clip). */
  readonly withinClip?: boolean
}

/**
 * A client's update path for one job, in the order the privacy argument needs: clip (and, in local DP mode, add
 * noise) to the coordinator's hints, then compress. It keeps compression's error-feedback residual across rounds.
 */
export interface ClientUpdatePipeline {
  /** Transforms `delta` in place and encodes it. */
  prepare(delta: Float32Array, hints: ClientTrainHints): PreparedUpdate
}

export function createClientUpdatePipeline(spec: JobSpec, random?: RandomSource): ClientUpdatePipeline {
  const encoder = createUpdateEncoder(spec.compression, parameterLayout(spec), random)
  return {
    prepare(delta, hints) {
      let withinClip: boolean | undefined
      const dp = hints.dp
      if (dp !== undefined && dp.clipNorm > 0) {
        const result =
          dp.noiseStd > 0 ? localDpUpdate(delta, { clipNorm: dp.clipNorm, noiseMultiplier: dp.noiseStd / dp.clipNorm }) : clipToNorm(delta, dp.clipNorm)
        withinClip = !result.clipped
      }
      return { set: encoder.encode(delta), ...(withinClip === undefined ? {} : { withinClip }) }
    },
  }
}

/**
 * The coordinator's side: the update's delta from what the client sent, for the job's compression.
 * @throws InvalidUpdateError when the set does not fit the job's compression or the model
 */
export function decodeClientUpdate(spec: JobSpec, set: TensorSet): Float32Array {
  return decodeUpdate(set, spec.compression, parameterLayout(spec))
}

/** The tensors (name and dtype, in order) an update carries under each compression. */
function updateTensors(config: CompressionConfig): Array<{ name: string; dtype: TensorDType }> {
  switch (config.kind) {
    case 'none':
      return [{ name: DELTA_TENSOR, dtype: 'float32' }]
    case 'float16':
      return [{ name: DELTA_TENSOR, dtype: 'float16' }]
    case 'int8':
      return [
        { name: DELTA_TENSOR, dtype: 'int8' },
        { name: SCALES_TENSOR, dtype: 'float32' },
      ]
    case 'topk':
      return [
        { name: INDICES_TENSOR, dtype: 'uint8' },
        { name: VALUES_TENSOR, dtype: config.values },
      ]
  }
}

/** The update's length as its descriptors announce it: a dense vector's own length, else the model's. */
export function announcedUpdateLength(spec: JobSpec, infos: readonly TensorInfo[]): number {
  const first = infos[0]
  return first?.name === DELTA_TENSOR ? (first.shape[0] ?? 0) : parameterLayout(spec).reduce((a, b) => a + b, 0)
}

/**
 * Judges an update by its tensor descriptors alone, before any data moves: the names and dtypes the job's
 * compression produces, and no more bytes than it can.
 * @returns why the update does not fit the job, or undefined when it may
 */
export function updateShapeProblem(spec: JobSpec, infos: readonly TensorInfo[]): string | undefined {
  const expected = updateTensors(spec.compression)
  const fits = infos.length === expected.length && infos.every((t, i) => t.name === expected[i]?.name && t.dtype === expected[i]?.dtype && t.shape.length === 1)
  if (!fits) {
    return `this job's updates (compression ${spec.compression.kind}) are ${expected.map((t) => `${t.dtype} vector "${t.name}"`).join(' + ')}`
  }
  const layout = parameterLayout(spec)
  const n = layout.reduce((a, b) => a + b, 0)
  // A dense vector of the wrong length is left to the coordinator's admission, which refuses it by name.
  const max = encodedUpdateBytes(spec.compression, Math.max(n, infos[0]?.shape[0] ?? 0), layout.length)
  const bytes = infos.reduce((sum, t) => sum + t.byteLength, 0)
  return bytes > max ? `an update of ${bytes} bytes; this job's updates take at most ${max}` : undefined
}
