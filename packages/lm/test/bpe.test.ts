// The byte-level BPE tokenizer: its alphabet and split, training (a hand-worked example, determinism, special
// tokens), encoding against a plain reference implementation, and decode(encode(s)) = s.
import { BYTE_TO_CHAR, type BpeTokenizer, createBpeTokenizer, END_OF_TEXT, preTokenize, toTokenizerJson, trainBpe, UnknownTokenIdError } from '@weft/lm'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const SAMPLE = [
  'In the beginning God created the heaven and the earth.',
  "And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God's",
  'moved upon the face of the waters. And God said, Let there be light: and there was light. 1 2 3 12 123',
  'Ünïcödé wörds, 日本語のテキスト, emoji 🎉👍🏽 and tabs\tand\nnew lines\r\n   indented   ',
].join('\n')

/** The plain BPE of one word: merge every occurrence of the lowest-ranked adjacent pair, left to right, repeat. */
function referenceEncodeWord(tok: BpeTokenizer, word: string): number[] {
  const { vocab, merges } = tok.model
  const rank = new Map(merges.map(([a, b], r) => [`${a},${b}`, r]))
  let syms = Array.from(new TextEncoder().encode(word), (b) => tok.tokenToId(BYTE_TO_CHAR[b] as string) as number)
  for (;;) {
    let best = -1
    for (let i = 0; i + 1 < syms.length; i++) {
      const r = rank.get(`${syms[i]},${syms[i + 1]}`)
      if (r !== undefined && (best < 0 || r < best)) best = r
    }
    if (best < 0) return syms
    const [a, b] = merges[best] as readonly [number, number]
    const id = tok.tokenToId((vocab[a] as string) + (vocab[b] as string)) as number
    const out: number[] = []
    for (let i = 0; i < syms.length; i++) {
      if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
        out.push(id)
        i++
      } else out.push(syms[i] as number)
    }
    syms = out
  }
}

/** Plain BPE training: every step recounts every pair of every word. Returns the merges as token pairs. */
function referenceTrain(text: string, vocabSize: number, minFrequency: number): string[] {
  const counts = new Map<string, number>()
  for (const w of preTokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1)
  const vocab = [END_OF_TEXT, ...BYTE_TO_CHAR]
  const words = [...counts].map(([w, n]) => ({ syms: Array.from(new TextEncoder().encode(w), (b) => b + 1), n }))
  const merges: string[] = []
  while (vocab.length < vocabSize) {
    const pairs = new Map<string, number>()
    for (const { syms, n } of words) for (let i = 0; i + 1 < syms.length; i++) pairs.set(`${syms[i]},${syms[i + 1]}`, (pairs.get(`${syms[i]},${syms[i + 1]}`) ?? 0) + n)
    let best: [number, number, number] | undefined
    for (const [key, n] of pairs) {
      const [a, b] = key.split(',').map(Number) as [number, number]
      if (best === undefined || n > best[2] || (n === best[2] && (a < best[0] || (a === best[0] && b < best[1])))) best = [a, b, n]
    }
    if (best === undefined || best[2] < minFrequency) break
    const [a, b] = best
    const id = vocab.length
    vocab.push((vocab[a] as string) + (vocab[b] as string))
    merges.push(`${vocab[a]} ${vocab[b]}`)
    for (const w of words) {
      const out: number[] = []
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(id)
          i++
        } else out.push(w.syms[i] as number)
      }
      w.syms = out
    }
  }
  return merges
}

describe('the byte-level alphabet and pre-tokenizer', () => {
  it("is GPT-2's bytes_to_unicode: 256 distinct characters, printable bytes as themselves, space Ġ, newline Ċ", () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256)
    expect(BYTE_TO_CHAR[0x41]).toBe('A')
    expect(BYTE_TO_CHAR[0xe9]).toBe('é')
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ')
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ')
    expect(BYTE_TO_CHAR[0x00]).toBe('Ā')
    expect(BYTE_TO_CHAR[0xad]).toBe('Ń') // the last of the 68 remapped bytes: U+0100 + 67 = U+0143
  })

  it('splits words with their leading space, contractions, digits, punctuation and white-space runs', () => {
    expect(preTokenize("Hello world's  end, 2024!\n\nok")).toEqual(['Hello', ' world', "'s", ' ', ' end', ',', ' 2024', '!', '\n', '\n', 'ok']) // the run before a word keeps all but its last character
  })

  it('gives pieces that concatenate back to the text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => preTokenize(s).join('') === s))
  })
})

describe('trainBpe', () => {
  it("learns the hand-worked merges of 'aaabdaaabac' (aa, then ab over the tied Za, then aa+ab)", () => {
    const tok = trainBpe('aaabdaaabac', { vocabSize: 1000 })
    const { vocab, merges } = tok.model
    expect(merges.map(([a, b]) => `${vocab[a]} ${vocab[b]}`)).toEqual(['a a', 'a b', 'aa ab'])
    expect(tok.vocabSize).toBe(1 + 256 + 3) // training stops when no pair occurs twice
    expect(tok.encode('aaabdaaabac').map((id) => tok.idToToken(id))).toEqual(['aaab', 'd', 'aaab', 'a', 'c'])
    expect(vocab[0]).toBe(END_OF_TEXT)
    expect(vocab[1 + 0x61]).toBe('a')
  })

  it('learns the same merges, in the same order, as plain training that recounts every pair each step', () => {
    const texts = fc.array(fc.constantFrom('a', 'b', 'c', 'ab', 'ba', ' ', '  ', 'é', '\n', "'s", '!'), { maxLength: 120 }).map((c) => c.join(''))
    fc.assert(
      fc.property(texts, fc.integer({ min: 258, max: 320 }), fc.integer({ min: 1, max: 3 }), (text, vocabSize, minFrequency) => {
        const { vocab, merges } = trainBpe(text, { vocabSize, minFrequency }).model
        expect(merges.map(([a, b]) => `${vocab[a]} ${vocab[b]}`)).toEqual(referenceTrain(text, vocabSize, minFrequency))
      }),
    )
    const sample = SAMPLE.repeat(2)
    const { vocab, merges } = trainBpe(sample, { vocabSize: 400 }).model
    expect(merges.map(([a, b]) => `${vocab[a]} ${vocab[b]}`)).toEqual(referenceTrain(sample, 400, 2))
  })

  it('stops at vocabSize, and merges only pairs seen minFrequency times', () => {
    expect(trainBpe(SAMPLE, { vocabSize: 300 }).vocabSize).toBe(300)
    const loose = trainBpe(SAMPLE, { vocabSize: 5000, minFrequency: 1 })
    const strict = trainBpe(SAMPLE, { vocabSize: 5000, minFrequency: 3 })
    expect(loose.vocabSize).toBeGreaterThan(strict.vocabSize)
  })

  it('is deterministic: the same texts give the same tokenizer.json bytes, as a string, an array or a generator', () => {
    const lines = SAMPLE.split('\n')
    const a = toTokenizerJson(trainBpe(lines, { vocabSize: 400 }))
    const b = toTokenizerJson(trainBpe([...lines], { vocabSize: 400 }))
    function* gen(): Generator<string> {
      yield* lines
    }
    expect(b).toBe(a)
    expect(toTokenizerJson(trainBpe(gen(), { vocabSize: 400 }))).toBe(a)
    expect(toTokenizerJson(trainBpe(SAMPLE, { vocabSize: 400 }))).toBe(toTokenizerJson(trainBpe(SAMPLE, { vocabSize: 400 })))
  })

  it('checks its arguments', () => {
    expect(() => trainBpe('x', { vocabSize: 256 })).toThrow(RangeError)
    expect(() => trainBpe('x', { vocabSize: 256, specialTokens: [] })).not.toThrow()
    expect(() => trainBpe('x', { vocabSize: 300.5 })).toThrow(RangeError)
    expect(() => trainBpe('x', { vocabSize: 300, minFrequency: 0 })).toThrow(RangeError)
    expect(() => trainBpe('x', { vocabSize: 300, specialTokens: ['<a>', '<a>'] })).toThrow(TypeError)
    expect(() => trainBpe('x', { vocabSize: 300, specialTokens: [''] })).toThrow(TypeError)
    expect(() => trainBpe([1 as unknown as string], { vocabSize: 300 })).toThrow(TypeError)
  })
})

describe('special tokens', () => {
  const tok = trainBpe([SAMPLE, `${END_OF_TEXT} a ${END_OF_TEXT}${END_OF_TEXT}`.repeat(50)], { vocabSize: 600, specialTokens: [END_OF_TEXT, '<|pad|>', '###'] })

  it('are one id each, first in the vocabulary, and decode to their text', () => {
    expect([...tok.specialTokens]).toEqual([
      [END_OF_TEXT, 0],
      ['<|pad|>', 1],
      ['###', 2],
    ])
    expect(tok.decode([0])).toBe(END_OF_TEXT)
    expect(tok.decode([...tok.encode('a'), 0, ...tok.encode('b')])).toBe(`a${END_OF_TEXT}b`)
  })

  it('are never produced from plain text, even text that spells them', () => {
    const specials = new Set(tok.model.specialIds)
    expect(tok.encode(`${END_OF_TEXT}###<|pad|>`).some((id) => specials.has(id))).toBe(false)
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.constantFrom(END_OF_TEXT, '###', ' ###', '<|pad|>'))), (parts) => {
        const ids = tok.encode(parts.join(''))
        return ids.every((id) => !specials.has(id))
      }),
    )
  })

  it('are not learnt as merges when the text spells them ("###" stays out of the ordinary vocabulary)', () => {
    const hashes = trainBpe('### '.repeat(100), { vocabSize: 300, specialTokens: ['###'] })
    expect(hashes.model.vocab.filter((t) => t === '###')).toHaveLength(1)
    expect(hashes.encode('###')).not.toContain(0)
  })
})

describe('encode and decode', () => {
  const tok = trainBpe(SAMPLE.repeat(3), { vocabSize: 500 })

  it('decode(encode(s)) = s for any well-formed string', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => tok.decode(tok.encode(s)) === s))
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => tok.decode(tok.encode(s)) === s))
    fc.assert(fc.property(fc.array(fc.constantFrom(...SAMPLE.split(/(?=[ ,.])/))).map((w) => w.join('')), (s) => tok.decode(tok.encode(s)) === s))
  })

  it('applies merges in rank order, leftmost first, as the plain reference does', () => {
    const words = fc.array(fc.constantFrom(...'the earth heaven wat ers ing and, . 日本'.split('')), { maxLength: 40 }).map((c) => c.join(''))
    fc.assert(
      fc.property(words, (s) => {
        expect(tok.encode(s)).toEqual(preTokenize(s).flatMap((w) => referenceEncodeWord(tok, w)))
      }),
    )
    // Two letters, so that runs like "aaab" make overlapping candidates for the same merge.
    const ab = trainBpe('aaab abba aaaa bbba abab baaa aab '.repeat(4), { vocabSize: 290 })
    expect(ab.vocabSize).toBeGreaterThan(265)
    const runs = fc.array(fc.constantFrom('a', 'b', ' '), { maxLength: 60 }).map((c) => c.join(''))
    fc.assert(
      fc.property(runs, (s) => {
        expect(ab.encode(s)).toEqual(preTokenize(s).flatMap((w) => referenceEncodeWord(ab, w)))
      }),
    )
  })

  it('prefers the lower-ranked merge: "abc" is a|bc when (b,c) ranks first, ab|c when (a,b) does', () => {
    const base = [...BYTE_TO_CHAR]
    const id = (c: string): number => base.indexOf(c)
    const a = createBpeTokenizer({ vocab: [...base, 'bc', 'ab'], merges: [[id('b'), id('c')], [id('a'), id('b')]], specialIds: [] })
    const b = createBpeTokenizer({ vocab: [...base, 'bc', 'ab'], merges: [[id('a'), id('b')], [id('b'), id('c')]], specialIds: [] })
    expect(a.encode('abc').map((i) => a.idToToken(i))).toEqual(['a', 'bc'])
    expect(b.encode('abc').map((i) => b.idToToken(i))).toEqual(['ab', 'c'])
  })

  it('encodes a 200,000-byte word in linear-logarithmic time', () => {
    const long = 'the'.repeat(66_667)
    const started = performance.now()
    const ids = tok.encode(long)
    expect(performance.now() - started).toBeLessThan(2_000)
    expect(tok.decode(ids)).toBe(long)
    const shorter = 'the'.repeat(2_000)
    expect(tok.encode(shorter)).toEqual(referenceEncodeWord(tok, shorter))
  })

  it('throws UnknownTokenIdError on an id outside the vocabulary', () => {
    expect(() => tok.decode([tok.vocabSize])).toThrow(UnknownTokenIdError)
    expect(() => tok.decode([-1])).toThrow(UnknownTokenIdError)
    expect(() => tok.decode([1.5])).toThrow(UnknownTokenIdError)
  })

  it('encodes lone surrogates as U+FFFD, as UTF-8 requires', () => {
    expect(tok.decode(tok.encode('a\ud800b'))).toBe('a\ufffdb')
  })
})
