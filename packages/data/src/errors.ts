// Error classes of @weft/data, one per condition; callers match on `err.name`.

/** An IDX file is malformed: wrong magic number, unknown dtype, bad dims or a data length that does not match. */
export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError'
  /** The file (or other source label) that was being read. */
  readonly source: string
  constructor(source: string, problem: string, options?: ErrorOptions) {
    super(`${source}: ${problem}`, options)
    this.source = source
  }
}

/** A CSV file is malformed: a ragged row, a non-numeric feature, a missing label column. */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError'
  readonly source: string
  /** 1-based line number, when the problem is on one line. */
  readonly line: number | undefined
  /** The column (header name), when the problem is in one cell. */
  readonly column: string | undefined
  constructor(source: string, problem: string, where: { line?: number; column?: string } = {}) {
    const at = where.line === undefined ? '' : `:${where.line}`
    const col = where.column === undefined ? '' : ` (column "${where.column}")`
    super(`${source}${at}${col}: ${problem}`)
    this.source = source
    this.line = where.line
    this.column = where.column
  }
}

/**
 * A file's SHA-256 digest or size is not the expected one. A download that fails the check is discarded; a file
 * found on disk is left where it is (`kept`) and not used.
 */
export class ChecksumMismatchError extends Error {
  override readonly name = 'ChecksumMismatchError'
  readonly file: string
  readonly expected: string
  readonly actual: string
  constructor(file: string, expected: string, actual: string, options: { readonly kept?: boolean } = {}) {
    super(`${file}: SHA-256 mismatch: expected ${expected}, got ${actual}; ${options.kept === true ? 'the file is damaged and was not used' : 'the file was discarded'}`)
    this.file = file
    this.expected = expected
    this.actual = actual
  }
}

/** A download failed (HTTP status, network error, timeout). */
export class DownloadError extends Error {
  override readonly name = 'DownloadError'
  readonly url: string
  /** What went wrong, without the URL. */
  readonly problem: string
  constructor(url: string, problem: string, options?: ErrorOptions) {
    super(`download of ${url} failed: ${problem}`, options)
    this.url = url
    this.problem = problem
  }
}

/**
 * A named data set's files were not found where they were looked for (and downloading was off or failed). The
 * message lists every place, one per line, then what the user can do (`hints`).
 */
export class DatasetNotFoundError extends Error {
  override readonly name = 'DatasetNotFoundError'
  /** Every place that was searched, in order, with why it did not serve. */
  readonly searched: readonly string[]
  /** What the user can do about it. */
  readonly hints: readonly string[]
  constructor(dataset: string, searched: readonly string[], options: ErrorOptions & { readonly hints?: readonly string[] } = {}) {
    const hints = options.hints ?? []
    const lines = [`${dataset} not found. Looked in:`, ...(searched.length === 0 ? ['(nowhere)'] : searched).map((s) => `  - ${s}`)]
    if (hints.length > 0) lines.push('To fix it:', ...hints.map((h) => `  - ${h}`))
    super(lines.join('\n'), options.cause === undefined ? undefined : { cause: options.cause })
    this.searched = searched
    this.hints = hints
  }
}

/** A partition could not be built (e.g. Dirichlet draws never gave every client `minSize` examples). */
export class PartitionError extends Error {
  override readonly name = 'PartitionError'
}

/** `SharedArrayBuffer` is not available (a browser page that is not cross-origin isolated). */
export class SharedMemoryUnavailableError extends Error {
  override readonly name = 'SharedMemoryUnavailableError'
  constructor() {
    super('SharedArrayBuffer is not available here (in a browser, the page must be cross-origin isolated)')
  }
}

/** A shared data-set descriptor received from another thread is malformed. */
export class SharedDescriptorError extends Error {
  override readonly name = 'SharedDescriptorError'
}
