// Text data sets of a node: the King James Bible that ships with Weft (`source: kjv`), split by book and dealt to
// peers, for language-model swarms. Verses are read once per process; token ids are computed per tokenizer.
import { create } from '@bufbuild/protobuf'
import { type BpeTokenizer, splitVerses, type Verse } from '@weft/lm'
import { readKjvVerses } from '@weft/lm/node'
import { type DatasetOffer, DatasetOfferSchema } from '@weft/protocol'
import type { DatasetConfig } from './config.js'

/** The share of verses (whole books) held out as the `test` split, and the split's seed. */
const HELD_OUT = 0.05
const SPLIT_SEED = 0

let verses: Promise<Verse[]> | undefined

/** Whether a data set is text (its examples are verses, not images or rows). */
export const isTextDataset = (config: DatasetConfig): boolean => config.source === 'kjv'

/** The verses of a text data set: its split, then its part of the training books when it is partitioned. */
export async function textVerses(config: DatasetConfig): Promise<Verse[]> {
  if (!isTextDataset(config)) throw new RangeError(`data set ${config.name} is not text`)
  verses ??= readKjvVerses().catch((err: unknown) => {
    verses = undefined
    throw err
  })
  const split = splitVerses(await verses, { by: 'book', validationFraction: HELD_OUT, seed: SPLIT_SEED })
  const chosen = config.split === 'test' ? split.validation : split.train
  const p = config.partition
  if (p === undefined) return chosen
  // Whole books in canon order, as evenly by verses as book boundaries allow.
  const books: Verse[][] = []
  for (const v of chosen) {
    const last = books.at(-1)
    if (last !== undefined && last[0]?.book === v.book) last.push(v)
    else books.push([v])
  }
  const target = chosen.length / p.clients
  const out: Verse[] = []
  let seen = 0
  for (const book of books) {
    const middle = seen + book.length / 2
    if (Math.min(p.clients - 1, Math.floor(middle / target)) === p.part) out.push(...book)
    seen += book.length
  }
  return out
}

/** The token ids of a text data set under a tokenizer: its verses' text, one verse per line. */
export async function textTokens(config: DatasetConfig, tokenizer: BpeTokenizer): Promise<Int32Array> {
  return Int32Array.from(tokenizer.encode((await textVerses(config)).map((v) => v.text).join('\n')))
}

/** What the resource ad says of a text data set: verses as examples, no shape, its provenance. */
export async function describeTextDataset(config: DatasetConfig): Promise<DatasetOffer> {
  const vs = await textVerses(config)
  const p = config.partition
  return create(DatasetOfferSchema, {
    name: config.name,
    examples: BigInt(vs.length),
    featureShape: [],
    numClasses: 0,
    schema: `kjv text ${config.split}, by book${p === undefined ? '' : `, books part ${p.part + 1}/${p.clients}`}`,
    bytes: BigInt(vs.reduce((n, v) => n + v.text.length + 1, 0)),
  })
}
