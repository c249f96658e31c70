// Training a transformer on the PyTorch worker against the tfjs trainer and the float64 oracle: the same loss, the
// same steps (AdamW, decay, clipping, a learning-rate schedule), learning a pattern whose trained weights then serve
// as a span, and bad batches and bad requests refused with the worker still up.
import {
  initTransformerWeights,
  parseTransformerConfig,
  type TransformerConfig,
  transformerTensorNames,
} from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { type TorchRuntime, torchRuntime } from '@weft/runtime-torch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oracleLoss, randomIds, relativeError, wideWeights } from '../../runtime/test/transformer-fixtures.js'
import { testWorker, torchAvailable, torchTestDevice } from './available.js'

const CONFIG = parseTransformerConfig({ vocabSize: 40, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositions: 32, tieEmbeddings: true })
/** Untied head, one KV head per query head. */
const UNTIED = parseTransformerConfig({ ...CONFIG, numKvHeads: 4, tieEmbeddings: false })
const whole = (c: TransformerConfig) => ({ embed: true, blocks: [0, c.numLayers] as const, head: true })

const sequences = (batch: number, length: number, seed: number, vocab = CONFIG.vocabSize): Int32Array => randomIds(batch * length, seed, vocab)

describe.skipIf(!torchAvailable)(`torch transformer training (${torchTestDevice})`, () => {
  let torch: TorchRuntime
  let tfjs: TfjsRuntime

  beforeAll(async () => {
    torch = await torchRuntime({ device: torchTestDevice, threads: 1 })
    tfjs = await tfjsRuntime({ backend: 'wasm' })
  })

  afterAll(async () => {
    await torch?.dispose()
    await tfjs?.dispose()
  })

  it('evaluates the tfjs trainer’s and the oracle’s loss; hands back its weights unchanged before a step', async () => {
    for (const c of [CONFIG, UNTIED]) {
      const weights = wideWeights(c, 1)
      const tokens = sequences(3, 9, 2)
      const trainers = [await torch.createTransformerTrainer(c, weights, { learningRate: 1e-3 }), await tfjs.createTransformerTrainer(c, weights, { learningRate: 1e-3 })]
      const [loss, tfjsLoss] = await Promise.all(trainers.map((t) => t.evaluate(tokens, 3)))
      expect(Math.abs(loss! - (await oracleLoss(c, weights, tokens, 3)))).toBeLessThan(1e-4 * Math.max(1, loss!))
      expect(Math.abs(loss! - tfjsLoss!)).toBeLessThan(1e-4 * Math.max(1, loss!))
      const back = await trainers[0]!.weights()
      expect([...back.keys()]).toEqual(transformerTensorNames(c))
      for (const [name, t] of weights) expect(back.get(name), name).toEqual(t)
      expect(trainers[0]!.steps).toBe(0)
      for (const t of trainers) t.dispose()
    }
    const fresh = await torch.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    expect(Math.abs((await fresh.evaluate(sequences(3, 9, 2), 3)) - Math.log(CONFIG.vocabSize))).toBeLessThan(0.05)
    fresh.dispose()
  })

  it('takes the same steps as tfjs: 5 AdamW steps with decay, clipping and a learning-rate schedule', async () => {
    // Float32 sums run in other orders on the two engines. Measured: losses agree within 5e-7 relative; weights
    // within 1e-5 of each tensor's largest magnitude, except where a gradient is near 0 and Adam's g/√v (about ±1
    // whatever |g|) amplifies the difference: 3.6e-4 at worst (layer 0's up_proj, tied config). Hence 2e-6 and 1e-3.
    const schedule = [2e-3, 4e-3, 3e-3, 2e-3, 1e-3]
    for (const c of [CONFIG, UNTIED]) {
      const weights = wideWeights(c, 4)
      const options = { learningRate: 1e-3, weightDecay: 0.1, clipNorm: 1 }
      const trainers = [await torch.createTransformerTrainer(c, weights, options), await tfjs.createTransformerTrainer(c, weights, options)]
      for (const [i, lr] of schedule.entries()) {
        const tokens = sequences(4, 1 + 4 * (i + 1), 10 + i)
        const [a, b] = await Promise.all(trainers.map((t) => t.step(tokens, 4, lr)))
        expect(Math.abs(a! - b!) / b!, `step ${i}: torch ${a}, tfjs ${b}`).toBeLessThan(2e-6)
      }
      expect(trainers.map((t) => t.steps)).toEqual([5, 5])
      const [got, want] = await Promise.all(trainers.map((t) => t.weights()))
      for (const [name, t] of want!) {
        const moved = relativeError(t.data, weights.get(name)!.data)
        const err = relativeError(got!.get(name)!.data, t.data)
        // The steps moved every tensor far more than the engines disagree.
        expect(moved, name).toBeGreaterThan(1e-3)
        expect(err, name).toBeLessThan(1e-3)
      }
      for (const t of trainers) t.dispose()
    }
  })

  it('setWeights replaces the weights and keeps the moments, on both engines alike', async () => {
    const start = wideWeights(CONFIG, 5)
    const options = { learningRate: 2e-3, weightDecay: 0.1, clipNorm: 1 }
    const trainers = [await torch.createTransformerTrainer(CONFIG, start, options), await tfjs.createTransformerTrainer(CONFIG, start, options)]
    for (let i = 0; i < 3; i++) await Promise.all(trainers.map((t) => t.step(sequences(4, 9, 20 + i), 4)))
    // Back to the starting weights: they read back exactly, and the step count stays.
    await Promise.all(trainers.map((t) => t.setWeights(start)))
    for (const t of trainers) {
      const back = await t.weights()
      for (const [name, w] of start) expect(relativeError(back.get(name)!.data, w.data), name).toBeLessThan(1e-7)
      expect(t.steps).toBe(3)
    }
    // The next step uses the kept moments: it differs from a fresh trainer's first step from the same weights, and
    // the two engines still agree.
    const tokens = sequences(4, 9, 30)
    await Promise.all(trainers.map((t) => t.step(tokens, 4)))
    const fresh = await tfjs.createTransformerTrainer(CONFIG, start, options)
    await fresh.step(tokens, 4)
    const [kept, tfjsKept, first] = await Promise.all([trainers[0]!.weights(), trainers[1]!.weights(), fresh.weights()])
    const name = 'model.layers.0.mlp.up_proj.weight'
    expect(relativeError(kept!.get(name)!.data, first!.get(name)!.data)).toBeGreaterThan(1e-3)
    expect(relativeError(kept!.get(name)!.data, tfjsKept!.get(name)!.data)).toBeLessThan(1e-3)
    // Weights that do not fit are refused, and the trainer keeps what it had.
    const bad = new Map(start)
    bad.delete(name)
    for (const t of trainers) await expect(t.setWeights(bad)).rejects.toThrow(/up_proj/)
    for (const t of [...trainers, fresh]) t.dispose()
  })

  it('learns: a repeated pattern’s loss falls far below chance, and the weights serve as a torch span that predicts it', async () => {
    const pattern = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 32]
    const tokens = Int32Array.from({ length: 4 * 13 }, (_, i) => pattern[(i % 13) % pattern.length] as number)
    const trainer = await torch.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 3), { learningRate: 1e-2, weightDecay: 0 })
    const first = await trainer.step(tokens, 4)
    let last = first
    for (let i = 0; i < 80; i++) last = await trainer.step(tokens, 4)
    expect(trainer.steps).toBe(81)
    expect(first).toBeGreaterThan(3)
    expect(last).toBeLessThan(0.3)
    expect(Math.abs((await trainer.evaluate(tokens, 4)) - last)).toBeLessThan(last)
    const weights = await trainer.weights()
    trainer.dispose()
    const span = await torch.loadTransformer(CONFIG, whole(CONFIG), weights)
    const logits = await span.openSession('s').forward({ tokens: Int32Array.from(pattern.slice(0, 6)) })
    const lastRow = logits.subarray(5 * CONFIG.vocabSize)
    expect(lastRow.indexOf(Math.max(...lastRow))).toBe(pattern[6])
    span.dispose()
  })

  it('refuses batches that do not fit, ids outside the vocabulary and bad options, with the tfjs trainer’s messages', async () => {
    const trainer = await torch.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    await expect(trainer.step(new Int32Array(10), 3)).rejects.toThrow(/10 ids do not split into 3 sequences/)
    await expect(trainer.step(new Int32Array(34), 1)).rejects.toThrow(/sequences of 34 ids; 2 to 33/)
    await expect(trainer.step(Int32Array.of(1, 40), 1)).rejects.toThrow(/token id 40 is outside the vocabulary of 40/)
    await expect(trainer.evaluate(Int32Array.of(1, -1), 1)).rejects.toThrow(/token id -1 is outside the vocabulary of 40/)
    await expect(trainer.step(Int32Array.of(1, 2), 0)).rejects.toThrow(RangeError)
    await expect(trainer.step(Int32Array.of(1, 2), 1, -1)).rejects.toThrow(/learningRate must be 0 or more/)
    await expect(torch.createTransformerTrainer(CONFIG, new Map(), { learningRate: 1e-3 })).rejects.toThrow(/tensor model.embed_tokens.weight is missing/)
    await expect(torch.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 0 })).rejects.toThrow(RangeError)
    await expect(torch.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3, beta2: 1 })).rejects.toThrow(/beta2/)
    expect(trainer.steps).toBe(0)
    // Nothing was lost: the trainer still steps.
    expect(await trainer.step(sequences(2, 5, 3), 2)).toBeGreaterThan(0)
    expect(trainer.steps).toBe(1)
    trainer.dispose()
    await expect(trainer.step(sequences(2, 5, 3), 2)).rejects.toThrow(/disposed/)
    expect(torch.restarts).toBe(0)
  })
})

describe.skipIf(!torchAvailable)('torch transformer trainer life cycle', () => {
  it('a trainer lost with its worker fails with TorchWorkerCrashedError; disposing the runtime disposes its trainers', async () => {
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
    const doomed = await rt.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    const tokens = sequences(2, 5, 1)
    await doomed.step(tokens, 2)
    process.kill(rt.info.pid, 'SIGKILL')
    await expect(doomed.step(tokens, 2)).rejects.toMatchObject({ name: 'TorchWorkerCrashedError' })
    await expect(doomed.weights()).rejects.toMatchObject({ name: 'TorchWorkerCrashedError' })
    expect(doomed.steps).toBe(1)
    const again = await rt.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    expect(await again.step(tokens, 2)).toBeGreaterThan(0)
    expect(rt.restarts).toBe(1)
    await rt.dispose()
    await expect(again.evaluate(tokens, 2)).rejects.toThrow(/disposed/)
  })
})

describe.skipIf(!torchAvailable)('torch transformer trainer under hostile requests', () => {
  const worker = testWorker()

  it('answers each bad request with an error and stays up', async () => {
    const { proc } = worker
    const options = { learningRate: 1e-3, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clipNorm: 1 }
    const load = (trainer: string, config: unknown, o: unknown = options) => proc.request({ op: 'trainer_load', trainer, config, options: o })
    await expect(load('c1', { ...CONFIG, vocabSize: 2 ** 40 })).rejects.toThrow(/vocabSize must be a positive integer/)
    await expect(load('c2', CONFIG, { ...options, beta1: 1 })).rejects.toThrow(/beta1/)
    await expect(load('c3', CONFIG, { ...options, learningRate: 'NaN' })).rejects.toThrow(/learningRate/)
    await expect(load('c4', CONFIG, null)).rejects.toThrow(/options must be an object/)
    await load('t1', CONFIG)
    await expect(load('t1', CONFIG)).rejects.toThrow(/new id/)
    const step = (batch: unknown, data: Int32Array | Float32Array, learningRate?: unknown) =>
      proc.request({ op: 'trainer_step', trainer: 't1', batch, ...(learningRate === undefined ? {} : { learningRate }) }, [{ data }])
    await expect(step(1, Int32Array.of(1, 2))).rejects.toThrow(/still loading/)
    const put = (pieces: unknown, buffers: Float32Array[]) => proc.request({ op: 'trainer_put', trainer: 't1', pieces }, buffers.map((data) => ({ data })))
    await expect(put([{ name: 'lm_head.weight', offset: 0 }], [new Float32Array(4)])).rejects.toThrow(/not part of this model/)
    await expect(put([{ name: 'model.norm.weight', offset: 0 }], [new Float32Array(33)])).rejects.toThrow(/runs past/)
    await expect(proc.request({ op: 'trainer_ready', trainer: 't1' })).rejects.toThrow(/holds 0 of its/)
    for (const [name, t] of initTransformerWeights(CONFIG, 2)) await put([{ name, offset: 0 }], [t.data])
    await proc.request({ op: 'trainer_ready', trainer: 't1' })
    // A caller that skips the Node side's checks.
    await expect(step(3, new Int32Array(10))).rejects.toThrow(/10 ids do not split into 3 sequences/)
    await expect(step(1, new Int32Array(34))).rejects.toThrow(/sequences of 34 ids/)
    await expect(step(1, Int32Array.of(1, 40))).rejects.toThrow(/token ids must be in \[0, 40\)/)
    await expect(step(true, Int32Array.of(1, 2))).rejects.toThrow(/batch must be a positive integer/)
    await expect(step(1, Float32Array.of(1, 2))).rejects.toThrow(/int32 buffer/)
    await expect(step(1, Int32Array.of(1, 2), -1)).rejects.toThrow(/learningRate/)
    await expect(step(1, Int32Array.of(1, 2), 'Infinity')).rejects.toThrow(/learningRate/)
    await expect(proc.request({ op: 'trainer_eval', trainer: 't1', batch: 1 })).rejects.toThrow(/one int32 buffer/)
    const read = (pieces: unknown) => proc.request({ op: 'trainer_weights', trainer: 't1', pieces })
    await expect(read([{ name: 'model.norm.weight', offset: 30, count: 3 }])).rejects.toThrow(/not within its 32/)
    await expect(read([{ name: 'model.norm.weight', offset: 0, count: 0 }])).rejects.toThrow(/not within/)
    await expect(read([{ name: 'nope', offset: 0, count: 1 }])).rejects.toThrow(/not part of this model/)
    await expect(read([])).rejects.toThrow(/pieces must list/)
    await expect(read(Array.from({ length: 2 }, () => ({ name: 'model.embed_tokens.weight', offset: 0, count: 1280 }))).then((r) => r.buffers.length)).resolves.toBe(2)
    const stepped = await step(2, sequences(2, 5, 1))
    expect(stepped.header['steps']).toBe(1)
    await proc.request({ op: 'trainer_drop', trainer: 't1' })
    await expect(step(1, Int32Array.of(1, 2))).rejects.toThrow(/no trainer t1/)
    expect(proc.restarts).toBe(0)
  })
})
