// Generating on one engine, no mesh: a prompt continued through a whole model (or any span with embed and head).
import type { BlockRangeModel } from '@weft/runtime'
import { mulberry32 } from '@weft/runtime'
import { sampleToken } from './sampling.js'

/** What `continueText` needs of a tokenizer. */
export interface TextTokenizer {
  encode(text: string): number[]
  decode(ids: Iterable<number>): string
}

/**
 * Greedy (temperature 0) or sampled continuation of a prompt on one engine, in a session of its own (closed after).
 * @throws RangeError when the prompt leaves no room in the model's context
 */
export async function continueText(
  model: BlockRangeModel,
  tokenizer: TextTokenizer,
  prompt: string,
  o: { readonly maxTokens: number; readonly temperature: number; readonly topP: number; readonly seed: number },
): Promise<{ text: string; tokens: number[] }> {
  const session = model.openSession(`local-${globalThis.crypto.randomUUID()}`)
  try {
    const rng = mulberry32(o.seed)
    const ids = tokenizer.encode(prompt)
    const room = Math.min(o.maxTokens, model.config.maxPositions - ids.length)
    if (room <= 0) throw new RangeError(`the prompt is ${ids.length} tokens; the model takes ${model.config.maxPositions}`)
    const out: number[] = []
    let logits = await session.forward({ tokens: Int32Array.from(ids) })
    for (let i = 0; i < room; i++) {
      const token = sampleToken(logits.subarray(logits.length - model.config.vocabSize), { temperature: o.temperature, topP: o.topP }, rng)
      out.push(token)
      if (i + 1 < room) logits = await session.forward({ tokens: Int32Array.of(token) })
    }
    return { text: tokenizer.decode(out), tokens: out }
  } finally {
    session.close()
  }
}
