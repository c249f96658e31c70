// Batched steps (forwardMany) on the PyTorch worker: several sessions of one span, at different positions and with
// different input lengths, stepped as one batch give what each session's own forward gives; a bad batch changes no
// session, and the worker keeps serving.
import {
  type BlockRangeModel,
  initTransformerWeights,
  type KvSession,
  type NamedTensor,
  parseTransformerConfig,
  referenceTransformer,
  type SpanInput,
  spanWeights,
  type TransformerSpan,
} from '@weft/runtime'
import { type TorchRuntime, torchRuntime } from '@weft/runtime-torch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomIds, relativeError } from '../../runtime/test/transformer-fixtures.js'
import { testWorker, torchAvailable, torchTestDevice } from './available.js'

const CONFIG = parseTransformerConfig({ vocabSize: 50, hiddenSize: 32, intermediateSize: 64, numLayers: 3, numHeads: 4, numKvHeads: 2, maxPositions: 64 })
const weights = initTransformerWeights(CONFIG, 3)
// Wider than the initial weights, so attention is far from uniform and a wrong position or cache shows.
for (const [name, t] of weights) if (!name.includes('norm')) weights.set(name, { shape: t.shape, data: t.data.map((v) => v * 5) } as NamedTensor)
const WHOLE: TransformerSpan = { embed: true, blocks: [0, 3], head: true }

const ids = (n: number, seed: number): Int32Array => randomIds(n, seed, CONFIG.vocabSize)

describe.skipIf(!torchAvailable)(`torch forwardMany (${torchTestDevice})`, () => {
  let rt: TorchRuntime

  beforeAll(async () => {
    rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
  })

  afterAll(async () => {
    await rt?.dispose()
  })

  const load = (span: TransformerSpan): Promise<BlockRangeModel> => rt.loadTransformer(CONFIG, span, spanWeights(CONFIG, span, weights))

  for (const span of [WHOLE, { embed: false, blocks: [1, 2], head: false }] as TransformerSpan[]) {
    const name = span.embed ? 'whole model' : 'block 1 alone'
    it(`steps sessions at different positions together as each alone would (${name})`, async () => {
      const model = await load(span)
      const single = await load(span)
      // The float64 reference too: the torch span's own forward is no witness for what both paths share.
      const reference = referenceTransformer(CONFIG, span, spanWeights(CONFIG, span, weights))
      expect(model.forwardMany).toBeTypeOf('function')
      const input = (n: number, seed: number): SpanInput =>
        span.embed ? { tokens: ids(n, seed) } : { hidden: Float32Array.from({ length: n * CONFIG.hiddenSize }, (_, i) => Math.sin(i * seed)), count: n }
      // Four sessions: 5 positions held, 2 held, none, 7 held then truncated to 3; steps of 1, 3, 4 and 2 positions.
      const held = [5, 2, 0, 7]
      const steps = [1, 3, 4, 2]
      const batched: KvSession[] = []
      const alone: KvSession[] = []
      const referenced: KvSession[] = []
      for (const [i, n] of held.entries()) {
        batched.push(model.openSession(`b${i}`))
        alone.push(single.openSession(`a${i}`))
        referenced.push(reference.openSession(`r${i}`))
        if (n > 0) {
          await batched[i]!.forward(input(n, i + 1))
          await alone[i]!.forward(input(n, i + 1))
          await referenced[i]!.forward(input(n, i + 1))
        }
      }
      for (const s of [batched[3]!, alone[3]!, referenced[3]!]) s.truncate(3)
      const lengths = batched.map((s) => s.length)
      const out = await model.forwardMany!(steps.map((n, i) => ({ session: batched[i]!, input: input(n, 10 + i) })))
      expect(out).toHaveLength(steps.length)
      for (const [i, n] of steps.entries()) {
        const expected = await alone[i]!.forward(input(n, 10 + i))
        expect(relativeError(out[i]!, expected)).toBeLessThan(1e-5)
        expect(relativeError(out[i]!, await referenced[i]!.forward(input(n, 10 + i)))).toBeLessThan(1e-4)
        expect(batched[i]!.length).toBe(lengths[i]! + n)
      }
      // The next step of each, alone, still agrees: the batch left each cache as its own forward would.
      for (const i of steps.keys()) expect(relativeError(await batched[i]!.forward(input(1, 30)), await alone[i]!.forward(input(1, 30)))).toBeLessThan(1e-5)
      // And a second batch, of two of them in the other order, too.
      const again = await model.forwardMany!([
        { session: batched[2]!, input: input(2, 40) },
        { session: batched[0]!, input: input(1, 41) },
      ])
      expect(relativeError(again[0]!, await alone[2]!.forward(input(2, 40)))).toBeLessThan(1e-5)
      expect(relativeError(again[1]!, await alone[0]!.forward(input(1, 41)))).toBeLessThan(1e-5)
      expect(await model.forwardMany!([])).toEqual([])
      model.dispose()
      single.dispose()
    })
  }

  it('refuses a repeated, foreign, busy or closed session and an input that does not fit, before any session changes', async () => {
    const model = await load(WHOLE)
    const other = await load(WHOLE)
    const a = model.openSession('a')
    const b = model.openSession('b', { maxTokens: 4 })
    await a.forward({ tokens: ids(2, 1) })
    const many = (steps: { session: KvSession; input: SpanInput }[]) => model.forwardMany!(steps)
    const step = (session: KvSession, n: number, seed = 5) => ({ session, input: { tokens: ids(n, seed) } })
    await expect(many([step(a, 1), step(b, 1), step(a, 1)])).rejects.toThrow(/appears twice/)
    await expect(many([step(a, 1), step(other.openSession('x'), 1)])).rejects.toThrow(/not one of this span's/)
    await expect(many([step(a, 1), step(b, 5)])).rejects.toThrow(/maxTokens/)
    await expect(many([step(a, 1), { session: b, input: { tokens: Int32Array.of(50) } }])).rejects.toThrow(/token id 50/)
    await expect(many([step(b, 1), { session: a, input: { hidden: new Float32Array(32), count: 1 } }])).rejects.toThrow(RangeError)
    const closed = model.openSession('closed')
    closed.close()
    await expect(many([step(a, 1), step(closed, 1)])).rejects.toThrow(/closed/)
    // A session with a forward in flight is refused, and so is a forward while a batch holds it.
    const running = a.forward({ tokens: ids(1, 6) })
    await expect(many([step(b, 1), step(a, 1)])).rejects.toMatchObject({ name: 'KvSessionBusyError' })
    await running
    const batch = many([step(a, 1, 7), step(b, 2, 8)])
    await expect(b.forward({ tokens: ids(1, 9) })).rejects.toMatchObject({ name: 'KvSessionBusyError' })
    expect(() => a.truncate(0)).toThrow(expect.objectContaining({ name: 'KvSessionBusyError' }))
    await batch
    expect([a.length, b.length]).toEqual([4, 2])
    // Nothing the refused batches carried reached a cache: the sessions agree with a fresh replay of what they took.
    const replay = other.openSession('replay')
    await replay.forward({ tokens: ids(2, 1) })
    await replay.forward({ tokens: ids(1, 6) })
    await replay.forward({ tokens: ids(1, 7) })
    expect(relativeError(await a.forward({ tokens: ids(1, 10) }), await replay.forward({ tokens: ids(1, 10) }))).toBeLessThan(1e-5)
    expect(rt.restarts).toBe(0)
    model.dispose()
    other.dispose()
    await expect(many([step(a, 1)])).rejects.toThrow(/disposed/)
  })

})

describe.skipIf(!torchAvailable)('torch forwardMany under hostile requests', () => {
  const worker = testWorker()

  it('the worker checks every step before it runs any, and keeps serving', async () => {
    const { proc } = worker
    const span: TransformerSpan = { embed: true, blocks: [0, 1], head: false }
    await proc.request({ op: 'transformer_load', transformer: 't', config: CONFIG, span })
    for (const [name, t] of spanWeights(CONFIG, span, weights)) {
      await proc.request({ op: 'transformer_put', transformer: 't', pieces: [{ name, offset: 0 }] }, [{ data: t.data }])
    }
    await proc.request({ op: 'transformer_ready', transformer: 't' })
    const many = (steps: unknown, buffers: Int32Array[]) => proc.request({ op: 'transformer_forward_many', transformer: 't', steps }, buffers.map((data) => ({ data })))
    const step = (session: unknown, start: unknown = 0, maxTokens: unknown = 8) => ({ session, start, maxTokens })
    await expect(many([step('a'), step('a')], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/appears twice/)
    await expect(many([step('a')], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/one input buffer per step/)
    await expect(many([], [])).rejects.toThrow(/1 to 256 steps/)
    await expect(many('a', [ids(1, 1)])).rejects.toThrow(/1 to 256 steps/)
    const tooMany = Array.from({ length: 257 }, (_, i) => step(`s${i}`))
    await expect(many(tooMany, tooMany.map(() => ids(1, 1)))).rejects.toThrow(/1 to 256 steps/)
    await expect(many([step('a'), 7], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/each step/)
    await expect(many([step('a'), step('x'.repeat(300))], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/session must be a string/)
    await expect(many([step('a'), step('b', 0, 65)], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/maxTokens/)
    await expect(many([step('a'), step('b', 2)], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/no session b/)
    await expect(many([step('a'), step('b', true)], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/start must be an integer/)
    await expect(many([step('a'), step('b')], [ids(1, 1), Int32Array.of(50)])).rejects.toThrow(/token ids must be in/)
    await expect(many([step('a'), step('b', 0, 2)], [ids(1, 1), ids(3, 2)])).rejects.toThrow(/do not fit/)
    // None of those made session a: a step from position 1 finds no session.
    await expect(many([step('a', 1)], [ids(1, 1)])).rejects.toThrow(/no session a/)
    const r = await many([step('a'), step('b')], [ids(3, 1), ids(2, 2)])
    expect(r.buffers.map((b) => b.length)).toEqual([3 * CONFIG.hiddenSize, 2 * CONFIG.hiddenSize])
    await expect(many([step('a', 3), step('b', 3)], [ids(1, 1), ids(1, 2)])).rejects.toThrow(/past the session's 2/)
    // The refused batch left a at 3: it steps on from there.
    expect((await many([step('a', 3), step('b', 2)], [ids(1, 3), ids(1, 4)])).buffers).toHaveLength(2)
    await proc.request({ op: 'transformer_drop', transformer: 't' })
    await expect(many([step('a', 4)], [ids(1, 1)])).rejects.toThrow(/no transformer t/)
    expect(proc.restarts).toBe(0)
  })
})
