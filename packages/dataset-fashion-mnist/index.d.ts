// Types of @weft/dataset-fashion-mnist (index.js).

/** One shipped file: the .gz size and SHA-256, and the SHA-256 of its decompressed IDX content. */
export interface BundledFile {
  readonly size: number
  readonly sha256: string
  readonly contentSha256: string
}

/** The folder holding the four .gz files. */
export declare const dir: string

/** The files, by name. */
export declare const files: Readonly<Record<string, BundledFile>>
