// The client's side of a round that every client implementation shares: its local training options and its update.
import type { OptimizerConfig, TrainOptions } from '@weft/runtime'
import type { JobSpec } from './job-spec.js'

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
