// tokenizer.json: what Weft writes, loading it back, the checks on what it loads, and the same ids as Hugging Face's
// own JavaScript tokenizer (@huggingface/tokenizers, a devDependency) loading the same file.
import { Tokenizer } from '@huggingface/tokenizers'
import { END_OF_TEXT, fromTokenizerJson, splitVerses, TokenizerJsonError, toTokenizerJson, trainBpe } from '@weft/lm'
import { readKjvVerses } from '@weft/lm/node'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'

const EDGE_CASES = [
  '',
  ' ',
  '   ',
  ' leading space',
  '  two leading spaces',
  'trailing space ',
  'tab\there',
  'line\nbreaks\n\n\nand\r\nCRLF\r\n',
  '\n',
  'héllo wörld, ÀÉÎÕÜ ß',
  '日本語のテキスト 中文 한국어',
  'emoji 🎉👍🏽 👨‍👩‍👧 🇫🇷',
  'x\u00a0y\u2003z', // no-break and em spaces
  '\u{10ffff}\u{1f600}',
  "it's they'll I'M we've you'd",
  '12345 3.14 1,000,000 ١٢٣',
  'And God said, Let there be light: and there was light.',
  'Genesis 1:1\tIn the beginning',
  'a'.repeat(3000),
  ' \t \n \u3000 end',
  'combining e\u0301 and precomposed é',
]

/** The fields of a tokenizer.json that the malformed-input test edits. */
interface EditableJson {
  normalizer: unknown
  pre_tokenizer: { type: string; add_prefix_space?: boolean }
  model: { type: string; dropout: unknown; ignore_merges: unknown; merges: string[]; vocab: Record<string, number> }
  added_tokens: { id: number; special: boolean }[]
}

describe('tokenizer.json', () => {
  const tok = trainBpe(['In the beginning God created the heaven and the earth.\n', "And God said, Let there be light: and there was light. it's\n"].join('').repeat(20), { vocabSize: 320 })
  const json = toTokenizerJson(tok)

  it('is a Hugging Face BPE tokenizer.json: ByteLevel pre-tokenizer and decoder, the special token as added_tokens', () => {
    const doc = JSON.parse(json)
    expect(doc.model.type).toBe('BPE')
    expect(doc.model.ignore_merges).toBe(false)
    expect(doc.pre_tokenizer).toEqual({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true })
    expect(doc.decoder.type).toBe('ByteLevel')
    expect(doc.added_tokens).toEqual([{ id: 0, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }])
    expect(doc.model.vocab[END_OF_TEXT]).toBe(0)
    expect(Object.keys(doc.model.vocab)).toHaveLength(tok.vocabSize)
    expect(doc.model.merges).toHaveLength(tok.vocabSize - 257)
    expect(doc.model.merges.every((m: string) => m.split(' ').length === 2)).toBe(true)
  })

  it('writes the vocab in id order (the special token, then the bytes in byte order, then the merges)', () => {
    expect(json).toContain(`"vocab": {\n      "${END_OF_TEXT}": 0,\n      "Ā": 1,\n      "ā": 2,\n`)
    expect(json).toContain(`\n      "!": 34,\n      "\\"": 35,\n`)
    const vocab = json.slice(json.indexOf('"vocab": {'), json.indexOf('"merges": ['))
    const ids = [...vocab.matchAll(/^ {6}".*": (\d+),?$/gm)].map((m) => Number(m[1]))
    expect(ids).toEqual(Array.from({ length: tok.vocabSize }, (_, i) => i))
  })

  it('loads back to the same tokenizer (same bytes when written again, same ids)', () => {
    const back = fromTokenizerJson(json)
    expect(toTokenizerJson(back)).toBe(json)
    expect(fromTokenizerJson(JSON.parse(json)).model).toEqual(tok.model)
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => JSON.stringify(back.encode(s)) === JSON.stringify(tok.encode(s))))
  })

  it('loads merges written as pairs (["a", "b"], the newer form) as well as "a b" strings', () => {
    const doc = JSON.parse(json)
    doc.model.merges = doc.model.merges.map((m: string) => m.split(' '))
    expect(fromTokenizerJson(doc).model).toEqual(tok.model)
  })

  it('refuses, naming the field, what it cannot run or what is malformed', () => {
    const broken = (edit: (doc: EditableJson) => void): unknown => {
      const doc = JSON.parse(json) as EditableJson
      edit(doc)
      return doc
    }
    const field = (input: unknown): string => {
      try {
        fromTokenizerJson(input)
      } catch (err) {
        expect(err).toBeInstanceOf(TokenizerJsonError)
        return (err as TokenizerJsonError).field
      }
      throw new Error('no error')
    }
    expect(field('{ not json')).toBe('(root)')
    expect(field('[]')).toBe('(root)')
    expect(field(broken((d) => (d.model.type = 'WordPiece')))).toBe('model.type')
    expect(field(broken((d) => (d.normalizer = { type: 'NFC' })))).toBe('normalizer')
    expect(field(broken((d) => (d.pre_tokenizer = { type: 'Whitespace' })))).toBe('pre_tokenizer.type')
    expect(field(broken((d) => (d.pre_tokenizer.add_prefix_space = true)))).toBe('pre_tokenizer.add_prefix_space')
    expect(field(broken((d) => (d.model.dropout = 0.1)))).toBe('model.dropout')
    expect(field(broken((d) => (d.model.ignore_merges = true)))).toBe('model.ignore_merges')
    expect(field(broken((d) => (d.model.merges[5] = 'zz@ q')))).toBe('model.merges.5')
    expect(field(broken((d) => (d.model.merges[6] = 'a b c')))).toBe('model.merges.6')
    expect(field(broken((d) => delete d.model.vocab.Ġ))).toBe('model.vocab')
    expect(field(broken((d) => (d.model.vocab.Ġ = 1)))).toBe('model.vocab.Ġ')
    expect(field(broken((d) => (d.model.vocab.x = -1)))).toBe('model.vocab.x')
    expect(field(broken((d) => (d.model.vocab.x = 1e15)))).toBe('model.vocab.x') // past the largest vocabulary
    expect(field(broken((d) => ((d.added_tokens[0] as { special: boolean }).special = false)))).toBe('added_tokens.0.special')
    expect(field(broken((d) => ((d.added_tokens[0] as { id: number }).id = 5)))).toBe('added_tokens.0.id')
    expect(field(broken((d) => (d.model.vocab['€'] = tok.vocabSize)))).toBe('model.vocab.€')
  })
})

describe('Hugging Face tokenizers.js loading a tokenizer.json trained on the King James Bible', () => {
  let ours: ReturnType<typeof trainBpe>
  let theirs: Tokenizer
  let held: string[]

  beforeAll(async () => {
    const { train, validation } = splitVerses(await readKjvVerses(), { by: 'verse', seed: 7 })
    ours = trainBpe(
      train.map((v) => `${v.text}\n`),
      { vocabSize: 4096 },
    )
    theirs = new Tokenizer(JSON.parse(toTokenizerJson(ours)), {})
    held = validation.slice(0, 300).map((v) => `${v.ref}\t${v.text}\n`)
  })

  it('gives the same ids as our encoder on 300 held-out verses and on hand-picked edge cases', () => {
    for (const s of [...held, held.join(''), ...EDGE_CASES]) {
      expect(theirs.encode(s, { add_special_tokens: false }).ids, JSON.stringify(s.slice(0, 60))).toEqual(ours.encode(s))
    }
  })

  it('gives the same ids on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (s) => {
        expect(theirs.encode(s, { add_special_tokens: false }).ids).toEqual(ours.encode(s))
      }),
      { numRuns: 300 },
    )
  })

  it('decodes our ids to the text, and its own encoding of the special token is our special id', () => {
    for (const s of [...held.slice(0, 50), ...EDGE_CASES.filter((e) => e !== '')]) {
      expect(theirs.decode(ours.encode(s), { skip_special_tokens: false, clean_up_tokenization_spaces: false })).toBe(s)
    }
    // Hugging Face splits special-token text out of the input; Weft's encode does not (encode is for plain text).
    expect(theirs.encode(END_OF_TEXT, { add_special_tokens: false }).ids).toEqual([ours.specialTokens.get(END_OF_TEXT)])
  })
})
