// What FL needs of a mesh node: its id, typed RPC and tensor-set transfer. A browser peer and a daemon both have it.
import type { Rpc, Tensors } from '@weft/mesh'

/** The part of a mesh node that the FL roles use (a Node mesh node has it; so does a browser libp2p with the primitives). */
export interface FlEndpoint {
  readonly peerId: string
  readonly rpc: Rpc
  readonly tensors: Tensors
}

/** A pino-compatible logger (the node passes its child logger; tests may pass a silent one). */
export interface FlLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** A logger that drops everything. */
export const silentLogger: FlLogger = { debug() {}, info() {}, warn() {}, error() {} }

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** Lower-case hex of bytes (model hashes on the wire are bytes, in the store hex). */
export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX[b] as string
  return out
}

/** Bytes of a hex string. @throws RangeError on odd length or a non-hex digit */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`not a hex string: ${hex.slice(0, 16)}`)
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}
