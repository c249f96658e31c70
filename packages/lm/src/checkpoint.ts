// A language-model checkpoint: one safetensors file holding the Llama-named weights, with the model's Hugging Face
// config.json and its tokenizer.json in the file's string metadata, so one content address names everything a
// server or a client needs, and Hugging Face tools read the tensors as they are.
import {
  checkTransformerWeights,
  decodeSafetensors,
  encodeSafetensors,
  type NamedTensor,
  parseTransformerConfig,
  type TransformerConfig,
  toHfLlamaConfig,
} from '@weft/runtime'
import type { BpeTokenizer } from './bpe-tokenizer.js'
import { fromTokenizerJson, toTokenizerJson } from './tokenizer-json.js'

/** Metadata key of the checkpoint format's version. */
export const LM_CHECKPOINT_FORMAT = 'weft-lm/1'

/** A checkpoint's contents. */
export interface LmCheckpoint {
  readonly config: TransformerConfig
  readonly weights: ReadonlyMap<string, NamedTensor>
  readonly tokenizer: BpeTokenizer
  /** How it was made (command, steps, perplexity...), free-form strings. */
  readonly info: Readonly<Record<string, string>>
}

/** A checkpoint that cannot be read: the message names what is missing or wrong. */
export class LmCheckpointError extends Error {
  override readonly name = 'LmCheckpointError'
}

/**
 * Writes a checkpoint as safetensors bytes.
 * @throws InvalidModelSpecError when the weights are not the config's whole model
 */
export function encodeLmCheckpoint(c: LmCheckpoint): Uint8Array {
  checkTransformerWeights(c.config, { embed: true, blocks: [0, c.config.numLayers], head: true }, c.weights)
  return encodeSafetensors(c.weights, {
    ...c.info,
    format: 'pt',
    'weft.format': LM_CHECKPOINT_FORMAT,
    'weft.config': JSON.stringify(toHfLlamaConfig(c.config)),
    'weft.tokenizer': toTokenizerJson(c.tokenizer),
  })
}

/**
 * Reads a checkpoint.
 * @throws LmCheckpointError when the file is not a Weft LM checkpoint, or its config, tokenizer or weights are bad
 */
export function decodeLmCheckpoint(bytes: Uint8Array): LmCheckpoint {
  let file: ReturnType<typeof decodeSafetensors>
  try {
    file = decodeSafetensors(bytes)
  } catch (err) {
    throw new LmCheckpointError(`not a safetensors file: ${(err as Error).message}`)
  }
  const { metadata, tensors } = file
  if (metadata['weft.format'] !== LM_CHECKPOINT_FORMAT) throw new LmCheckpointError(`metadata weft.format is ${JSON.stringify(metadata['weft.format'])}; ${LM_CHECKPOINT_FORMAT} expected`)
  const field = (key: string): string => {
    const v = metadata[key]
    if (v === undefined) throw new LmCheckpointError(`metadata ${key} is missing`)
    return v
  }
  let config: TransformerConfig
  let tokenizer: BpeTokenizer
  try {
    config = parseTransformerConfig(JSON.parse(field('weft.config')))
    tokenizer = fromTokenizerJson(field('weft.tokenizer'))
    checkTransformerWeights(config, { embed: true, blocks: [0, config.numLayers], head: true }, tensors)
  } catch (err) {
    if (err instanceof LmCheckpointError) throw err
    throw new LmCheckpointError((err as Error).message)
  }
  if (tokenizer.vocabSize > config.vocabSize) throw new LmCheckpointError(`the tokenizer has ${tokenizer.vocabSize} ids; the model embeds ${config.vocabSize}`)
  const info: Record<string, string> = {}
  for (const [k, v] of Object.entries(metadata)) if (!k.startsWith('weft.') && k !== 'format') info[k] = v
  return { config, weights: tensors, tokenizer, info }
}
