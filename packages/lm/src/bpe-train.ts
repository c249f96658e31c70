// Training a byte-level BPE vocabulary: word counts, a pair index and a max-heap, updated per merge (no rescans).
import { BYTE_TO_CHAR, PRE_TOKENIZE_PATTERN } from './byte-level.js'
import { type BpeTokenizer, createBpeTokenizer, END_OF_TEXT, MAX_VOCAB_SIZE } from './bpe-tokenizer.js'

/** Options of `trainBpe`. */
export interface BpeTrainInit {
  /** The vocabulary size to reach: special tokens + 256 bytes + merges. Training stops earlier when no pair is
   * frequent enough. */
  readonly vocabSize: number
  /** A pair is merged only while it occurs at least this often (default 2). */
  readonly minFrequency?: number
  /** Special tokens, given ids 0, 1, ... in this order (default `['<|endoftext|>']`). */
  readonly specialTokens?: readonly string[]
}

/**
 * Train a byte-level BPE tokenizer (GPT-2's alphabet and pre-tokenizer split).
 *
 * Ids: the special tokens first, then the 256 bytes in byte order, then one token per merge in the order learnt.
 * Each step merges the most frequent adjacent pair over all words (counted with their frequency); ties go to the
 * pair with the smaller left id, then the smaller right id, so the same input always gives the same tokenizer.
 * Word counts, pair counts and the words each pair occurs in are kept and updated after each merge, touching only
 * the words that held the merged pair; a max-heap with lazy re-insertion picks the next pair.
 *
 * @param input the training text, or several texts (no pre-token spans two of them)
 * @param init vocabulary size, minimum pair frequency, special tokens
 * @returns the tokenizer
 * @throws RangeError when `vocabSize` is not an integer from 256 + the number of special tokens to 2^21, or
 *   `minFrequency` is not a positive integer
 * @throws TypeError when a special token is empty or repeated
 */
export function trainBpe(input: string | Iterable<string>, init: BpeTrainInit): BpeTokenizer {
  const specials = init.specialTokens ?? [END_OF_TEXT]
  const minFrequency = init.minFrequency ?? 2
  for (const [i, s] of specials.entries()) {
    if (typeof s !== 'string' || s === '') throw new TypeError(`specialTokens[${i}] must be a non-empty string`)
    if (specials.indexOf(s) !== i) throw new TypeError(`specialTokens[${i}] repeats "${s}"`)
  }
  const base = specials.length + 256
  if (!Number.isSafeInteger(init.vocabSize) || init.vocabSize < base || init.vocabSize > MAX_VOCAB_SIZE) {
    throw new RangeError(`vocabSize must be an integer from ${base} (special tokens + 256 bytes) to ${MAX_VOCAB_SIZE}, got ${init.vocabSize}`)
  }
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) throw new RangeError(`minFrequency must be a positive integer, got ${minFrequency}`)

  // Word counts.
  const counts = new Map<string, number>()
  for (const text of typeof input === 'string' ? [input] : input) {
    if (typeof text !== 'string') throw new TypeError(`input must be a string or an iterable of strings, got an element of type ${typeof text}`)
    for (const m of text.matchAll(PRE_TOKENIZE_PATTERN)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1)
  }

  const vocab: string[] = [...specials, ...BYTE_TO_CHAR]
  const merges: [number, number][] = []
  const encoder = new TextEncoder()
  const words: number[][] = []
  const freqs: number[] = []
  for (const [word, count] of counts) {
    words.push(Array.from(encoder.encode(word), (b) => b + specials.length))
    freqs.push(count)
  }

  // Pair counts and, for each pair, the words it has occurred in (a word may since have lost it).
  const pairCounts = new Map<number, number>()
  const where = new Map<number, number[]>()
  const addPairs = (w: number, sign: 1 | -1, onlyWith: number): void => {
    const syms = words[w] as number[]
    const f = (freqs[w] as number) * sign
    for (let i = 0; i + 1 < syms.length; i++) {
      const a = syms[i] as number
      const b = syms[i + 1] as number
      const key = a * MAX_VOCAB_SIZE + b
      const c = (pairCounts.get(key) ?? 0) + f
      if (c === 0) pairCounts.delete(key)
      else pairCounts.set(key, c)
      if (sign === 1 && (onlyWith < 0 || a === onlyWith || b === onlyWith)) {
        const list = where.get(key)
        if (list === undefined) where.set(key, [w])
        else if (list[list.length - 1] !== w) list.push(w)
      }
    }
  }
  for (let w = 0; w < words.length; w++) addPairs(w, 1, -1)

  // A merge whose result would spell a special token is never made: a special token must stay one id of its own.
  const specialSet = new Set(specials)
  const banned = new Set<number>()
  const heap = new PairHeap()
  for (const [key, count] of pairCounts) heap.push(key, count)

  while (vocab.length < init.vocabSize && heap.size > 0) {
    const { key, count } = heap.pop()
    if (banned.has(key)) continue
    const current = pairCounts.get(key) ?? 0
    if (current !== count) {
      if (current > 0) heap.push(key, current)
      continue
    }
    if (count < minFrequency) break
    const a = Math.floor(key / MAX_VOCAB_SIZE)
    const b = key - a * MAX_VOCAB_SIZE
    const token = (vocab[a] as string) + (vocab[b] as string)
    if (specialSet.has(token)) {
      banned.add(key)
      continue
    }
    const id = vocab.length
    vocab.push(token)
    merges.push([a, b])
    const touched = new Set<number>()
    for (const w of where.get(key) ?? []) {
      const syms = words[w] as number[]
      let found = false
      for (let i = 0; i + 1 < syms.length; i++) {
        if (syms[i] === a && syms[i + 1] === b) {
          found = true
          break
        }
      }
      if (!found) continue
      addPairs(w, -1, -1)
      const merged: number[] = []
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          merged.push(id)
          i++
        } else merged.push(syms[i] as number)
      }
      words[w] = merged
      addPairs(w, 1, id)
      for (let i = 0; i + 1 < merged.length; i++) {
        if (merged[i] === id || merged[i + 1] === id) touched.add((merged[i] as number) * MAX_VOCAB_SIZE + (merged[i + 1] as number))
      }
    }
    where.delete(key)
    // Only pairs with the new token can have gained; every other count fell or stayed, and the heap's older,
    // higher entries for them are corrected when popped.
    for (const k of touched) {
      const c = pairCounts.get(k)
      if (c !== undefined) heap.push(k, c)
    }
  }
  return createBpeTokenizer({ vocab, merges, specialIds: specials.map((_, i) => i) })
}

/** A max-heap of (pair key, count): higher count first, then the smaller key (smaller left id, then right id). */
class PairHeap {
  readonly #keys: number[] = []
  readonly #counts: number[] = []

  get size(): number {
    return this.#keys.length
  }

  #before(i: number, j: number): boolean {
    const ci = this.#counts[i] as number
    const cj = this.#counts[j] as number
    return ci > cj || (ci === cj && (this.#keys[i] as number) < (this.#keys[j] as number))
  }

  #swap(i: number, j: number): void {
    const k = this.#keys[i] as number
    this.#keys[i] = this.#keys[j] as number
    this.#keys[j] = k
    const c = this.#counts[i] as number
    this.#counts[i] = this.#counts[j] as number
    this.#counts[j] = c
  }

  push(key: number, count: number): void {
    this.#keys.push(key)
    this.#counts.push(count)
    let i = this.#keys.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#before(i, parent)) break
      this.#swap(i, parent)
      i = parent
    }
  }

  pop(): { key: number; count: number } {
    const key = this.#keys[0] as number
    const count = this.#counts[0] as number
    const lastKey = this.#keys.pop() as number
    const lastCount = this.#counts.pop() as number
    const n = this.#keys.length
    if (n > 0) {
      this.#keys[0] = lastKey
      this.#counts[0] = lastCount
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && this.#before(r, l) ? r : l
        if (!this.#before(c, i)) break
        this.#swap(c, i)
        i = c
      }
    }
    return { key, count }
  }
}
