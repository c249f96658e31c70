// Parsers of numeric command-line options shared by the commands: each names the option in its error.
import { InvalidArgumentError } from 'commander'

/** A positive safe integer, written as digits only. */
export function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`)
    return n
  }
}

/** A finite number above 0. */
export function positive(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${v}"`)
    return n
  }
}
