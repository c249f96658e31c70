// A swarm peer's outer state as bytes (what a joiner fetches by CID): a fixed header, then the outer parameters and
// momentum as little-endian float32.
import type { SwarmState } from './transport.js'

const MAGIC = [0x57, 0x53, 0x57, 0x53, 0x54, 0x30, 0x31, 0x0a] // "WSWST01\n"
const HEADER = 8 + 8 + 8 + 4

/** Encodes a state. */
export function encodeSwarmState(state: SwarmState): Uint8Array {
  const n = state.params.length
  if (state.momentum.length !== n) throw new RangeError(`momentum of ${state.momentum.length} values for ${n} parameters`)
  const out = new Uint8Array(HEADER + 8 * n)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  view.setFloat64(8, state.step, true)
  view.setFloat64(16, state.swarmSamples, true)
  view.setUint32(24, n, true)
  for (let i = 0; i < n; i++) view.setFloat32(HEADER + 4 * i, state.params[i] as number, true)
  for (let i = 0; i < n; i++) view.setFloat32(HEADER + 4 * (n + i), state.momentum[i] as number, true)
  return out
}

/**
 * Decodes a state of a model of `paramCount` parameters, checking everything it reads.
 * @throws RangeError naming what is wrong (not a state, another model's size, a non-finite value)
 */
export function decodeSwarmState(bytes: Uint8Array, paramCount: number): SwarmState {
  if (bytes.length < HEADER || MAGIC.some((b, i) => bytes[i] !== b)) throw new RangeError('not a swarm state')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const step = view.getFloat64(8, true)
  const swarmSamples = view.getFloat64(16, true)
  const n = view.getUint32(24, true)
  if (!Number.isSafeInteger(step) || step < 0 || !Number.isSafeInteger(swarmSamples) || swarmSamples < 0) throw new RangeError('a swarm state with a bad step or sample count')
  if (n !== paramCount) throw new RangeError(`a swarm state of ${n} parameters, expected ${paramCount}`)
  if (bytes.length !== HEADER + 8 * n) throw new RangeError(`a swarm state of ${n} parameters is ${HEADER + 8 * n} bytes, got ${bytes.length}`)
  const params = new Float32Array(n)
  const momentum = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    params[i] = view.getFloat32(HEADER + 4 * i, true)
    momentum[i] = view.getFloat32(HEADER + 4 * (n + i), true)
    if (!Number.isFinite(params[i] as number) || !Number.isFinite(momentum[i] as number)) throw new RangeError(`a swarm state with a non-finite value at ${i}`)
  }
  return { step, swarmSamples, params, momentum }
}
