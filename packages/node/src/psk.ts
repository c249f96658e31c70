// Private-mesh keys for the CLI: a fresh swarm.key as text.
import { generatePsk as generatePskBytes } from '@weft/mesh'

/** A new random pre-shared key in the swarm.key format. */
export function generatePsk(): Uint8Array {
  return generatePskBytes()
}

/** The swarm.key file text for a key, ending in a newline. */
export function formatPsk(psk: Uint8Array): string {
  return `${new TextDecoder().decode(psk).trimEnd()}\n`
}
