// Batched steps (forwardMany): several sessions of one span, at different positions and with different input
// lengths, stepped as one batch give what each session's own forward gives; a bad batch changes no session.
import * as tf from '@tensorflow/tfjs-core'
import { initTransformerWeights, type KvSession, type NamedTensor, parseTransformerConfig, spanWeights, type TransformerSpan } from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomIds, relativeError } from '../../runtime/test/transformer-fixtures.js'

const CONFIG = parseTransformerConfig({ vocabSize: 50, hiddenSize: 32, intermediateSize: 64, numLayers: 3, numHeads: 4, numKvHeads: 2, maxPositions: 64 })
const weights = initTransformerWeights(CONFIG, 3)
for (const [name, t] of weights) if (!name.includes('norm')) weights.set(name, { shape: t.shape, data: t.data.map((v) => v * 5) } as NamedTensor)

let engine: TfjsRuntime
beforeAll(async () => {
  engine = await tfjsRuntime({ backend: 'wasm' })
})
afterAll(async () => engine?.dispose())

const ids = (n: number, seed: number): Int32Array => randomIds(n, seed, CONFIG.vocabSize)

describe('tfjs forwardMany', () => {
  for (const span of [
    { embed: true, blocks: [0, 3], head: true },
    { embed: false, blocks: [1, 3], head: true },
  ] as TransformerSpan[]) {
    it(`steps sessions at different positions together as each alone would (${span.embed ? 'whole model' : 'blocks 1-3'})`, async () => {
      const model = await engine.loadTransformer(CONFIG, span, spanWeights(CONFIG, span, weights))
      const single = await engine.loadTransformer(CONFIG, span, spanWeights(CONFIG, span, weights))
      const input = (n: number, seed: number) => (span.embed ? { tokens: ids(n, seed) } : { hidden: Float32Array.from({ length: n * 32 }, (_, i) => Math.sin(i * seed)), count: n })
      // Three sessions: 5 positions held, 2 held, none; steps of 1, 3 and 4 positions.
      const lengths = [5, 2, 0]
      const steps = [1, 3, 4]
      const batched: KvSession[] = []
      const alone: KvSession[] = []
      for (const [i, held] of lengths.entries()) {
        batched.push(model.openSession(`b${i}`))
        alone.push(single.openSession(`a${i}`))
        if (held > 0) {
          await batched[i]?.forward(input(held, i + 1))
          await alone[i]?.forward(input(held, i + 1))
        }
      }
      const before = tf.memory().numTensors
      const out = await model.forwardMany?.(steps.map((n, i) => ({ session: batched[i] as KvSession, input: input(n, 10 + i) })))
      // Nothing leaks: the only new tensors are the cache (k and v per block) of the session that held none.
      expect(tf.memory().numTensors - before).toBe(2 * (span.blocks[1] - span.blocks[0]))
      for (const [i, n] of steps.entries()) {
        const expected = await alone[i]?.forward(input(n, 10 + i))
        expect(relativeError(out?.[i] as Float32Array, expected as Float32Array)).toBeLessThan(1e-5)
        expect(batched[i]?.length).toBe((lengths[i] as number) + n)
      }
      // The next step of each, alone, still agrees: the batch left each cache as its own forward would.
      for (const i of [0, 1, 2]) expect(relativeError(await (batched[i] as KvSession).forward(input(1, 30)), (await alone[i]?.forward(input(1, 30))) as Float32Array)).toBeLessThan(1e-5)
      model.dispose()
      single.dispose()
    })
  }

  it('refuses a repeated or foreign session, and an input that does not fit, before any session changes', async () => {
    const whole: TransformerSpan = { embed: true, blocks: [0, 3], head: true }
    const model = await engine.loadTransformer(CONFIG, whole, spanWeights(CONFIG, whole, weights))
    const other = await engine.loadTransformer(CONFIG, whole, spanWeights(CONFIG, whole, weights))
    const a = model.openSession('a')
    const b = model.openSession('b', { maxTokens: 2 })
    await expect(model.forwardMany?.([{ session: a, input: { tokens: ids(1, 1) } }, { session: a, input: { tokens: ids(1, 2) } }])).rejects.toThrow(/appears twice/)
    await expect(model.forwardMany?.([{ session: other.openSession('x'), input: { tokens: ids(1, 1) } }])).rejects.toThrow(/not one of this span's/)
    await expect(model.forwardMany?.([{ session: a, input: { tokens: ids(1, 1) } }, { session: b, input: { tokens: ids(3, 2) } }])).rejects.toThrow(/would pass the session's 2/)
    expect([a.length, b.length]).toEqual([0, 0])
    model.dispose()
    other.dispose()
  })
})
