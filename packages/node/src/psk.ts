// Private-mesh keys for the CLI: the mesh's key generator, and a new key as swarm.key file text.
export { generatePsk } from '@weft/mesh'

/** The swarm.key file text for a key, ending in a newline. */
export function formatPsk(psk: Uint8Array): string {
  return `${new TextDecoder().decode(psk).trimEnd()}\n`
}
