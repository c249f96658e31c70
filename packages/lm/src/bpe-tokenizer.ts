// The byte-level BPE tokenizer: encode (pre-tokenize, bytes, merges by rank), decode, and its vocabulary model.
import { BYTE_TO_CHAR, CHAR_TO_BYTE, PRE_TOKENIZE_PATTERN } from './byte-level.js'
import { TokenizerJsonError, UnknownTokenIdError } from './errors.js'

/** GPT-2's end-of-text token, Weft's default special token (use it as BOS and EOS). */
export const END_OF_TEXT = '<|endoftext|>'

/** The most tokens a vocabulary may hold (pair keys pack two ids into one safe integer). */
export const MAX_VOCAB_SIZE = 1 << 21

/**
 * A byte-level BPE vocabulary: what a tokenizer.json's model and added tokens hold, by id.
 * Ordinary tokens are strings over BYTE_TO_CHAR's alphabet; special tokens are their literal text.
 */
export interface BpeModel {
  /** Token by id: every id from 0 to `vocab.length - 1` has one; no two ids share a token. */
  readonly vocab: readonly string[]
  /** The merges in rank order (rank 0 first), each as the pair of ids it joins; the result is their concatenation. */
  readonly merges: readonly (readonly [number, number])[]
  /** Ids of the special tokens (each one id, never produced by `encode`). */
  readonly specialIds: readonly number[]
}

/** A byte-level BPE tokenizer. */
export interface BpeTokenizer {
  /** The number of ids (ordinary and special tokens). */
  readonly vocabSize: number
  /** The model it was built from (frozen). */
  readonly model: BpeModel
  /** Special tokens: text → id. */
  readonly specialTokens: ReadonlyMap<string, number>
  /**
   * Encode text as ordinary tokens. Special-token text (`<|endoftext|>`) in `text` is encoded as plain text, so it
   * never yields a special id: add those ids yourself (`specialTokens.get(END_OF_TEXT)`).
   * @param text any string (lone surrogates are encoded as U+FFFD, as UTF-8 requires)
   * @returns the token ids
   */
  encode(text: string): number[]
  /**
   * Decode ids to text: their bytes, concatenated, read as UTF-8 (invalid sequences become U+FFFD); a special
   * id decodes to its text.
   * @throws UnknownTokenIdError on an id outside the vocabulary
   */
  decode(ids: Iterable<number>): string
  /** The id of a token (byte-level string, or a special token's text), or undefined. */
  tokenToId(token: string): number | undefined
  /** The token of an id, or undefined. */
  idToToken(id: number): string | undefined
}

const PAIR_SHIFT = MAX_VOCAB_SIZE
const pairKey = (a: number, b: number): number => a * PAIR_SHIFT + b

/** Words encoded once are kept up to this many entries; past it the cache starts afresh. */
const CACHE_LIMIT = 65_536

/**
 * Build a tokenizer from a vocabulary and its merges.
 * @param model vocab by id, merges in rank order, special ids
 * @returns the tokenizer
 * @throws TokenizerJsonError (field `model.*`) when a byte has no token, a token is repeated, a merge names an
 *   unknown id or its result is not in the vocabulary, or a special id is out of range
 */
export function createBpeTokenizer(model: BpeModel): BpeTokenizer {
  return new ByteLevelBpe(model)
}

class ByteLevelBpe implements BpeTokenizer {
  readonly vocabSize: number
  readonly model: BpeModel
  readonly specialTokens: ReadonlyMap<string, number>
  readonly #tokenToId = new Map<string, number>()
  /** id → its bytes (a special token: the UTF-8 of its text). */
  readonly #bytes: Uint8Array[] = []
  /** byte → id. */
  readonly #byteIds = new Int32Array(256)
  /** pair key → rank. */
  readonly #ranks = new Map<number, number>()
  /** rank → the id the merge produces. */
  readonly #mergeIds: Int32Array
  readonly #cache = new Map<string, readonly number[]>()
  readonly #encoder = new TextEncoder()
  readonly #decoder = new TextDecoder('utf-8')

  constructor(model: BpeModel) {
    const { vocab, merges, specialIds } = model
    if (vocab.length > MAX_VOCAB_SIZE) throw new TokenizerJsonError('model.vocab', `${vocab.length} tokens; at most ${MAX_VOCAB_SIZE}`)
    const special = new Map<string, number>()
    for (const [i, id] of specialIds.entries()) {
      const token = vocab[id]
      if (!Number.isSafeInteger(id) || token === undefined) throw new TokenizerJsonError(`added_tokens.${i}.id`, `${id} is not an id of the vocabulary`)
      special.set(token, id)
    }
    for (const [id, token] of vocab.entries()) {
      if (this.#tokenToId.has(token)) throw new TokenizerJsonError(`model.vocab.${token}`, `token repeated (ids ${this.#tokenToId.get(token)} and ${id})`)
      this.#tokenToId.set(token, id)
      if (special.get(token) === id) {
        this.#bytes.push(this.#encoder.encode(token))
        continue
      }
      const bytes = new Uint8Array(token.length)
      for (let i = 0; i < token.length; i++) {
        const b = CHAR_TO_BYTE.get(token.charCodeAt(i))
        if (b === undefined) throw new TokenizerJsonError(`model.vocab.${token}`, `character U+${token.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')} is not in the byte-level alphabet`)
        bytes[i] = b
      }
      this.#bytes.push(bytes)
    }
    for (let b = 0; b < 256; b++) {
      const id = this.#tokenToId.get(BYTE_TO_CHAR[b] as string)
      if (id === undefined) throw new TokenizerJsonError('model.vocab', `byte 0x${b.toString(16)} ("${BYTE_TO_CHAR[b]}") has no token`)
      this.#byteIds[b] = id
    }
    this.#mergeIds = new Int32Array(merges.length)
    for (const [rank, [a, b]] of merges.entries()) {
      const left = vocab[a]
      const right = vocab[b]
      if (left === undefined || right === undefined) throw new TokenizerJsonError(`model.merges.${rank}`, `ids ${a} and ${b} must both be in the vocabulary`)
      const id = this.#tokenToId.get(left + right)
      if (id === undefined) throw new TokenizerJsonError(`model.merges.${rank}`, `"${left}${right}" is not in the vocabulary`)
      if (special.get(left + right) === id) throw new TokenizerJsonError(`model.merges.${rank}`, `it would produce the special token "${left}${right}"`)
      const key = pairKey(a, b)
      if (!this.#ranks.has(key)) this.#ranks.set(key, rank)
      this.#mergeIds[rank] = id
    }
    this.vocabSize = vocab.length
    this.specialTokens = special
    this.model = Object.freeze({
      vocab: Object.freeze([...vocab]),
      merges: Object.freeze(merges.map(([a, b]) => Object.freeze([a, b] as const))),
      specialIds: Object.freeze([...specialIds]),
    })
  }

  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${typeof text}`)
    const out: number[] = []
    for (const m of text.matchAll(PRE_TOKENIZE_PATTERN)) {
      const word = m[0]
      let ids = this.#cache.get(word)
      if (ids === undefined) {
        ids = this.#encodeWord(word)
        if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear()
        this.#cache.set(word, ids)
      }
      for (const id of ids) out.push(id)
    }
    return out
  }

  /**
   * One pre-token: its bytes as ids, then merges applied lowest rank first, leftmost first among equal ranks (a
   * heap of candidate pairs over a linked list of symbols: O(n log n) in the word's length).
   */
  #encodeWord(word: string): number[] {
    const bytes = this.#encoder.encode(word)
    const n = bytes.length
    const sym = new Int32Array(n)
    const next = new Int32Array(n)
    const prev = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      sym[i] = this.#byteIds[bytes[i] as number] as number
      next[i] = i + 1 < n ? i + 1 : -1
      prev[i] = i - 1
    }
    // Candidates as numbers: rank * 2^32 + position of the pair's left symbol (min-heap).
    const heap: number[] = []
    const consider = (pos: number): void => {
      const right = next[pos] as number
      if (right < 0) return
      const rank = this.#ranks.get(pairKey(sym[pos] as number, sym[right] as number))
      if (rank !== undefined) heapPush(heap, rank * 4294967296 + pos)
    }
    for (let i = 0; i + 1 < n; i++) consider(i)
    while (heap.length > 0) {
      const top = heapPop(heap)
      const rank = Math.floor(top / 4294967296)
      const pos = top - rank * 4294967296
      if (sym[pos] === -1) continue
      const right = next[pos] as number
      if (right < 0 || this.#ranks.get(pairKey(sym[pos] as number, sym[right] as number)) !== rank) continue
      sym[pos] = this.#mergeIds[rank] as number
      sym[right] = -1
      const after = next[right] as number
      next[pos] = after
      if (after >= 0) prev[after] = pos
      const before = prev[pos] as number
      if (before >= 0) consider(before)
      consider(pos)
    }
    const ids: number[] = []
    for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i] as number) ids.push(sym[i] as number)
    return ids
  }

  decode(ids: Iterable<number>): string {
    const parts: Uint8Array[] = []
    let length = 0
    for (const id of ids) {
      const bytes = this.#bytes[id]
      if (bytes === undefined) throw new UnknownTokenIdError(id, this.vocabSize)
      parts.push(bytes)
      length += bytes.length
    }
    const all = new Uint8Array(length)
    let at = 0
    for (const p of parts) {
      all.set(p, at)
      at += p.length
    }
    return this.#decoder.decode(all)
  }

  tokenToId(token: string): number | undefined {
    return this.#tokenToId.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.model.vocab[id]
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length
  heap.push(value)
  while (i > 0) {
    const parent = (i - 1) >> 1
    const p = heap[parent] as number
    if (p <= value) break
    heap[i] = p
    i = parent
  }
  heap[i] = value
}

function heapPop(heap: number[]): number {
  const top = heap[0] as number
  const last = heap.pop() as number
  const n = heap.length
  if (n > 0) {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && (heap[r] as number) < (heap[l] as number) ? r : l
      if ((heap[c] as number) >= last) break
      heap[i] = heap[c] as number
      i = c
    }
    heap[i] = last
  }
  return top
}
