// Where this package keeps the King James Bible (data/kjv.tsv.gz, one verse per line: `Book C:V<TAB>text`), with
// the .gz file's size and SHA-256 and those of its text, and a reader that decompresses and checks it.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

/** The folder holding kjv.tsv.gz. */
export const dir = join(dirname(fileURLToPath(import.meta.url)), 'data')

/** The shipped file: `size` and `sha256` of the .gz bytes, `contentSha256` and `contentSize` of the text, `verses`. */
export const file = Object.freeze({
  name: 'kjv.tsv.gz',
  size: 1317466,
  sha256: 'e39181bf4e49372304e9ce8eb1581613c548ecadc8612f63c7144268591277a5',
  contentSize: 4556799,
  contentSha256: '2a5ed7ba0f945a4c96e324954797d56c3e85c738d15cdf2a9895e668c8e1a723',
  verses: 31102,
})

/** The path of kjv.tsv.gz. */
export function corpusPath() {
  return join(dir, file.name)
}

/**
 * Read and decompress the corpus, checking the SHA-256 of the text.
 * @returns {Promise<string>} the whole text: 31,102 lines `Book C:V<TAB>text`, each ending in `\n` (ASCII)
 * @throws {Error} when the file is missing or its content does not match `file.contentSha256`
 */
export async function readCorpus() {
  const gz = await readFile(corpusPath())
  const text = gunzipSync(gz)
  const digest = createHash('sha256').update(text).digest('hex')
  if (digest !== file.contentSha256) {
    throw new Error(`${corpusPath()}: content SHA-256 ${digest}, expected ${file.contentSha256} (the file is damaged or was replaced)`)
  }
  return text.toString('utf8')
}
