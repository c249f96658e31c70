// The tfjs transformer span against the plain-TypeScript reference: composition of spans, KV cache, truncate, GQA,
// tied embeddings, input checks and tensor leaks.
import * as tf from '@tensorflow/tfjs-core'
import {
  type BlockRangeModel,
  type NamedTensor,
  parseTransformerConfig,
  referenceTransformer,
  spanWeights,
  type TransformerConfig,
  type TransformerSpan,
} from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { logitsOf, randomIds, relativeError, testWeights } from '../../runtime/test/transformer-fixtures.js'

const small = parseTransformerConfig({
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 64,
  numLayers: 3,
  numHeads: 4,
  numKvHeads: 4,
  maxPositions: 64,
  ropeTheta: 10_000,
  rmsNormEps: 1e-6,
  tieEmbeddings: false,
})
const whole = (c: TransformerConfig): TransformerSpan => ({ embed: true, blocks: [0, c.numLayers], head: true })

const tokens = (n: number, seed: number): Int32Array => randomIds(n, seed, small.vocabSize)

describe('tfjs transformer span', () => {
  let rt: TfjsRuntime
  const all = testWeights(small, 1)
  const prompt = tokens(9, 2)

  beforeAll(async () => {
    rt = await tfjsRuntime({ backend: 'wasm' })
    if (rt.backend !== 'wasm') throw new Error(`wasm did not start: ${rt.fallbackReason}`)
  })
  afterAll(() => rt.dispose())

  /** Spans loaded by the current test, disposed after it even when it fails, so no test sees another's tensors. */
  const loaded: BlockRangeModel[] = []
  async function load(c: TransformerConfig, span: TransformerSpan, weights: ReadonlyMap<string, NamedTensor>): Promise<BlockRangeModel> {
    const model = await rt.loadTransformer(c, span, weights)
    loaded.push(model)
    return model
  }
  afterEach(() => {
    for (const m of loaded.splice(0)) m.dispose()
  })

  it('says it runs block ranges', () => {
    expect(rt.capabilities.blockRange).toBe(true)
  })

  it('computes what the reference computes', async () => {
    const model = await load(small, whole(small), all)
    const expected = await logitsOf(referenceTransformer(small, whole(small), all), prompt)
    expect(relativeError(await logitsOf(model, prompt), expected)).toBeLessThan(1e-4)
    model.dispose()
  })

  it('equals the composition of embed+block 0, block 1, block 2+head fed span to span', async () => {
    const spans: TransformerSpan[] = [
      { embed: true, blocks: [0, 1], head: false },
      { embed: false, blocks: [1, 2], head: false },
      { embed: false, blocks: [2, 3], head: true },
    ]
    const parts = await Promise.all(spans.map((s) => load(small, s, spanWeights(small, s, all))))
    const sessions = parts.map((p) => p.openSession('composed'))
    const [first, middle, last] = sessions as [(typeof sessions)[0], (typeof sessions)[0], (typeof sessions)[0]]
    const count = prompt.length
    const h1 = await first.forward({ tokens: prompt })
    expect(h1.length).toBe(count * small.hiddenSize)
    const h2 = await middle.forward({ hidden: h1, count })
    const composed = await last.forward({ hidden: h2, count })
    const model = await load(small, whole(small), all)
    expect(relativeError(composed, await logitsOf(model, prompt))).toBeLessThan(1e-5)
    for (const p of [...parts, model]) p.dispose()
    expect(parts.map((p) => p.sessions)).toEqual([0, 0, 0])
  })

  it('decodes with the KV cache as one forward of the whole sequence', async () => {
    const model = await load(small, whole(small), all)
    const s = model.openSession('decode')
    const steps = [await s.forward({ tokens: prompt.subarray(0, 5) })]
    for (let p = 5; p < 9; p++) steps.push(await s.forward({ tokens: prompt.subarray(p, p + 1) }))
    expect(s.length).toBe(9)
    const incremental = new Float32Array(9 * small.vocabSize)
    let offset = 0
    for (const step of steps) {
      incremental.set(step, offset)
      offset += step.length
    }
    expect(relativeError(incremental, await logitsOf(model, prompt))).toBeLessThan(1e-5)
    model.dispose()
  })

  it('replays the same logits after truncate', async () => {
    const model = await load(small, whole(small), all)
    const s = model.openSession('replay')
    await s.forward({ tokens: prompt.subarray(0, 6) })
    const before = await s.forward({ tokens: prompt.subarray(6) })
    s.truncate(6)
    expect(s.length).toBe(6)
    expect(relativeError(await s.forward({ tokens: prompt.subarray(6) }), before)).toBeLessThan(1e-6)
    // A speculative token rolled back leaves the session where it was.
    s.truncate(8)
    await s.forward({ tokens: Int32Array.of(7) })
    s.truncate(8)
    const again = await s.forward({ tokens: prompt.subarray(8) })
    expect(relativeError(again, before.subarray(2 * small.vocabSize))).toBeLessThan(1e-6)
    s.truncate(0)
    expect(relativeError(await s.forward({ tokens: prompt }), await logitsOf(model, prompt))).toBeLessThan(1e-6)
    expect(() => s.truncate(10)).toThrow(RangeError)
    expect(() => s.truncate(-1)).toThrow(RangeError)
    model.dispose()
  })

  const variants: [string, Partial<TransformerConfig>][] = [
    ['grouped KV heads (4 query heads over 2)', { numKvHeads: 2 }],
    ['tied embeddings', { tieEmbeddings: true }],
    ['grouped KV heads and tied embeddings', { numKvHeads: 1, tieEmbeddings: true }],
  ]
  for (const [name, change] of variants) {
    it(`matches the reference with ${name}, whole and split`, async () => {
      const c = parseTransformerConfig({ ...small, ...change })
      const weights = testWeights(c, 3)
      const expected = await logitsOf(referenceTransformer(c, whole(c), weights), prompt)
      const model = await load(c, whole(c), weights)
      expect(relativeError(await logitsOf(model, prompt), expected)).toBeLessThan(1e-4)
      // A head-only span of a tied model reads the embedding too.
      const front: TransformerSpan = { embed: true, blocks: [0, 2], head: false }
      const back: TransformerSpan = { embed: false, blocks: [2, 3], head: true }
      const a = await load(c, front, spanWeights(c, front, weights))
      const b = await load(c, back, spanWeights(c, back, weights))
      const hidden = await a.openSession('s').forward({ tokens: prompt })
      const split = await b.openSession('s').forward({ hidden, count: prompt.length })
      expect(relativeError(split, expected)).toBeLessThan(1e-4)
      for (const m of [model, a, b]) m.dispose()
    })
  }

  describe('refuses bad weights and spans at load, naming what is wrong', () => {
    const span = whole(small)
    const cases: [string, () => Map<string, NamedTensor>, RegExp][] = [
      [
        'a missing tensor',
        () => {
          const w = new Map(all)
          w.delete('model.layers.1.mlp.up_proj.weight')
          return w
        },
        /model\.layers\.1\.mlp\.up_proj\.weight is missing/,
      ],
      ['an extra tensor', () => new Map(all).set('model.layers.9.extra.weight', { shape: [1], data: new Float32Array(1) }), /model\.layers\.9\.extra\.weight is not part/],
      [
        'a misshapen tensor',
        () => new Map(all).set('model.layers.0.self_attn.k_proj.weight', { shape: [32, 16], data: new Float32Array(512) }),
        /model\.layers\.0\.self_attn\.k_proj\.weight has shape \[32, 16\]/,
      ],
    ]
    for (const [what, weights, message] of cases) {
      it(what, async () => {
        const err = await load(small, span, weights()).catch((e: unknown) => e)
        expect(err).toMatchObject({ name: 'InvalidModelSpecError' })
        expect((err as Error).message).toMatch(message)
      })
    }
    it('a span outside the model', async () => {
      await expect(load(small, { embed: false, blocks: [2, 4], head: false }, new Map())).rejects.toMatchObject({ name: 'InvalidModelSpecError' })
      await expect(load(small, { embed: false, blocks: [2, 1], head: false }, new Map())).rejects.toMatchObject({ name: 'InvalidModelSpecError' })
    })
  })

  it('refuses input a session cannot take, and keeps its cache when it does', async () => {
    const model = await load(small, whole(small), all)
    const s = model.openSession('bad', { maxTokens: 8 })
    const first = await s.forward({ tokens: prompt.subarray(0, 3) })
    expect(() => model.openSession('bad')).toThrow(/already open/)
    await expect(s.forward({ hidden: new Float32Array(small.hiddenSize), count: 1 })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: Int32Array.of(1, 50) })).rejects.toThrow(/50.*vocabulary/)
    await expect(s.forward({ tokens: Int32Array.of(-1) })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: new Int32Array(0) })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: tokens(6, 4) })).rejects.toThrow(/8/)
    expect(s.length).toBe(3)
    s.truncate(0)
    expect(await s.forward({ tokens: prompt.subarray(0, 3) })).toEqual(first)
    s.close()
    await expect(s.forward({ tokens: prompt.subarray(0, 1) })).rejects.toMatchObject({ name: 'SessionClosedError' })
    expect(() => s.truncate(0)).toThrow(RangeError)
    expect(() => model.openSession('big', { maxTokens: 65 })).toThrow(RangeError)
    model.dispose()
    expect(() => model.openSession('late')).toThrow(/disposed/)

    const blocks = await load(small, { embed: false, blocks: [0, 1], head: false }, spanWeights(small, { embed: false, blocks: [0, 1], head: false }, all))
    const b = blocks.openSession('bad')
    await expect(b.forward({ tokens: prompt })).rejects.toThrow(RangeError)
    await expect(b.forward({ hidden: new Float32Array(small.hiddenSize * 2 - 1), count: 2 })).rejects.toThrow(RangeError)
    await expect(b.forward({ hidden: new Float32Array(0), count: 0 })).rejects.toThrow(RangeError)
    blocks.dispose()
  })

  it('leaks no tensor: sessions free their cache, dispose frees the weights and open sessions', async () => {
    const before = tf.memory().numTensors
    const model = await load(small, whole(small), all)
    const loaded = tf.memory().numTensors
    const s = model.openSession('a')
    await s.forward({ tokens: prompt.subarray(0, 4) })
    await s.forward({ tokens: prompt.subarray(4, 5) })
    s.truncate(2)
    await s.forward({ tokens: prompt.subarray(2, 3) })
    await expect(s.forward({ tokens: Int32Array.of(99) })).rejects.toThrow(RangeError)
    expect(model.sessions).toBe(1)
    s.close()
    expect(model.sessions).toBe(0)
    expect(tf.memory().numTensors).toBe(loaded)
    await model.openSession('b').forward({ tokens: prompt })
    await model.openSession('c').forward({ tokens: prompt.subarray(0, 2) })
    expect(model.sessions).toBe(2)
    model.dispose()
    expect(model.sessions).toBe(0)
    expect(tf.memory().numTensors).toBe(before)
    // A runtime's dispose frees the spans it loaded and still holds.
    const other = await tfjsRuntime({ backend: 'wasm' })
    await (await other.loadTransformer(small, whole(small), all)).openSession('d').forward({ tokens: prompt })
    await other.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })
})
