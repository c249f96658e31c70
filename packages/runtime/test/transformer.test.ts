// The transformer contract and its plain-TypeScript oracle: configs (Weft's and Hugging Face's names), spans that
// compose into the whole model, a KV cache that gives what a full recompute gives, and clear errors for bad input.
import {
  checkTransformerWeights,
  initTransformerWeights,
  InvalidModelSpecError,
  type NamedTensor,
  parseTransformerConfig,
  referenceTransformer,
  spanWeights,
  type TransformerConfig,
  type TransformerSpan,
  toHfLlamaConfig,
  transformerParamCount,
  transformerTensorNames,
} from '@weft/runtime'
import { describe, expect, it } from 'vitest'

const CONFIG = parseTransformerConfig({
  vocabSize: 50,
  hiddenSize: 32,
  intermediateSize: 64,
  numLayers: 3,
  numHeads: 4,
  numKvHeads: 4,
  maxPositions: 64,
})
const WHOLE: TransformerSpan = { embed: true, blocks: [0, 3], head: true }
const TOKENS = Int32Array.from([3, 17, 42, 8, 0, 49, 21, 5, 11])

/** Largest |a − b| relative to the largest |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let diff = 0
  let scale = 1e-6
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)))
    scale = Math.max(scale, Math.abs(b[i] as number))
  }
  return diff / scale
}

/** Weights scaled up from the 0.02 init so the blocks do visibly more than pass the residual through. */
function weights(config: TransformerConfig, seed: number): Map<string, NamedTensor> {
  const all = initTransformerWeights(config, seed)
  for (const [name, t] of all) if (!name.includes('norm')) for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) * 5
  return all
}

async function logitsOf(config: TransformerConfig, all: Map<string, NamedTensor>, tokens: Int32Array): Promise<Float32Array> {
  const model = referenceTransformer(config, WHOLE, spanWeights(config, WHOLE, all))
  return model.openSession('s').forward({ tokens })
}

describe('transformer config', () => {
  it('reads Hugging Face config.json names and writes them back', () => {
    const hf = toHfLlamaConfig(CONFIG)
    expect(hf).toMatchObject({ model_type: 'llama', hidden_size: 32, num_hidden_layers: 3, num_key_value_heads: 4, tie_word_embeddings: false })
    expect(parseTransformerConfig(hf)).toEqual(CONFIG)
  })

  it('names the field that is wrong', () => {
    expect(() => parseTransformerConfig({ ...CONFIG, hiddenSize: 30 })).toThrow(/hiddenSize 30 must be a multiple of numHeads 4/)
    expect(() => parseTransformerConfig({ ...CONFIG, numKvHeads: 3 })).toThrow(/numHeads 4 must be a multiple of numKvHeads 3/)
    expect(() => parseTransformerConfig({ ...CONFIG, vocabSize: -1 })).toThrow(/vocabSize must be a positive integer/)
    expect(() => parseTransformerConfig({ ...CONFIG, tieEmbeddings: 'yes' })).toThrow(/tieEmbeddings must be a boolean/)
    expect(() => parseTransformerConfig([])).toThrow(InvalidModelSpecError)
  })

  it('lists Hugging Face Llama tensor names per span; a tied head-only span holds the embedding', () => {
    expect(transformerTensorNames(CONFIG, { embed: false, blocks: [1, 2], head: false })).toEqual([
      'model.layers.1.input_layernorm.weight',
      'model.layers.1.self_attn.q_proj.weight',
      'model.layers.1.self_attn.k_proj.weight',
      'model.layers.1.self_attn.v_proj.weight',
      'model.layers.1.self_attn.o_proj.weight',
      'model.layers.1.post_attention_layernorm.weight',
      'model.layers.1.mlp.gate_proj.weight',
      'model.layers.1.mlp.up_proj.weight',
      'model.layers.1.mlp.down_proj.weight',
    ])
    const tied = { ...CONFIG, tieEmbeddings: true }
    expect(transformerTensorNames(tied, { embed: false, blocks: [3, 3], head: true })).toEqual(['model.embed_tokens.weight', 'model.norm.weight'])
    // embed 50×32 + head 50×32 + norm 32 + 3 × (2 norms of 32 + 4 × 32×32 + 3 × 64×32)
    expect(transformerParamCount(CONFIG)).toBe(50 * 32 * 2 + 32 + 3 * (64 + 4 * 1024 + 3 * 2048))
  })

  it('refuses a missing, extra or misshapen tensor by name, and a span outside the model', () => {
    const all = initTransformerWeights(CONFIG, 1)
    const span: TransformerSpan = { embed: false, blocks: [0, 1], head: false }
    const picked = spanWeights(CONFIG, span, all)
    picked.delete('model.layers.0.mlp.up_proj.weight')
    expect(() => checkTransformerWeights(CONFIG, span, picked)).toThrow(/tensor model.layers.0.mlp.up_proj.weight is missing/)
    const extra = spanWeights(CONFIG, span, all).set('lm_head.weight', all.get('lm_head.weight') as NamedTensor)
    expect(() => checkTransformerWeights(CONFIG, span, extra)).toThrow(/tensor lm_head.weight is not part of this span/)
    const bent = spanWeights(CONFIG, span, all).set('model.layers.0.self_attn.k_proj.weight', { shape: [32, 16], data: new Float32Array(512) })
    expect(() => checkTransformerWeights(CONFIG, span, bent)).toThrow(/k_proj.weight has shape \[32, 16\]; expected \[32, 32\]/)
    expect(() => referenceTransformer(CONFIG, { embed: false, blocks: [2, 4], head: false }, new Map())).toThrow(/blocks \[2, 4\) are not a range within the model's 3 blocks/)
    expect(() => referenceTransformer(CONFIG, { embed: false, blocks: [1, 1], head: false }, new Map())).toThrow(/an empty span/)
  })
})

describe('reference transformer (the engines’ oracle)', () => {
  const all = weights(CONFIG, 7)

  it('gives the same seeded weights every time', () => {
    const again = initTransformerWeights(CONFIG, 7)
    const first = initTransformerWeights(CONFIG, 7)
    expect([...again.keys()]).toEqual(transformerTensorNames(CONFIG))
    for (const [name, t] of again) expect(t.data).toEqual(first.get(name)?.data)
    expect(initTransformerWeights(CONFIG, 8).get('lm_head.weight')?.data).not.toEqual(first.get('lm_head.weight')?.data)
  })

  it('three spans passing hidden states along give the whole model’s logits', async () => {
    const whole = await logitsOf(CONFIG, all, TOKENS)
    const spans: TransformerSpan[] = [
      { embed: true, blocks: [0, 1], head: false },
      { embed: false, blocks: [1, 2], head: false },
      { embed: false, blocks: [2, 3], head: true },
    ]
    const sessions = spans.map((s) => referenceTransformer(CONFIG, s, spanWeights(CONFIG, s, all)).openSession('s'))
    const h1 = await sessions[0]?.forward({ tokens: TOKENS })
    const h2 = await sessions[1]?.forward({ hidden: h1 as Float32Array, count: TOKENS.length })
    const logits = await sessions[2]?.forward({ hidden: h2 as Float32Array, count: TOKENS.length })
    expect(logits).toHaveLength(TOKENS.length * CONFIG.vocabSize)
    expect(relDiff(logits as Float32Array, whole)).toBeLessThan(1e-6)
  })

  it('a prompt then one token at a time through the KV cache gives a full recompute’s logits; truncate replays', async () => {
    const whole = await logitsOf(CONFIG, all, TOKENS)
    const session = referenceTransformer(CONFIG, WHOLE, spanWeights(CONFIG, WHOLE, all)).openSession('s')
    const parts = [await session.forward({ tokens: TOKENS.subarray(0, 5) })]
    for (let i = 5; i < TOKENS.length; i++) parts.push(await session.forward({ tokens: TOKENS.subarray(i, i + 1) }))
    expect(session.length).toBe(TOKENS.length)
    const joined = new Float32Array(whole.length)
    let at = 0
    for (const p of parts) {
      joined.set(p, at)
      at += p.length
    }
    expect(relDiff(joined, whole)).toBeLessThan(1e-6)
    session.truncate(6)
    expect(session.length).toBe(6)
    const replayed = await session.forward({ tokens: TOKENS.subarray(6) })
    expect(relDiff(replayed, whole.subarray(6 * CONFIG.vocabSize))).toBeLessThan(1e-6)
  })

  it('is causal: a later token never changes an earlier position’s logits', async () => {
    const a = await logitsOf(CONFIG, all, TOKENS)
    const changed = TOKENS.slice()
    changed[6] = 30
    const b = await logitsOf(CONFIG, all, changed)
    const upTo = 6 * CONFIG.vocabSize
    expect(relDiff(b.subarray(0, upTo), a.subarray(0, upTo))).toBe(0)
    expect(relDiff(b.subarray(upTo), a.subarray(upTo))).toBeGreaterThan(1e-3)
  })

  it('grouped KV heads equal full heads whose keys and values repeat per group', async () => {
    const gqa = { ...CONFIG, numKvHeads: 2 }
    const grouped = weights(gqa, 3)
    const full = new Map(grouped)
    // Query heads 0,1 read KV head 0 and heads 2,3 read KV head 1: repeat each KV head's rows for its two queries.
    const d = 8
    for (let b = 0; b < 3; b++) {
      for (const p of ['k_proj', 'v_proj']) {
        const name = `model.layers.${b}.self_attn.${p}.weight`
        const w = (grouped.get(name) as NamedTensor).data
        const rows = new Float32Array(32 * 32)
        for (let head = 0; head < 4; head++) rows.set(w.subarray(Math.floor(head / 2) * d * 32, (Math.floor(head / 2) + 1) * d * 32), head * d * 32)
        full.set(name, { shape: [32, 32], data: rows })
      }
    }
    const a = await logitsOf(gqa, grouped, TOKENS)
    const b = await logitsOf(CONFIG, full, TOKENS)
    expect(relDiff(a, b)).toBeLessThan(1e-6)
  })

  it('a tied head reads the embedding: equal to an untied head holding the same matrix', async () => {
    const tied = { ...CONFIG, tieEmbeddings: true }
    const tw = weights(tied, 5)
    const untied = new Map(tw).set('lm_head.weight', tw.get('model.embed_tokens.weight') as NamedTensor)
    expect(relDiff(await logitsOf(tied, tw, TOKENS), await logitsOf(CONFIG, untied, TOKENS))).toBe(0)
  })

  it('refuses input that does not fit the span, a full cache and a closed session', async () => {
    const model = referenceTransformer(CONFIG, WHOLE, spanWeights(CONFIG, WHOLE, all))
    const s = model.openSession('s', { maxTokens: 4 })
    await expect(s.forward({ tokens: Int32Array.from([50]) })).rejects.toThrow(/token id 50 is outside the vocabulary of 50/)
    await expect(s.forward({ hidden: new Float32Array(32), count: 1 })).rejects.toThrow(/takes tokens, not hidden states/)
    await expect(s.forward({ tokens: new Int32Array(0) })).rejects.toThrow(/no tokens/)
    await expect(s.forward({ tokens: TOKENS })).rejects.toThrow(/0 \+ 9 positions are over this session's 4/)
    expect(() => s.truncate(1)).toThrow(/cannot truncate 0 positions to 1/)
    expect(model.sessions).toBe(1)
    s.close()
    expect(model.sessions).toBe(0)
    await expect(s.forward({ tokens: TOKENS.subarray(0, 1) })).rejects.toThrow(/session s is closed/)
    expect(() => model.openSession('t', { maxTokens: 65 })).toThrow(/maxTokens must be an integer in \[1, 64\]/)
    const middle: TransformerSpan = { embed: false, blocks: [1, 2], head: false }
    const m = referenceTransformer(CONFIG, middle, spanWeights(CONFIG, middle, all)).openSession('m')
    await expect(m.forward({ tokens: TOKENS })).rejects.toThrow(/takes hidden states, not token ids/)
    await expect(m.forward({ hidden: new Float32Array(31), count: 1 })).rejects.toThrow(/hidden holds 31 values; 1 positions of width 32 are 32/)
  })
})
