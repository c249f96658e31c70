// Argument checks shared by the strategies: each throws TypeError (wrong type) or RangeError (wrong value)
// with a message naming the argument, what was expected and what was given.
import type { ClientUpdate, StrategyName } from '../contracts/strategy.js'

/** Options every strategy factory accepts. */
export interface StrategyInit {
  /**
   * The model's parameter count, when known up front: `begin` and `importState` then reject other lengths.
   * Without it the first `begin` (or imported state) fixes the length for stateful rules.
   */
  readonly paramCount?: number
}

interface NumberRange {
  /** Inclusive lower bound, or exclusive when `minOpen`. */
  readonly min?: number
  readonly minOpen?: boolean
  /** Inclusive upper bound, or exclusive when `maxOpen`. */
  readonly max?: number
  readonly maxOpen?: boolean
  readonly integer?: boolean
}

function describe(range: NumberRange): string {
  const kind = range.integer === true ? 'an integer' : 'a finite number'
  const lo = range.min === undefined ? '' : `${range.minOpen === true ? '>' : '>='} ${range.min}`
  const hi = range.max === undefined ? '' : `${range.maxOpen === true ? '<' : '<='} ${range.max}`
  const bounds = [lo, hi].filter((b) => b !== '').join(' and ')
  return bounds === '' ? kind : `${kind} ${bounds}`
}

/**
 * Returns `value` (or `fallback` when `value` is undefined) after checking it is a number in `range`.
 * @throws TypeError when it is not a number; RangeError when it is out of range, not finite or not an integer.
 */
export function checkNumber(value: unknown, name: string, range: NumberRange, fallback?: number): number {
  const v = value === undefined ? fallback : value
  if (typeof v !== 'number') throw new TypeError(`${name} must be ${describe(range)}, got ${typeof v}`)
  const bad =
    !Number.isFinite(v) ||
    (range.integer === true && !Number.isSafeInteger(v)) ||
    (range.min !== undefined && (range.minOpen === true ? v <= range.min : v < range.min)) ||
    (range.max !== undefined && (range.maxOpen === true ? v >= range.max : v > range.max))
  if (bad) throw new RangeError(`${name} must be ${describe(range)}, got ${v}`)
  return v
}

/** Checks the optional `paramCount` of a strategy init. */
export function checkParamCount(init: StrategyInit, strategy: string): number | undefined {
  if (init.paramCount === undefined) return undefined
  return checkNumber(init.paramCount, `${strategy}: init.paramCount`, { min: 1, integer: true })
}

/**
 * Checks the `global` passed to `begin`.
 * @throws TypeError when it is not a Float32Array; RangeError when empty or not `paramCount` long.
 */
export function checkGlobal(global: unknown, strategy: StrategyName, paramCount: number | undefined): Float32Array {
  if (!(global instanceof Float32Array)) throw new TypeError(`${strategy}.begin: global must be a Float32Array`)
  if (global.length === 0) throw new RangeError(`${strategy}.begin: global must hold at least one parameter`)
  if (paramCount !== undefined && global.length !== paramCount) {
    throw new RangeError(`${strategy}.begin: global has ${global.length} parameters, expected ${paramCount}`)
  }
  return global
}

/**
 * Checks one update against the round's parameter count.
 * Values are not scanned for NaN/Infinity: that is the coordinator's check, done once at the edge.
 * @throws TypeError for a missing or mistyped field; RangeError for a wrong delta length, a numExamples that
 *   is not a positive integer or a staleness that is not a non-negative integer.
 */
export function checkUpdate(update: ClientUpdate, strategy: StrategyName, length: number): void {
  const at = `${strategy}.add`
  if (typeof update !== 'object' || update === null) throw new TypeError(`${at}: update must be an object`)
  if (typeof update.clientId !== 'string') throw new TypeError(`${at}: update.clientId must be a string`)
  if (!(update.delta instanceof Float32Array)) throw new TypeError(`${at}: update.delta must be a Float32Array`)
  if (update.delta.length !== length) {
    throw new RangeError(
      `${at}: update.delta of client ${update.clientId} has ${update.delta.length} values, expected ${length} (the model's parameter count)`,
    )
  }
  checkNumber(update.numExamples, `${at}: update.numExamples`, { min: 1, integer: true })
  checkNumber(update.staleness, `${at}: update.staleness`, { min: 0, integer: true })
}
