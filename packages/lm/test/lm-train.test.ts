// Language-model checkpoints (one safetensors file: weights, config.json, tokenizer.json) and the training loop
// (seeded windows, warm-up and cosine schedule, validation perplexity) on the tfjs engine.
import {
  decodeLmCheckpoint,
  encodeLmCheckpoint,
  type LmEvaluation,
  LmCheckpointError,
  learningRateAt,
  trainBpe,
  trainLanguageModel,
} from '@weft/lm'
import { decodeSafetensors, encodeSafetensors, initTransformerWeights, parseTransformerConfig } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { describe, expect, it } from 'vitest'

const TEXT = 'In the beginning God created the heaven and the earth. And the earth was without form, and void. '.repeat(40)
const tokenizer = trainBpe(TEXT, { vocabSize: 300 })
const CONFIG = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, maxPositions: 32, tieEmbeddings: true })

describe('LM checkpoint', () => {
  it('round-trips weights, config and tokenizer in one safetensors file that plain safetensors readers take', () => {
    const weights = initTransformerWeights(CONFIG, 1)
    const bytes = encodeLmCheckpoint({ config: CONFIG, weights, tokenizer, info: { 'weft.command': 'ignored: weft.* is reserved', steps: '10' } })
    const plain = decodeSafetensors(bytes)
    expect(plain.metadata).toMatchObject({ format: 'pt', 'weft.format': 'weft-lm/1' })
    expect(JSON.parse(plain.metadata['weft.config'] as string)).toMatchObject({ model_type: 'llama', vocab_size: tokenizer.vocabSize, tie_word_embeddings: true })
    const back = decodeLmCheckpoint(bytes)
    expect(back.config).toEqual(CONFIG)
    expect(back.info).toEqual({ steps: '10' })
    expect(back.tokenizer.encode('the earth')).toEqual(tokenizer.encode('the earth'))
    for (const [name, t] of weights) expect(back.weights.get(name)?.data).toEqual(t.data)
  })

  it('refuses a file that is not a Weft checkpoint, or whose parts disagree, naming what is wrong', () => {
    const weights = initTransformerWeights(CONFIG, 1)
    expect(() => decodeLmCheckpoint(new Uint8Array(4))).toThrow(/not a safetensors file/)
    expect(() => decodeLmCheckpoint(encodeSafetensors(weights))).toThrow(/metadata weft.format is undefined; weft-lm\/1 expected/)
    const good = decodeSafetensors(encodeLmCheckpoint({ config: CONFIG, weights, tokenizer, info: {} }))
    const without = new Map(weights)
    without.delete('model.norm.weight')
    expect(() => decodeLmCheckpoint(encodeSafetensors(without, good.metadata))).toThrow(LmCheckpointError)
    expect(() => decodeLmCheckpoint(encodeSafetensors(without, good.metadata))).toThrow(/tensor model.norm.weight is missing/)
    const small = { ...good.metadata, 'weft.config': JSON.stringify({ ...JSON.parse(good.metadata['weft.config'] as string), vocab_size: 100 }) }
    const smallWeights = initTransformerWeights({ ...CONFIG, vocabSize: 100 }, 1)
    expect(() => decodeLmCheckpoint(encodeSafetensors(smallWeights, small))).toThrow(/the tokenizer has 300 ids; the model embeds 100/)
  })
})

describe('LM training loop', () => {
  it('warms up linearly, then decays by a cosine to a tenth of the peak', () => {
    const init = { steps: 110, learningRate: 1, warmupSteps: 10 }
    expect(learningRateAt(1, init)).toBeCloseTo(0.1)
    expect(learningRateAt(10, init)).toBeCloseTo(1)
    expect(learningRateAt(60, init)).toBeCloseTo(0.55)
    expect(learningRateAt(110, init)).toBeCloseTo(0.1)
  })

  it('lowers validation perplexity on real text, evaluating on schedule and at the last step', async () => {
    const engine = await tfjsRuntime({ backend: 'wasm' })
    const ids = Int32Array.from(tokenizer.encode(TEXT))
    const cut = Math.floor(ids.length * 0.9)
    const trainer = await engine.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 2), { learningRate: 1e-2 })
    const seen: LmEvaluation[] = []
    const evaluations = await trainLanguageModel(trainer, ids.subarray(0, cut), ids.subarray(cut), { context: 16, batch: 8, steps: 60, learningRate: 1e-2, warmupSteps: 5, evalEvery: 25, evalWindows: 8, seed: 1 }, { onEvaluation: (e) => void seen.push(e) })
    expect(evaluations.map((e) => e.step)).toEqual([25, 50, 60])
    expect(seen).toEqual(evaluations)
    expect(evaluations[0]?.validationPerplexity).toBeLessThan(tokenizer.vocabSize)
    // Repetitive text: 60 steps take it far down.
    expect(evaluations.at(-1)?.validationPerplexity).toBeLessThan(3)
    expect(evaluations.at(-1)?.tokens).toBe(60 * 8 * 16)
    trainer.dispose()
    await engine.dispose()
  })
})
