// Types of @weft/corpus-kjv (index.js).

/** The shipped file: the .gz size and SHA-256, the size and SHA-256 of its text, and the number of verses. */
export interface BundledCorpus {
  readonly name: string
  readonly size: number
  readonly sha256: string
  readonly contentSize: number
  readonly contentSha256: string
  readonly verses: number
}

/** The folder holding kjv.tsv.gz. */
export declare const dir: string

/** The shipped file. */
export declare const file: BundledCorpus

/** The path of kjv.tsv.gz. */
export declare function corpusPath(): string

/**
 * Read and decompress the corpus, checking the SHA-256 of the text.
 * @returns the whole text: 31,102 lines `Book C:V<TAB>text`, each ending in `\n`
 * @throws Error when the file is missing or its content does not match `file.contentSha256`
 */
export declare function readCorpus(): Promise<string>
