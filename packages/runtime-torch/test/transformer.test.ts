// The PyTorch transformer span against the plain-TypeScript reference and the tfjs engine: composition of spans, KV
// cache, truncate, grouped KV heads, tied embeddings, input checks on both sides of the pipe.
import {
  parseTransformerConfig,
  referenceTransformer,
  spanWeights,
  type TransformerConfig,
  type TransformerSpan,
} from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { type TorchRuntime, torchRuntime, WEIGHT_PIECE_VALUES } from '@weft/runtime-torch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { logitsOf, randomIds, relativeError, testWeights } from '../../runtime/test/transformer-fixtures.js'
import { testWorker, torchAvailable, torchTestDevice } from './available.js'

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
const grouped = parseTransformerConfig({ ...small, numKvHeads: 2, tieEmbeddings: true })
const whole = (c: TransformerConfig): TransformerSpan => ({ embed: true, blocks: [0, c.numLayers], head: true })
/** The whole small model cut in three: embedding and block 0, block 1, block 2 and the head. */
const thirds: readonly TransformerSpan[] = [
  { embed: true, blocks: [0, 1], head: false },
  { embed: false, blocks: [1, 2], head: false },
  { embed: false, blocks: [2, 3], head: true },
]

const tokens = (n: number, seed: number): Int32Array => randomIds(n, seed, small.vocabSize)

describe.skipIf(!torchAvailable)(`torch transformer span (${torchTestDevice})`, () => {
  let rt: TorchRuntime
  const all = testWeights(small, 1)
  const prompt = tokens(9, 2)

  beforeAll(async () => {
    rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
  })

  afterAll(async () => {
    await rt?.dispose()
  })

  it('declares block ranges and matches the float64 reference on the whole model', async () => {
    expect(rt.capabilities.blockRange).toBe(true)
    const model = await rt.loadTransformer(small, whole(small), all)
    const expected = await logitsOf(referenceTransformer(small, whole(small), all), prompt)
    const logits = await logitsOf(model, prompt)
    expect(logits).toBeInstanceOf(Float32Array)
    expect(logits).toHaveLength(prompt.length * small.vocabSize)
    expect(relativeError(logits, expected)).toBeLessThan(1e-4)
    model.dispose()
  })

  it('the whole model equals the composition of three spans', async () => {
    const model = await rt.loadTransformer(small, whole(small), all)
    const parts = await Promise.all(thirds.map((span) => rt.loadTransformer(small, span, spanWeights(small, span, all))))
    const sessions = parts.map((p) => p.openSession('chain'))
    const hidden0 = await sessions[0]!.forward({ tokens: prompt })
    expect(hidden0).toHaveLength(prompt.length * small.hiddenSize)
    const hidden1 = await sessions[1]!.forward({ hidden: hidden0, count: prompt.length })
    const chained = await sessions[2]!.forward({ hidden: hidden1, count: prompt.length })
    expect(relativeError(chained, await logitsOf(model, prompt))).toBeLessThan(1e-5)
    expect(sessions.map((s) => s.length)).toEqual([9, 9, 9])
    for (const p of [model, ...parts]) p.dispose()
  })

  it('a prompt of 5 then 4 single tokens through the KV cache equals one forward of all 9', async () => {
    const model = await rt.loadTransformer(small, whole(small), all)
    const full = await logitsOf(model, prompt)
    const s = model.openSession('stepwise')
    const rows = [await s.forward({ tokens: prompt.subarray(0, 5) })]
    for (let i = 5; i < 9; i++) rows.push(await s.forward({ tokens: prompt.subarray(i, i + 1) }))
    expect(s.length).toBe(9)
    const stepwise = new Float32Array(full.length)
    for (const [i, r] of rows.entries()) stepwise.set(r, (i === 0 ? 0 : 4 + i) * small.vocabSize)
    expect(relativeError(stepwise, full)).toBeLessThan(1e-5)
    // The last step attended to the cache: without it the same token alone gives other logits.
    expect(relativeError(rows[4]!, await logitsOf(model, prompt.subarray(8, 9)))).toBeGreaterThan(1e-2)
    s.close()
    model.dispose()
  })

  it('truncate then replay gives the same logits, also from position 0 and after a different continuation', async () => {
    const model = await rt.loadTransformer(small, whole(small), all)
    const full = await logitsOf(model, prompt)
    const V = small.vocabSize
    const s = model.openSession('replay')
    await s.forward({ tokens: prompt })
    s.truncate(6)
    expect(s.length).toBe(6)
    expect(relativeError(await s.forward({ tokens: prompt.subarray(6) }), full.subarray(6 * V))).toBeLessThan(1e-5)
    // A speculative step rolled back: other tokens at 6.., then the real ones again.
    s.truncate(6)
    await s.forward({ tokens: tokens(3, 9) })
    s.truncate(6)
    expect(relativeError(await s.forward({ tokens: prompt.subarray(6) }), full.subarray(6 * V))).toBeLessThan(1e-5)
    s.truncate(0)
    expect(relativeError(await s.forward({ tokens: prompt }), full)).toBeLessThan(1e-5)
    s.close()
    model.dispose()
  })

  it('grouped KV heads and tied embeddings match the reference, and spans of that model compose', async () => {
    const weights = testWeights(grouped, 3)
    expect(weights.has('lm_head.weight')).toBe(false)
    expect(weights.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([16, 32])
    const model = await rt.loadTransformer(grouped, whole(grouped), weights)
    const expected = await logitsOf(referenceTransformer(grouped, whole(grouped), weights), prompt)
    const logits = await logitsOf(model, prompt)
    expect(relativeError(logits, expected)).toBeLessThan(1e-4)
    // The head-only span of a tied model holds the embedding too.
    const body = await rt.loadTransformer(grouped, { embed: true, blocks: [0, 3], head: false }, spanWeights(grouped, { embed: true, blocks: [0, 3], head: false }, weights))
    const headSpan: TransformerSpan = { embed: false, blocks: [3, 3], head: true }
    const head = await rt.loadTransformer(grouped, headSpan, spanWeights(grouped, headSpan, weights))
    const hidden = await logitsOf(body, prompt)
    const hs = head.openSession('head')
    expect(relativeError(await hs.forward({ hidden, count: prompt.length }), logits)).toBeLessThan(1e-5)
    for (const m of [model, body, head]) m.dispose()
  })

  it('an embedding larger than one upload request arrives whole, in pieces', async () => {
    const config = parseTransformerConfig({ ...small, vocabSize: 8400, hiddenSize: 2000, numHeads: 10, numKvHeads: 10, numLayers: 1 })
    const table = new Float32Array(config.vocabSize * config.hiddenSize)
    expect(table.length).toBeGreaterThan(WEIGHT_PIECE_VALUES)
    for (let i = 0; i < table.length; i++) table[i] = (i % 9973) / 9973
    const span: TransformerSpan = { embed: true, blocks: [0, 0], head: false }
    const model = await rt.loadTransformer(config, span, new Map([['model.embed_tokens.weight', { shape: [config.vocabSize, config.hiddenSize], data: table }]]))
    // Row 8388 straddles the cut between the first and the second request; 8399 is the last row.
    const ids = Int32Array.of(0, 8388, 8399)
    const rows = await logitsOf(model, ids)
    const h = config.hiddenSize
    for (const [i, id] of ids.entries()) expect(rows.subarray(i * h, (i + 1) * h)).toEqual(table.subarray(id * h, (id + 1) * h))
    model.dispose()
  })

  it('rejects input that does not fit with RangeError, and the worker keeps serving', async () => {
    const model = await rt.loadTransformer(small, whole(small), all)
    const [first] = thirds
    const middle = await rt.loadTransformer(small, thirds[1]!, spanWeights(small, thirds[1]!, all))
    const s = model.openSession('bad', { maxTokens: 8 })
    const m = middle.openSession('bad')
    await expect(s.forward({ hidden: new Float32Array(32), count: 1 })).rejects.toThrow(RangeError)
    await expect(m.forward({ tokens: Int32Array.of(1) })).rejects.toThrow(/hidden states/)
    await expect(m.forward({ hidden: new Float32Array(31), count: 1 })).rejects.toThrow(RangeError)
    await expect(m.forward({ hidden: new Float32Array(0), count: 0 })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: Int32Array.of(3, 50) })).rejects.toThrow(/token id 50/)
    await expect(s.forward({ tokens: Int32Array.of(-1) })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: new Int32Array(0) })).rejects.toThrow(RangeError)
    await expect(s.forward({ tokens: prompt })).rejects.toThrow(/maxTokens/)
    expect(s.length).toBe(0)
    expect(() => s.truncate(1)).toThrow(RangeError)
    expect(() => model.openSession('too long', { maxTokens: 65 })).toThrow(RangeError)
    // Nothing was lost: the session still runs, and rejects a truncate past its length.
    const logits = await s.forward({ tokens: prompt.subarray(0, 8) })
    expect(relativeError(logits, (await logitsOf(model, prompt)).subarray(0, 8 * small.vocabSize))).toBeLessThan(1e-5)
    expect(() => s.truncate(9)).toThrow(RangeError)
    expect(() => s.truncate(-1)).toThrow(RangeError)
    expect(model.sessions).toBe(1)
    s.close()
    expect(model.sessions).toBe(0)
    await expect(s.forward({ tokens: Int32Array.of(1) })).rejects.toThrow(RangeError)
    expect(() => s.truncate(0)).toThrow(RangeError)
    // Bad weights never reach the worker.
    const missing = spanWeights(small, first!, all)
    missing.delete('model.layers.0.mlp.up_proj.weight')
    await expect(rt.loadTransformer(small, first!, missing)).rejects.toMatchObject({ name: 'InvalidModelSpecError', message: expect.stringContaining('up_proj') })
    const misshapen = spanWeights(small, first!, all)
    misshapen.set('model.layers.0.input_layernorm.weight', { shape: [31], data: new Float32Array(31) })
    await expect(rt.loadTransformer(small, first!, misshapen)).rejects.toMatchObject({ name: 'InvalidModelSpecError' })
    await expect(rt.loadTransformer(small, { embed: false, blocks: [2, 4], head: false }, new Map())).rejects.toMatchObject({ name: 'InvalidModelSpecError' })
    await expect(rt.loadTransformer(small, first!, spanWeights(small, whole(small), all))).rejects.toMatchObject({ name: 'InvalidModelSpecError' })
    expect(rt.restarts).toBe(0)
    model.dispose()
    middle.dispose()
    expect(() => model.openSession('late')).toThrow(/disposed/)
    await expect(m.forward({ hidden: new Float32Array(32), count: 1 })).rejects.toThrow(RangeError)
  })
})

describe.skipIf(!torchAvailable)('torch transformer span life cycle', () => {
  it('disposing the runtime disposes its spans and closes their sessions', async () => {
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
    const model = await rt.loadTransformer(small, whole(small), testWeights(small, 1))
    const s = model.openSession('left open')
    await s.forward({ tokens: tokens(2, 4) })
    await rt.dispose()
    expect(model.sessions).toBe(0)
    await expect(s.forward({ tokens: tokens(1, 5) })).rejects.toThrow(/closed/)
    expect(() => model.openSession('after')).toThrow(/disposed/)
  })

  it('a span lost with its worker fails with TorchWorkerCrashedError until it is loaded again', async () => {
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
    const weights = testWeights(small, 1)
    const model = await rt.loadTransformer(small, whole(small), weights)
    const ids = tokens(4, 6)
    const before = await logitsOf(model, ids)
    const s = model.openSession('doomed')
    process.kill(rt.info.pid, 'SIGKILL')
    await expect(s.forward({ tokens: ids })).rejects.toMatchObject({ name: 'TorchWorkerCrashedError' })
    await expect(s.forward({ tokens: ids })).rejects.toMatchObject({ name: 'TorchWorkerCrashedError' })
    const reloaded = await rt.loadTransformer(small, whole(small), weights)
    expect(relativeError(await logitsOf(reloaded, ids), before)).toBeLessThan(1e-6)
    expect(rt.restarts).toBe(1)
    await rt.dispose()
  })

  it('a second forward of a session while one runs is refused, not interleaved', async () => {
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
    const model = await rt.loadTransformer(small, whole(small), testWeights(small, 1))
    const s = model.openSession('eager')
    const first = s.forward({ tokens: tokens(3, 6) })
    await expect(s.forward({ tokens: tokens(1, 7) })).rejects.toMatchObject({ name: 'KvSessionBusyError' })
    expect(() => s.truncate(0)).toThrow(expect.objectContaining({ name: 'KvSessionBusyError' }))
    await first
    expect(s.length).toBe(3)
    await rt.dispose()
  })
})

describe.skipIf(!torchAvailable)('torch transformer worker under hostile requests', () => {
  const worker = testWorker()

  const span: TransformerSpan = { embed: true, blocks: [0, 1], head: false }

  it('answers each bad request with an error and stays up', async () => {
    const { proc } = worker
    const load = (transformer: string, config: unknown, s: unknown = span) => proc.request({ op: 'transformer_load', transformer, config, span: s })
    await expect(load('c1', { ...small, hiddenSize: 2 ** 40 })).rejects.toThrow(/hiddenSize must be a positive integer/)
    await expect(load('c2', { ...small, numHeads: true })).rejects.toThrow(/numHeads/)
    await expect(load('c3', { ...small, rmsNormEps: 'NaN' })).rejects.toThrow(/rmsNormEps/)
    await expect(load('c4', small, { embed: true, blocks: [0, 9], head: false })).rejects.toThrow(/blocks/)
    await expect(load('x'.repeat(300), small)).rejects.toThrow(/new id/)
    await load('t1', small)
    await expect(load('t1', small)).rejects.toThrow(/new id/)
    const put = (pieces: unknown, buffers: Float32Array[]) => proc.request({ op: 'transformer_put', transformer: 't1', pieces }, buffers.map((data) => ({ data })))
    await expect(put([{ name: 'lm_head.weight', offset: 0 }], [new Float32Array(4)])).rejects.toThrow(/not part of this span/)
    await expect(put([{ name: 'model.layers.0.input_layernorm.weight', offset: 5 }], [new Float32Array(4)])).rejects.toThrow(/expected the next at 0/)
    await expect(put([{ name: 'model.layers.0.input_layernorm.weight', offset: 0 }], [new Float32Array(33)])).rejects.toThrow(/runs past/)
    await expect(put([{ name: 'model.layers.0.input_layernorm.weight', offset: 0 }], [])).rejects.toThrow(/one \{name, offset\} per buffer/)
    // A header whose buffer shape claims 4 GiB that the frame does not hold.
    await expect(proc.request({ op: 'transformer_put', transformer: 't1', pieces: [], buffers: [{ dtype: 'float32', shape: [1 << 30] }] })).rejects.toThrow(/past the end/)
    await expect(proc.request({ op: 'transformer_put', transformer: 't1', buffers: [{ dtype: 'float32', shape: [-4] }] })).rejects.toThrow(/bad buffer shape/)
    await expect(proc.request({ op: 'transformer_ready', transformer: 't1' })).rejects.toThrow(/holds 0 of its/)
    await expect(proc.request({ op: 'transformer_forward', transformer: 't1', session: 's', start: 0, maxTokens: 8 }, [{ data: Int32Array.of(1) }])).rejects.toThrow(
      /still loading/,
    )
    // Complete it, then play a caller that skips the Node side's checks.
    const weights = spanWeights(small, span, testWeights(small, 5))
    for (const [name, t] of weights) await put([{ name, offset: 0 }], [t.data])
    await proc.request({ op: 'transformer_ready', transformer: 't1' })
    const forward = (start: unknown, data: Int32Array | Float32Array, maxTokens: unknown = 8) =>
      proc.request({ op: 'transformer_forward', transformer: 't1', session: 's', start, maxTokens }, [{ data }])
    await expect(forward(0, Int32Array.of(1, 50))).rejects.toThrow(/token ids must be in \[0, 50\)/)
    await expect(forward(0, new Float32Array(32))).rejects.toThrow(/int32 token ids/)
    await expect(forward(0, Int32Array.of(1), 65)).rejects.toThrow(/maxTokens/)
    await expect(forward(0, new Int32Array(9))).rejects.toThrow(/do not fit/)
    await expect(forward(3, Int32Array.of(1))).rejects.toThrow(/no session/)
    const r = await forward(0, Int32Array.of(1, 2, 3))
    expect(r.buffers[0]).toHaveLength(3 * small.hiddenSize)
    await expect(forward(4, Int32Array.of(1))).rejects.toThrow(/past the session's 3/)
    await expect(forward(true, Int32Array.of(1))).rejects.toThrow(/start must be an integer/)
    expect((await forward(3, Int32Array.of(4))).buffers[0]).toHaveLength(small.hiddenSize)
    await proc.request({ op: 'transformer_drop', transformer: 't1' })
    await expect(forward(4, Int32Array.of(1))).rejects.toThrow(/no transformer t1/)
    expect(proc.generation).toBe(1)
    expect(proc.restarts).toBe(0)
  })
})

describe.skipIf(!torchAvailable)('torch and tfjs transformer spans agree', () => {
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

  it('gives the same logits for a prompt and the steps after it (grouped KV, tied embeddings)', async () => {
    const weights = testWeights(grouped, 7)
    const models = [await torch.loadTransformer(grouped, whole(grouped), weights), await tfjs.loadTransformer(grouped, whole(grouped), weights)]
    const sessions = models.map((m) => m.openSession('parity'))
    const ids = tokens(7, 8)
    const outputs = await Promise.all(sessions.map((s) => s.forward({ tokens: ids.subarray(0, 4) })))
    expect(relativeError(outputs[0]!, outputs[1]!)).toBeLessThan(1e-4)
    for (let i = 4; i < 7; i++) {
      const [a, b] = await Promise.all(sessions.map((s) => s.forward({ tokens: ids.subarray(i, i + 1) })))
      expect(relativeError(a!, b!)).toBeLessThan(1e-4)
    }
    for (const m of models) m.dispose()
  })
})
