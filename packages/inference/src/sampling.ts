// Picking the next token from logits: greedy at temperature 0, else softmax at a temperature, cut to the smallest set
// of tokens whose probability reaches top_p (nucleus sampling), drawn with a seeded generator so a seed repeats.
import type { Prng } from '@weft/runtime'

/** How the next token is chosen. */
export interface SamplingOptions {
  /** 0 (default): the most likely token. Above 0: sample from softmax(logits / temperature). */
  readonly temperature?: number
  /** Keep the most likely tokens up to this total probability (default 1: all). */
  readonly topP?: number
}

/**
 * The next token id from one position's logits.
 * @throws RangeError for a negative temperature or a top_p outside (0, 1]
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, rng: Prng): number {
  const temperature = options.temperature ?? 0
  const topP = options.topP ?? 1
  if (!(temperature >= 0)) throw new RangeError(`temperature must be 0 or more, got ${temperature}`)
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top_p must be in (0, 1], got ${topP}`)
  let argmax = 0
  for (let i = 1; i < logits.length; i++) if ((logits[i] as number) > (logits[argmax] as number)) argmax = i
  if (temperature === 0) return argmax
  const max = logits[argmax] as number
  const probs = new Float64Array(logits.length)
  let sum = 0
  for (let i = 0; i < logits.length; i++) {
    probs[i] = Math.exp(((logits[i] as number) - max) / temperature)
    sum += probs[i] as number
  }
  const order = [...probs.keys()].sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b)
  let kept = 0
  let mass = 0
  for (const i of order) {
    kept++
    mass += (probs[i] as number) / sum
    if (mass >= topP) break
  }
  let r = rng.next() * mass * sum
  for (let k = 0; k < kept; k++) {
    const i = order[k] as number
    r -= probs[i] as number
    if (r < 0) return i
  }
  return order[kept - 1] as number
}
