// A verse-per-line corpus (`Book C:V<TAB>text`, as @weft/corpus-kjv ships) and its seeded train/validation split.
import { CorpusFormatError } from './errors.js'

/** One verse (or any reference-tagged line). */
export interface Verse {
  /** The whole reference, e.g. `Song of Solomon 2:1`. */
  readonly ref: string
  /** The book, e.g. `Song of Solomon`. */
  readonly book: string
  readonly chapter: number
  readonly verse: number
  /** The text, without the reference or the line end. */
  readonly text: string
}

const REF = /^(.+) (\d+):(\d+)$/

/**
 * Parse a verse-per-line corpus: each non-empty line is `Book Chapter:Verse<TAB>text` (a `\r\n` end is accepted).
 * @param corpus the whole text
 * @returns the verses in order
 * @throws CorpusFormatError naming the first line that has no TAB or whose reference is not `Book C:V`
 */
export function parseVerses(corpus: string): Verse[] {
  const out: Verse[] = []
  const lines = corpus.split('\n')
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line === '') continue
    const tab = line.indexOf('\t')
    if (tab < 0) throw new CorpusFormatError(i + 1, 'no TAB between the reference and the text')
    const ref = line.slice(0, tab)
    const m = REF.exec(ref)
    if (m === null) throw new CorpusFormatError(i + 1, `reference "${ref.slice(0, 80)}" is not "Book C:V"`)
    out.push({ ref, book: m[1] as string, chapter: Number(m[2]), verse: Number(m[3]), text: line.slice(tab + 1) })
  }
  return out
}

/** Options of `splitVerses`. */
export interface SplitInit {
  /**
   * `'verse'`: each verse goes to validation when the hash of (seed, reference) falls below `validationFraction`.
   * `'book'`: whole books go to validation, in the order of the hash of (seed, book), until they hold at least
   * `validationFraction` of the verses (so no book is in both splits).
   */
  readonly by: 'verse' | 'book'
  /** The share of verses to hold out, in (0, 1) (default 0.05). */
  readonly validationFraction?: number
  /** The seed of the hash: another seed, another split (default 0). */
  readonly seed?: number
}

/** The two sides of a split, each in corpus order. */
export interface CorpusSplit {
  readonly train: Verse[]
  readonly validation: Verse[]
}

/**
 * Split verses into training and validation sets, deterministically: the same verses, mode and seed always give
 * the same split, and it does not depend on the verses' order or on which other verses are present (`'verse'`
 * mode) or on anything but each book's verse count (`'book'` mode). The hash is 32-bit FNV-1a over the seed's four
 * bytes and the UTF-8 of the reference or book, then murmur3's 32-bit finalizer, mapped to [0, 1).
 * @param verses the corpus
 * @param init mode, fraction and seed
 * @returns train and validation, disjoint, together all of `verses`
 * @throws RangeError when `validationFraction` is not in (0, 1) or `seed` is not a 32-bit unsigned integer
 */
export function splitVerses(verses: readonly Verse[], init: SplitInit): CorpusSplit {
  const fraction = init.validationFraction ?? 0.05
  const seed = init.seed ?? 0
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`validationFraction must be in (0, 1), got ${fraction}`)
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer from 0 to 2^32 - 1, got ${seed}`)
  let held: (v: Verse) => boolean
  switch (init.by) {
    case 'verse':
      held = (v) => unitHash(seed, v.ref) < fraction
      break
    case 'book': {
      const sizes = new Map<string, number>()
      for (const v of verses) sizes.set(v.book, (sizes.get(v.book) ?? 0) + 1)
      const order = [...sizes.keys()].sort((x, y) => unitHash(seed, x) - unitHash(seed, y) || (x < y ? -1 : x > y ? 1 : 0))
      const chosen = new Set<string>()
      let count = 0
      for (const book of order) {
        if (count >= fraction * verses.length) break
        // Never hold out every book: training needs text.
        if (chosen.size === sizes.size - 1) break
        chosen.add(book)
        count += sizes.get(book) as number
      }
      held = (v) => chosen.has(v.book)
      break
    }
    default: {
      const never: never = init.by
      throw new TypeError(`by must be "verse" or "book", got ${String(never)}`)
    }
  }
  const train: Verse[] = []
  const validation: Verse[] = []
  for (const v of verses) (held(v) ? validation : train).push(v)
  return { train, validation }
}

const utf8 = new TextEncoder()

/** 32-bit FNV-1a of the seed (4 bytes, little-endian) then the UTF-8 of `s`, mixed, as a number in [0, 1). */
function unitHash(seed: number, s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < 4; i++) {
    h ^= (seed >>> (8 * i)) & 0xff
    h = Math.imul(h, 0x01000193)
  }
  for (const b of utf8.encode(s)) {
    h ^= b
    h = Math.imul(h, 0x01000193)
  }
  // murmur3's finalizer, so that references differing in their last byte spread over the whole range.
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 4294967296
}
