// Training a language model on a token stream: seeded random windows in batches, a linear warm-up then cosine decay
// of the learning rate, validation perplexity on fixed windows at each evaluation point. The engine is injected (a
// `TransformerTrainer`); so are what happens at each evaluation (samples, checkpoints) and the clock.
import { mulberry32, type TransformerTrainer } from '@weft/runtime'

/** How to train. */
export interface LmTrainInit {
  /** Positions each window predicts (its length is this + 1). */
  readonly context: number
  /** Windows per step. */
  readonly batch: number
  /** Optimizer steps in all. */
  readonly steps: number
  /** Peak learning rate, reached after `warmupSteps`, decaying to a tenth of it by the last step. */
  readonly learningRate: number
  readonly warmupSteps?: number
  /** Steps between evaluations (the last step is always evaluated). */
  readonly evalEvery: number
  /** Validation windows evaluated each time (at most; spread evenly over the validation stream). */
  readonly evalWindows?: number
  /** Seed of the window order. */
  readonly seed?: number
  /** Stop (after the step in flight, with a last evaluation) when this is aborted. */
  readonly signal?: AbortSignal
}

/** One evaluation point. */
export interface LmEvaluation {
  readonly step: number
  /** Tokens trained on so far. */
  readonly tokens: number
  /** Mean training loss over the steps since the last evaluation. */
  readonly trainLoss: number
  readonly validationLoss: number
  /** exp(validation loss). */
  readonly validationPerplexity: number
  readonly learningRate: number
  readonly seconds: number
}

/** What the loop reports. */
export interface LmTrainCallbacks {
  onStep?(step: number, loss: number, learningRate: number): void
  onEvaluation?(e: LmEvaluation): void | Promise<void>
}

/** The learning rate of `step` (1-based): linear warm-up, then cosine decay to a tenth of the peak. */
export function learningRateAt(step: number, init: Pick<LmTrainInit, 'steps' | 'learningRate' | 'warmupSteps'>): number {
  const warmup = Math.min(init.warmupSteps ?? 0, init.steps)
  if (step <= warmup) return (init.learningRate * step) / Math.max(1, warmup)
  const progress = (step - warmup) / Math.max(1, init.steps - warmup)
  return init.learningRate * (0.1 + 0.45 * (1 + Math.cos(Math.PI * Math.min(1, progress))))
}

/**
 * At most `maxCount` windows of `window` ids spread evenly over `stream`, laid end to end: fixed, so every evaluation
 * measures the same text.
 */
export function evenWindows(stream: Int32Array, window: number, maxCount: number): { readonly tokens: Int32Array; readonly count: number } {
  const count = Math.max(1, Math.min(maxCount, Math.floor(stream.length / window)))
  const stride = Math.floor((stream.length - window) / Math.max(1, count - 1))
  const tokens = new Int32Array(count * window)
  for (let w = 0; w < count; w++) tokens.set(stream.subarray(w * stride, w * stride + window), w * window)
  return { tokens, count }
}

/** Fills `out` with `out.length / window` windows of `window` ids from random places of `stream`. */
export function randomWindows(rng: { nextUint32(): number }, stream: Int32Array, window: number, out: Int32Array): void {
  for (let at = 0; at < out.length; at += window) {
    const from = rng.nextUint32() % (stream.length - window + 1)
    out.set(stream.subarray(from, from + window), at)
  }
}

/** The mean loss of `windows` (as `evenWindows` lays them out), evaluated `batch` windows at a time. */
export async function meanWindowLoss(trainer: TransformerTrainer, windows: { readonly tokens: Int32Array; readonly count: number }, window: number, batch: number): Promise<number> {
  let sum = 0
  for (let at = 0; at < windows.count; at += batch) {
    const n = Math.min(batch, windows.count - at)
    sum += n * (await trainer.evaluate(windows.tokens.subarray(at * window, (at + n) * window), n))
  }
  return sum / windows.count
}

/**
 * Trains on `train` and evaluates on `validation` (token streams).
 * @returns every evaluation
 * @throws RangeError when a stream is shorter than one window
 */
export async function trainLanguageModel(trainer: TransformerTrainer, train: Int32Array, validation: Int32Array, init: LmTrainInit, callbacks: LmTrainCallbacks = {}): Promise<LmEvaluation[]> {
  const window = init.context + 1
  if (train.length < window) throw new RangeError(`the training stream has ${train.length} tokens; one window is ${window}`)
  if (validation.length < window) throw new RangeError(`the validation stream has ${validation.length} tokens; one window is ${window}`)
  const rng = mulberry32(init.seed ?? 0)
  const windows = evenWindows(validation, window, init.evalWindows ?? 64)
  const evaluate = (): Promise<number> => meanWindowLoss(trainer, windows, window, init.batch)
  const evaluations: LmEvaluation[] = []
  const t0 = performance.now()
  const batch = new Int32Array(init.batch * window)
  let lossSum = 0
  let lossCount = 0
  for (let step = 1; step <= init.steps; step++) {
    randomWindows(rng, train, window, batch)
    const lr = learningRateAt(step, init)
    const loss = await trainer.step(batch, init.batch, lr)
    lossSum += loss
    lossCount++
    callbacks.onStep?.(step, loss, lr)
    const stopping = init.signal?.aborted === true
    if (step % init.evalEvery === 0 || step === init.steps || stopping) {
      const validationLoss = await evaluate()
      const e: LmEvaluation = {
        step,
        tokens: step * init.batch * init.context,
        trainLoss: lossSum / lossCount,
        validationLoss,
        validationPerplexity: Math.exp(validationLoss),
        learningRate: lr,
        seconds: (performance.now() - t0) / 1000,
      }
      evaluations.push(e)
      lossSum = 0
      lossCount = 0
      await callbacks.onEvaluation?.(e)
    }
    if (stopping) break
  }
  return evaluations
}
