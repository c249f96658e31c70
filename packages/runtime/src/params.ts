// Checks on flat parameter vectors shared by every engine.
import { NonFiniteParamError, ParamsLengthError } from './errors.js'
import { type ParamInfo, shapeSize } from './registry.js'

/**
 * Checks that `flat` has exactly the parameters `info` describes and that all are finite.
 * @throws TypeError when `flat` is not a Float32Array.
 * @throws ParamsLengthError (RangeError) on a length mismatch, NonFiniteParamError naming the parameter.
 */
export function checkParams(flat: unknown, info: readonly ParamInfo[]): asserts flat is Float32Array {
  if (!(flat instanceof Float32Array)) throw new TypeError('params must be a Float32Array')
  const expected = info.reduce((n, p) => n + shapeSize(p.shape), 0)
  if (flat.length !== expected) throw new ParamsLengthError(expected, flat.length)
  let offset = 0
  for (const p of info) {
    const n = shapeSize(p.shape)
    for (let i = 0; i < n; i++) {
      const v = flat[offset + i]!
      if (!Number.isFinite(v)) throw new NonFiniteParamError(p.name, i, v)
    }
    offset += n
  }
}

/** Splits a flat vector into per-parameter views (no copy). */
export function splitParams(flat: Float32Array, info: readonly ParamInfo[]): Float32Array[] {
  const out: Float32Array[] = []
  let offset = 0
  for (const p of info) {
    const n = shapeSize(p.shape)
    out.push(flat.subarray(offset, offset + n))
    offset += n
  }
  return out
}
