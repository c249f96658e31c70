// Private-network pre-shared keys in the swarm.key format shared with go-ipfs/kubo and js-libp2p pnet.
import { toHex } from '@weft/protocol'
import { InvalidPskError } from './errors.js'

const HEADER = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'

/** A fresh random 32-byte key, as the bytes of a swarm.key file (`/key/swarm/psk/1.0.0/\n/base16/\n<64 hex>`). */
export function generatePsk(): Uint8Array {
  const key = crypto.getRandomValues(new Uint8Array(32))
  return new TextEncoder().encode(`${HEADER}\n${CODEC}\n${toHex(key)}`)
}

/**
 * Parse and normalise a swarm.key file's contents (string or bytes; trailing whitespace allowed).
 * @returns the swarm.key bytes libp2p pnet expects.
 * @throws InvalidPskError saying which line is wrong.
 */
export function parsePsk(input: string | Uint8Array): Uint8Array {
  const text = typeof input === 'string' ? input : new TextDecoder().decode(input)
  const lines = text.trim().split(/\r\n|\r|\n/)
  if (lines[0] !== HEADER) {
    throw new InvalidPskError(`swarm.key must start with the line "${HEADER}", got ${JSON.stringify(lines[0] ?? '')}`)
  }
  if (lines[1] !== CODEC) {
    throw new InvalidPskError(`swarm.key second line must be "${CODEC}" (only base16 keys are supported), got ${JSON.stringify(lines[1] ?? '')}`)
  }
  const hex = (lines[2] ?? '').trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex) || lines.length > 3) {
    throw new InvalidPskError('swarm.key third line must be the 32-byte key as 64 hex digits, and nothing may follow it')
  }
  return new TextEncoder().encode(`${HEADER}\n${CODEC}\n${hex.toLowerCase()}`)
}
