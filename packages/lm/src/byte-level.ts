// GPT-2's byte-level alphabet (each of the 256 bytes as one printable character) and its pre-tokenizer split.

/**
 * GPT-2's `bytes_to_unicode`: printable Latin-1 bytes (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) stand for themselves, and the
 * other 68 bytes, in order, for U+0100 onwards (so a space is `Ġ`, U+0120, and a newline `Ċ`, U+010A).
 * Index: the byte; value: its one-character string.
 */
export const BYTE_TO_CHAR: readonly string[] = Object.freeze(buildByteToChar())

/** The inverse of BYTE_TO_CHAR: character code → byte. */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]))

function buildByteToChar(): string[] {
  const out = new Array<string>(256)
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  let next = 0
  for (let b = 0; b < 256; b++) {
    if (printable(b)) out[b] = String.fromCharCode(b)
    else out[b] = String.fromCharCode(256 + next++)
  }
  return out
}

/**
 * The byte-level pre-tokenizer's split (Hugging Face `ByteLevel` with `use_regex: true`, GPT-2's pattern): English
 * contractions, letters, digits and other symbols each with at most one leading space, and runs of white space
 * (a run followed by a word gives its last space to that word).
 */
export const PRE_TOKENIZE_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

/**
 * Split text into pre-tokens (words with their leading space, punctuation, white space); they concatenate back to
 * the text.
 * @param text any string
 * @returns the pre-tokens in order
 */
export function preTokenize(text: string): string[] {
  return text.match(PRE_TOKENIZE_PATTERN) ?? []
}
