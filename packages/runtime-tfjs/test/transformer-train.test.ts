// Training a transformer on tfjs: the training forward's loss equals the float64 oracle's cross-entropy, training
// learns, the trained weights serve as a span with the same predictions, and bad batches are refused.
import {
  initTransformerWeights,
  mulberry32,
  type NamedTensor,
  parseTransformerConfig,
} from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oracleLoss, randomIds, wideWeights } from '../../runtime/test/transformer-fixtures.js'

const CONFIG = parseTransformerConfig({ vocabSize: 40, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositions: 32, tieEmbeddings: true })
const WHOLE = { embed: true, blocks: [0, 2] as const, head: true }

let engine: TfjsRuntime
beforeAll(async () => {
  engine = await tfjsRuntime({ backend: 'wasm' })
})
afterAll(async () => engine?.dispose())

const sequences = (batch: number, length: number, seed: number): Int32Array => randomIds(batch * length, seed, CONFIG.vocabSize)

describe('tfjs transformer training', () => {
  it('computes the oracle’s loss; at the 0.02 init the loss is about ln(vocab)', async () => {
    const weights = wideWeights(CONFIG, 1)
    const tokens = sequences(3, 9, 2)
    const trainer = await engine.createTransformerTrainer(CONFIG, weights, { learningRate: 1e-3 })
    const loss = await trainer.evaluate(tokens, 3)
    expect(Math.abs(loss - (await oracleLoss(CONFIG, weights, tokens, 3)))).toBeLessThan(1e-4 * Math.max(1, loss))
    trainer.dispose()
    const fresh = await engine.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    expect(Math.abs((await fresh.evaluate(tokens, 3)) - Math.log(CONFIG.vocabSize))).toBeLessThan(0.05)
    fresh.dispose()
  })

  it('steps against the gradient: the first AdamW step moves each weight opposite to the finite-difference slope', async () => {
    // Adam's first step is -lr · g/|g| per weight (no decay, no clipping): its sign is the gradient's, through every
    // kernel on the path (embedding, norms, rotary, attention, SwiGLU, tied head).
    const weights = wideWeights(CONFIG, 4)
    const tokens = sequences(2, 7, 5)
    const trainer = await engine.createTransformerTrainer(CONFIG, weights, { learningRate: 1e-3, weightDecay: 0, clipNorm: 0 })
    await trainer.step(tokens, 2)
    const after = await trainer.weights()
    trainer.dispose()
    const rng = mulberry32(6)
    let checked = 0
    for (const name of ['model.embed_tokens.weight', 'model.norm.weight', ...['input_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'post_attention_layernorm', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n) => `model.layers.1.${n}.weight`)]) {
      const t = weights.get(name) as NamedTensor
      for (let k = 0; k < 3; k++) {
        const i = rng.nextUint32() % t.data.length
        const nudged = (delta: number) => new Map(weights).set(name, { shape: t.shape, data: t.data.map((v, j) => (j === i ? v + delta : v)) })
        const slope = ((await oracleLoss(CONFIG, nudged(1e-3), tokens, 2)) - (await oracleLoss(CONFIG, nudged(-1e-3), tokens, 2))) / 2e-3
        if (Math.abs(slope) < 1e-3) continue
        const moved = ((after.get(name) as NamedTensor).data[i] as number) - (t.data[i] as number)
        expect(Math.sign(moved), `${name}[${i}]: slope ${slope}, moved ${moved}`).toBe(-Math.sign(slope))
        expect(Math.abs(moved)).toBeCloseTo(1e-3, 4)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(20)
  })

  it('learns: a repeated pattern’s loss falls far below chance, and the weights serve as a span that predicts it', async () => {
    const pattern = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 32]
    const tokens = Int32Array.from({ length: 4 * 13 }, (_, i) => pattern[(i % 13) % pattern.length] as number)
    const trainer = await engine.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 3), { learningRate: 1e-2, weightDecay: 0 })
    const first = await trainer.step(tokens, 4)
    let last = first
    for (let i = 0; i < 80; i++) last = await trainer.step(tokens, 4)
    expect(trainer.steps).toBe(81)
    expect(first).toBeGreaterThan(3)
    expect(last).toBeLessThan(0.3)
    const weights = await trainer.weights()
    trainer.dispose()
    // The trained weights, loaded as a span for inference, continue the pattern greedily.
    const span = await engine.loadTransformer(CONFIG, WHOLE, weights)
    const logits = await span.openSession('s').forward({ tokens: Int32Array.from(pattern.slice(0, 6)) })
    const lastRow = logits.subarray(5 * CONFIG.vocabSize)
    expect(lastRow.indexOf(Math.max(...lastRow))).toBe(pattern[6])
    span.dispose()
  })

  it('refuses batches that do not fit, and ids outside the vocabulary', async () => {
    const trainer = await engine.createTransformerTrainer(CONFIG, initTransformerWeights(CONFIG, 1), { learningRate: 1e-3 })
    await expect(trainer.step(new Int32Array(10), 3)).rejects.toThrow(/10 ids do not split into 3 sequences/)
    await expect(trainer.step(new Int32Array(34), 1)).rejects.toThrow(/sequences of 34 ids; 2 to 33/)
    await expect(trainer.step(Int32Array.of(1, 40), 1)).rejects.toThrow(/token id 40 is outside the vocabulary of 40/)
    await expect(engine.createTransformerTrainer(CONFIG, new Map(), { learningRate: 1e-3 })).rejects.toThrow(/tensor model.embed_tokens.weight is missing/)
    expect(trainer.steps).toBe(0)
    trainer.dispose()
  })
})
