// Training a whole transformer in the PyTorch worker (python/weft_transformer_train.py): the weights travel up in
// bounded pieces as a span's do, then each step sends only its token ids and gets back the loss; the weights and
// Adam's moments stay in the worker until `weights()` reads them back in pieces.
import {
  checkTrainingBatch,
  checkTransformerWeights,
  type NamedTensor,
  type NamedTensors,
  parseTransformerConfig,
  type TransformerConfig,
  type TransformerTrainer,
  type TransformerTrainOptions,
  transformerTensorNames,
  transformerTensorShapes,
} from '@weft/runtime'
import { TorchWorkerCrashedError } from './errors.js'
import type { TorchProcess } from './torch-process.js'
import { pieceRanges, weightPieces } from './torch-transformer.js'

/** Training options with every default filled in, as the worker takes them. */
type ResolvedTransformerTrainOptions = Required<TransformerTrainOptions>

/**
 * Checks the options and fills in the defaults (weight decay 0.1, betas 0.9 and 0.95, clipping at norm 1).
 * @throws RangeError naming the option that is out of range
 */
function resolveOptions(options: TransformerTrainOptions): ResolvedTransformerTrainOptions {
  const o = { weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clipNorm: 1, ...options }
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) throw new RangeError(`learningRate must be positive, got ${o.learningRate}`)
  for (const key of ['weightDecay', 'clipNorm'] as const) {
    if (!(o[key] >= 0) || !Number.isFinite(o[key])) throw new RangeError(`${key} must be a finite number of 0 or more, got ${o[key]}`)
  }
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(o[key] >= 0 && o[key] < 1)) throw new RangeError(`${key} must be in [0, 1), got ${o[key]}`)
  }
  return { learningRate: o.learningRate, weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2, clipNorm: o.clipNorm }
}

/**
 * Starts a trainer in the worker: checks the config, weights and options, sends the config, then the tensors in
 * pieces, then asks the worker to check that every tensor is complete.
 * @param id the worker-side id of the trainer (unique within the runtime)
 * @param onDispose called once when the trainer is disposed
 * @returns the trainer; its weights live only in that worker process (a restart loses them)
 * @throws InvalidModelSpecError for a bad config or a missing, extra or misshapen tensor; RangeError for bad options;
 *   TorchWorkerCrashedError when the worker restarted during the upload
 */
export async function createTorchTransformerTrainer(
  proc: TorchProcess,
  id: string,
  config: TransformerConfig,
  weights: NamedTensors,
  options: TransformerTrainOptions,
  onDispose: (trainer: TransformerTrainer) => void,
): Promise<TransformerTrainer> {
  const c = parseTransformerConfig(config)
  checkTransformerWeights(c, { embed: true, blocks: [0, c.numLayers], head: true }, weights)
  const o = resolveOptions(options)
  const loaded = await proc.request({ op: 'trainer_load', trainer: id, config: c, options: o })
  const sameWorker = (generation: number): void => {
    if (generation !== loaded.generation) throw new TorchWorkerCrashedError('the PyTorch worker restarted while the trainer was loading')
  }
  try {
    for (const pieces of weightPieces(transformerTensorNames(c), weights)) {
      const r = await proc.request(
        { op: 'trainer_put', trainer: id, pieces: pieces.map((p) => ({ name: p.name, offset: p.offset })) },
        pieces.map((p) => ({ data: p.data })),
      )
      sameWorker(r.generation)
    }
    sameWorker((await proc.request({ op: 'trainer_ready', trainer: id })).generation)
  } catch (err) {
    if (proc.running && proc.generation === loaded.generation) proc.request({ op: 'trainer_drop', trainer: id }).catch(() => {})
    throw err
  }
  return new TorchTransformerTrainer(proc, id, loaded.generation, c, o, onDispose)
}

class TorchTransformerTrainer implements TransformerTrainer {
  readonly #proc: TorchProcess
  readonly #id: string
  /** Generation of the worker process that holds the weights. */
  readonly #generation: number
  readonly #options: ResolvedTransformerTrainOptions
  readonly #onDispose: (trainer: TransformerTrainer) => void
  #steps = 0
  #disposed = false

  constructor(
    proc: TorchProcess,
    id: string,
    generation: number,
    readonly config: TransformerConfig,
    options: ResolvedTransformerTrainOptions,
    onDispose: (trainer: TransformerTrainer) => void,
  ) {
    this.#proc = proc
    this.#id = id
    this.#generation = generation
    this.#options = options
    this.#onDispose = onDispose
  }

  get steps(): number {
    return this.#steps
  }

  /**
   * @throws RangeError for a batch that does not fit or a negative learning rate; TorchWorkerCrashedError when the
   *   worker that held the weights is gone
   */
  async step(tokens: Int32Array, batch: number, learningRate?: number): Promise<number> {
    this.#check()
    checkTrainingBatch(this.config, tokens, batch)
    const lr = learningRate ?? this.#options.learningRate
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new RangeError(`learningRate must be 0 or more, got ${lr}`)
    this.#checkWorker()
    const r = await this.#proc.request({ op: 'trainer_step', trainer: this.#id, batch, learningRate: lr }, [{ data: tokens }])
    this.#steps = Number(r.header['steps'])
    return Number(r.header['loss'])
  }

  /**
   * @throws RangeError for a batch that does not fit; TorchWorkerCrashedError when the worker is gone
   */
  async evaluate(tokens: Int32Array, batch: number): Promise<number> {
    this.#check()
    checkTrainingBatch(this.config, tokens, batch)
    this.#checkWorker()
    const r = await this.#proc.request({ op: 'trainer_eval', trainer: this.#id, batch }, [{ data: tokens }])
    return Number(r.header['loss'])
  }

  /** @throws TorchWorkerCrashedError when the worker is gone */
  async weights(): Promise<Map<string, NamedTensor>> {
    this.#check()
    this.#checkWorker()
    const shapes = transformerTensorShapes(this.config)
    const out = new Map<string, NamedTensor>()
    for (const [name, shape] of shapes) out.set(name, { shape: [...shape], data: new Float32Array(shape.reduce((a, b) => a * b, 1)) })
    for (const ranges of pieceRanges([...out].map(([name, t]) => [name, t.data.length] as const))) {
      const r = await this.#proc.request({ op: 'trainer_weights', trainer: this.#id, pieces: ranges })
      if (r.generation !== this.#generation) throw new TorchWorkerCrashedError('the PyTorch worker restarted while the weights were read')
      for (const [i, range] of ranges.entries()) out.get(range.name)!.data.set(r.buffers[i] as Float32Array, range.offset)
    }
    return out
  }

  /** @throws InvalidModelSpecError for weights that do not fit; TorchWorkerCrashedError when the worker is gone */
  async setWeights(weights: NamedTensors): Promise<void> {
    this.#check()
    checkTransformerWeights(this.config, { embed: true, blocks: [0, this.config.numLayers], head: true }, weights)
    this.#checkWorker()
    await this.#proc.request({ op: 'trainer_reset', trainer: this.#id })
    for (const pieces of weightPieces(transformerTensorNames(this.config), weights)) {
      const r = await this.#proc.request(
        { op: 'trainer_put', trainer: this.#id, pieces: pieces.map((p) => ({ name: p.name, offset: p.offset })) },
        pieces.map((p) => ({ data: p.data })),
      )
      if (r.generation !== this.#generation) throw new TorchWorkerCrashedError('the PyTorch worker restarted while the weights were sent')
    }
    await this.#proc.request({ op: 'trainer_ready', trainer: this.#id })
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#onDispose(this)
    if (this.#inWorker()) this.#proc.request({ op: 'trainer_drop', trainer: this.#id }).catch(() => {})
  }

  #check(): void {
    if (this.#disposed) throw new Error('the trainer is disposed')
  }

  #checkWorker(): void {
    if (!this.#inWorker()) throw new TorchWorkerCrashedError('the PyTorch worker that held this trainer is gone: start training again from saved weights')
  }

  #inWorker(): boolean {
    return this.#proc.running && this.#proc.generation === this.#generation
  }
}
