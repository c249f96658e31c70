// What the transformer tests of every engine share: seeded weights widened so a wrong formula shows, seeded token ids,
// the relative error they compare by, and the float64 oracle's next-token loss.
import {
  type BlockRangeModel,
  initTransformerWeights,
  mulberry32,
  type NamedTensor,
  referenceTransformer,
  spanWeights,
  type TransformerConfig,
} from '@weft/runtime'
import { expect } from 'vitest'

/**
 * Seeded weights of a whole model, wider than Hugging Face's initial ones (std 0.08, norms 1 ± 0.2) so attention is
 * far from uniform and the norm weights matter: a wrong rotary or norm then shows in the logits.
 */
export function testWeights(c: TransformerConfig, seed: number): Map<string, NamedTensor> {
  const rng = mulberry32(seed ^ 0x5eed)
  const weights = initTransformerWeights(c, seed)
  for (const [name, t] of weights) {
    const data = t.shape.length === 1 ? t.data.map(() => 1 + 0.4 * (rng.next() - 0.5)) : t.data.map((v) => v * 4)
    weights.set(name, { shape: t.shape, data })
  }
  return weights
}

/** Seeded weights with matrices 5× the initial ones (norms left at 1): the loss is far from uniform. */
export function wideWeights(c: TransformerConfig, seed: number): Map<string, NamedTensor> {
  const w = initTransformerWeights(c, seed)
  for (const [name, t] of w) if (t.shape.length > 1) w.set(name, { shape: t.shape, data: t.data.map((v) => v * 5) })
  return w
}

/** `n` seeded token ids below `vocab`. */
export function randomIds(n: number, seed: number, vocab: number): Int32Array {
  const rng = mulberry32(seed)
  return Int32Array.from({ length: n }, () => rng.nextUint32() % vocab)
}

/** Largest absolute difference, relative to the largest magnitude of `expected` (at least 1e-6). */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length)
  let diff = 0
  let scale = 1e-6
  for (const [i, e] of expected.entries()) {
    diff = Math.max(diff, Math.abs((actual[i] as number) - e))
    scale = Math.max(scale, Math.abs(e))
  }
  return diff / scale
}

/** Forwards `ids` through a fresh session of `model` and closes it. */
export async function logitsOf(model: BlockRangeModel, ids: Int32Array): Promise<Float32Array> {
  const s = model.openSession('once')
  try {
    return await s.forward({ tokens: ids })
  } finally {
    s.close()
  }
}

/** Mean next-token cross-entropy of `batch` sequences laid end to end in `tokens`, from the oracle's logits (float64). */
export async function oracleLoss(c: TransformerConfig, weights: ReadonlyMap<string, NamedTensor>, tokens: Int32Array, batch: number): Promise<number> {
  const whole = { embed: true, blocks: [0, c.numLayers] as const, head: true }
  const model = referenceTransformer(c, whole, spanWeights(c, whole, weights))
  const length = tokens.length / batch
  let sum = 0
  for (let b = 0; b < batch; b++) {
    const seq = tokens.subarray(b * length, (b + 1) * length)
    const logits = await model.openSession(`s${b}`).forward({ tokens: seq.subarray(0, length - 1) })
    for (let p = 0; p < length - 1; p++) {
      const row = logits.subarray(p * c.vocabSize, (p + 1) * c.vocabSize)
      const max = Math.max(...row)
      const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0))
      sum += lse - (row[seq[p + 1] as number] as number)
    }
  }
  model.dispose()
  return sum / (batch * (length - 1))
}
