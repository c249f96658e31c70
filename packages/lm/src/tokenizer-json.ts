// Hugging Face tokenizer.json for byte-level BPE: writing one for a Weft tokenizer, and loading one (checked) back.
import { type BpeTokenizer, createBpeTokenizer, MAX_VOCAB_SIZE } from './bpe-tokenizer.js'
import { TokenizerJsonError } from './errors.js'

const VOCAB_PLACEHOLDER = '"@@weft-vocab@@"'

/**
 * Serialize a tokenizer as a Hugging Face `tokenizer.json` (model BPE, ByteLevel pre-tokenizer, post-processor and
 * decoder, vocab with the special tokens in it, merges as `"left right"` strings, the special tokens as
 * `added_tokens`), as the `tokenizers` library's own trainer writes one. The vocab is written in id order and the
 * output is the same bytes for the same tokenizer.
 * @param tokenizer the tokenizer
 * @returns the JSON text (2-space indented)
 */
export function toTokenizerJson(tokenizer: BpeTokenizer): string {
  const { vocab, merges, specialIds } = tokenizer.model
  const doc = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...specialIds]
      .sort((a, b) => a - b)
      .map((id) => ({ id, content: vocab[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: '@@weft-vocab@@',
      merges: merges.map(([a, b]) => `${vocab[a]} ${vocab[b]}`),
    },
  }
  // An object's integer-like keys ("0", "1") would be written first; the vocab is written by hand, in id order.
  const entries = vocab.map((token, id) => `      ${JSON.stringify(token)}: ${id}`)
  const vocabJson = entries.length === 0 ? '{}' : `{\n${entries.join(',\n')}\n    }`
  const text = JSON.stringify(doc, null, 2)
  return text.replace(VOCAB_PLACEHOLDER, () => vocabJson)
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

const isObject = (v: unknown): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v)

function field(obj: { [key: string]: Json }, key: string): Json | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

/** `value` must be absent, null or one of `allowed`. */
function expectOneOf(value: Json | undefined, allowed: readonly Json[], path: string, what: string): void {
  if (value === undefined || value === null || allowed.includes(value)) return
  throw new TokenizerJsonError(path, `${JSON.stringify(value)} is not supported (${what})`)
}

/**
 * Load a byte-level BPE `tokenizer.json` (as `toTokenizerJson` writes, or the `tokenizers` library's ByteLevel BPE:
 * GPT-2's family), checking every field this implementation relies on.
 * @param json the file's text, or its parsed value
 * @returns the tokenizer
 * @throws TokenizerJsonError naming the field when the JSON is malformed or describes something this tokenizer does
 *   not run (another model type, a normalizer, another pre-tokenizer, a prefix space, dropout, merges ignored,
 *   byte fallback, a continuing-subword prefix or end-of-word suffix, non-special added tokens, ids with gaps)
 */
export function fromTokenizerJson(json: string | unknown): BpeTokenizer {
  let doc: unknown = json
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json)
    } catch (err) {
      throw new TokenizerJsonError('(root)', 'not JSON', { cause: err })
    }
  }
  if (!isObject(doc)) throw new TokenizerJsonError('(root)', 'expected an object')
  const normalizer = field(doc, 'normalizer')
  if (normalizer !== undefined && normalizer !== null) throw new TokenizerJsonError('normalizer', 'must be null (a byte-level BPE reads the text as it is)')
  const pre = field(doc, 'pre_tokenizer')
  if (!isObject(pre) || pre['type'] !== 'ByteLevel') throw new TokenizerJsonError('pre_tokenizer.type', 'must be "ByteLevel"')
  if (pre['add_prefix_space'] === true) throw new TokenizerJsonError('pre_tokenizer.add_prefix_space', 'true is not supported')
  if (pre['use_regex'] === false) throw new TokenizerJsonError('pre_tokenizer.use_regex', 'false is not supported')
  const decoder = field(doc, 'decoder')
  if (decoder !== undefined && decoder !== null && (!isObject(decoder) || decoder['type'] !== 'ByteLevel')) {
    throw new TokenizerJsonError('decoder.type', 'must be "ByteLevel" or absent')
  }
  const model = field(doc, 'model')
  if (!isObject(model)) throw new TokenizerJsonError('model', 'expected an object')
  if (model['type'] !== undefined && model['type'] !== 'BPE') throw new TokenizerJsonError('model.type', `${JSON.stringify(model['type'])}; only "BPE" is supported`)
  expectOneOf(model['dropout'], [], 'model.dropout', 'dropout must be null')
  expectOneOf(model['continuing_subword_prefix'], [''], 'model.continuing_subword_prefix', 'must be null or ""')
  expectOneOf(model['end_of_word_suffix'], [''], 'model.end_of_word_suffix', 'must be null or ""')
  expectOneOf(model['byte_fallback'], [false], 'model.byte_fallback', 'must be false')
  expectOneOf(model['ignore_merges'], [false], 'model.ignore_merges', 'must be false')

  const rawVocab = model['vocab']
  if (!isObject(rawVocab)) throw new TokenizerJsonError('model.vocab', 'expected an object of token → id')
  const byId: (string | undefined)[] = []
  const setId = (token: string, id: Json | undefined, path: string): void => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= MAX_VOCAB_SIZE) {
      throw new TokenizerJsonError(path, `id ${JSON.stringify(id)} is not an integer from 0 to ${MAX_VOCAB_SIZE - 1}`)
    }
    const had = byId[id]
    if (had !== undefined && had !== token) throw new TokenizerJsonError(path, `id ${id} is given to both "${had}" and "${token}"`)
    byId[id] = token
  }
  for (const token of Object.keys(rawVocab)) setId(token, rawVocab[token], `model.vocab.${token}`)

  const specialIds: number[] = []
  const added = field(doc, 'added_tokens') ?? []
  if (!Array.isArray(added)) throw new TokenizerJsonError('added_tokens', 'expected an array')
  for (const [i, t] of added.entries()) {
    if (!isObject(t) || typeof t['content'] !== 'string' || t['content'] === '') throw new TokenizerJsonError(`added_tokens.${i}.content`, 'expected a non-empty string')
    if (t['special'] !== true) throw new TokenizerJsonError(`added_tokens.${i}.special`, 'only special added tokens are supported')
    setId(t['content'], t['id'], `added_tokens.${i}.id`)
    specialIds.push(t['id'] as number)
  }
  const vocab: string[] = []
  for (let id = 0; id < byId.length; id++) {
    const token = byId[id]
    if (token === undefined) throw new TokenizerJsonError('model.vocab', `no token has id ${id} (ids must run from 0 without gaps)`)
    vocab.push(token)
  }
  const tokenIds = new Map(vocab.map((t, id) => [t, id]))

  const rawMerges = model['merges'] ?? []
  if (!Array.isArray(rawMerges)) throw new TokenizerJsonError('model.merges', 'expected an array')
  const merges = rawMerges.map((m, rank): [number, number] => {
    let pair: Json[] | undefined
    if (typeof m === 'string') {
      const parts = m.split(' ')
      pair = parts.length === 2 ? parts : undefined
    } else if (Array.isArray(m) && m.length === 2) pair = m
    const [left, right] = pair ?? []
    const a = typeof left === 'string' ? tokenIds.get(left) : undefined
    const b = typeof right === 'string' ? tokenIds.get(right) : undefined
    if (a === undefined || b === undefined) {
      throw new TokenizerJsonError(`model.merges.${rank}`, `${JSON.stringify(m)} is not a pair of tokens of the vocabulary ("left right" or ["left", "right"])`)
    }
    return [a, b]
  })
  return createBpeTokenizer({ vocab, merges, specialIds })
}
