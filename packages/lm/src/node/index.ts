// @weft/lm/node: the Node part of @weft/lm: the King James Bible that @weft/corpus-kjv ships, read and parsed.
import { readCorpus } from '@weft/corpus-kjv'
import { parseVerses, type Verse } from '../corpus.js'

/**
 * Read the bundled King James Bible (its SHA-256 checked) and parse it.
 * @returns its 31,102 verses, Genesis 1:1 to Revelation 22:21
 * @throws Error when the bundled file is missing or damaged
 */
export async function readKjvVerses(): Promise<Verse[]> {
  return parseVerses(await readCorpus())
}
