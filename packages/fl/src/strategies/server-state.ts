// Export and import of strategy server state (momentum, moments): copies out, validated copies in.
import type { StrategyName, StrategyState } from '../contracts/strategy.js'

/** The state of a stateless rule, or of a stateful one before its first round. */
export const EMPTY_STATE: StrategyState = Object.freeze({ tensors: Object.freeze({}), scalars: Object.freeze({}) })

/** Copies `tensors` into a frozen state, so later rounds cannot change what the caller persists. */
export function exportTensors(tensors: Readonly<Record<string, Float32Array>> | undefined): StrategyState {
  if (tensors === undefined) return EMPTY_STATE
  const copy: Record<string, Float32Array> = {}
  for (const [name, t] of Object.entries(tensors)) copy[name] = t.slice()
  return Object.freeze({ tensors: Object.freeze(copy), scalars: Object.freeze({}) })
}

/**
 * Validates exported state and returns copies of its tensors, or undefined for the empty (fresh) state.
 * @param names the tensor names the strategy keeps (all or none must be present); [] for stateless rules
 * @param paramCount the model's parameter count when known: every tensor must be that long
 * @throws TypeError when the state is not an object of Float32Arrays; RangeError when its names, lengths or
 *   values do not fit (unknown or missing names, unequal or wrong lengths, non-finite values, any scalar)
 */
export function importTensors(
  strategy: StrategyName,
  state: StrategyState,
  names: readonly string[],
  paramCount: number | undefined,
): Record<string, Float32Array> | undefined {
  const at = `${strategy}.importState`
  if (typeof state !== 'object' || state === null || typeof state.tensors !== 'object' || state.tensors === null) {
    throw new TypeError(`${at}: state must be { tensors, scalars }`)
  }
  const scalarNames = typeof state.scalars === 'object' && state.scalars !== null ? Object.keys(state.scalars) : []
  if (scalarNames.length > 0) throw new RangeError(`${at}: unexpected scalar state.scalars.${scalarNames[0]}`)
  const given = Object.keys(state.tensors)
  if (given.length === 0) return undefined
  for (const name of given) {
    if (!names.includes(name)) {
      const expected = names.length === 0 ? 'no tensors (stateless rule)' : names.join(', ')
      throw new RangeError(`${at}: unexpected tensor state.tensors.${name}; expected ${expected}`)
    }
  }
  const out: Record<string, Float32Array> = {}
  let length = paramCount
  for (const name of names) {
    const t = state.tensors[name]
    if (t === undefined) throw new RangeError(`${at}: missing tensor state.tensors.${name}`)
    if (!(t instanceof Float32Array)) throw new TypeError(`${at}: state.tensors.${name} must be a Float32Array`)
    if (length !== undefined && t.length !== length) {
      throw new RangeError(`${at}: state.tensors.${name} has ${t.length} values, expected ${length}`)
    }
    length = t.length
    if (length === 0) throw new RangeError(`${at}: state.tensors.${name} is empty`)
    if (!t.every(Number.isFinite)) throw new RangeError(`${at}: state.tensors.${name} holds a non-finite value`)
    out[name] = t.slice()
  }
  return out
}
