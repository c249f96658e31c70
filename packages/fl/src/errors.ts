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
