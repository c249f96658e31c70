// Error classes of @weft/lm, one per condition; callers match on `err.name`.

/** A tokenizer.json could not be loaded: malformed, or a kind of tokenizer this implementation does not run. */
export class TokenizerJsonError extends Error {
  override readonly name = 'TokenizerJsonError'
  /** Dotted path of the bad field, e.g. `model.merges.12` or `pre_tokenizer.type`. */
  readonly field: string
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`invalid tokenizer.json: ${field}: ${problem}`, options)
    this.field = field
  }
}

/** A token id passed to `decode` is not in the vocabulary. */
export class UnknownTokenIdError extends Error {
  override readonly name = 'UnknownTokenIdError'
  readonly id: number
  constructor(id: number, vocabSize: number) {
    super(`token id ${id} is not in the vocabulary (ids are integers from 0 to ${vocabSize - 1})`)
    this.id = id
  }
}

/** A corpus line is not `reference<TAB>text` with a `Book C:V` reference. */
export class CorpusFormatError extends Error {
  override readonly name = 'CorpusFormatError'
  /** 1-based line number. */
  readonly line: number
  constructor(line: number, problem: string) {
    super(`corpus line ${line}: ${problem} (expected "Book Chapter:Verse<TAB>text")`)
    this.line = line
  }
}
