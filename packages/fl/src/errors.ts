// Errors of @weft/fl: one class per condition, each with `name` set so callers can match on `err.name`.

/** A strategy's `finish` was called with fewer updates than the rule needs. */
export class NotEnoughUpdatesError extends RangeError {
  override name = 'NotEnoughUpdatesError'
  constructor(
    readonly strategy: string,
    readonly needed: number,
    readonly got: number,
  ) {
    super(`${strategy} needs at least ${needed} updates, got ${got}`)
  }
}

/** A strategy config is invalid (e.g. Bulyan with n < 4f+3 configured). */
export class InvalidStrategyConfigError extends TypeError {
  override name = 'InvalidStrategyConfigError'
}

/** A job spec failed validation; the message names each bad field. */
export class InvalidJobSpecError extends TypeError {
  override name = 'InvalidJobSpecError'
  constructor(
    message: string,
    readonly issues: readonly { readonly path: string; readonly message: string }[] = [],
  ) {
    super(message)
  }
}

/** Error codes of a store that is out of space (SQLite's and the file system's). */
const STORAGE_FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT'])

/**
 * Whether `err` (or an error in its cause chain) says the store is out of space: a job then pauses instead of
 * failing, since nothing is wrong with it and its state on disk is intact up to the failed write.
 */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && STORAGE_FULL_CODES.has(code)) return true
  }
  return false
}

/** A job asks for something site aggregators cannot give it (differential privacy, secure aggregation); the message says why. */
export class HierarchyUnsupportedError extends TypeError {
  override name = 'HierarchyUnsupportedError'
}
