// libp2p pnet protection for a Weft private network, with its writes kept small (Node: the mesh node's transport stack).
import type { ConnectionProtector, MessageStream } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * Largest write handed to pnet's cipher at once. @libp2p/pnet's xsalsa20 (WASM) keeps a stale memory view after any
 * instance grows its shared memory, so once one write exceeds the initial 640 KiB every later write grows memory
 * again until it hits the WASM maximum and the connection dies ("WebAssembly.Memory.grow(): Maximum memory size
 * exceeded", seen after ~100 MiB of transfer). Writes below the initial size never grow it.
 */
const PNET_MAX_WRITE = 60 * 1024

/**
 * Make the listening side speak second: hold its writes until the dialer's first bytes (its nonce) arrive.
 * pnet has both sides send their nonce at once, but the WebSockets dialer (ws) can emit 'open' and the first
 * 'message' in one tick, before libp2p listens for messages, so the listener's nonce was lost and the handshake
 * timed out. The dialer is listening by the time it has sent its nonce.
 */
function holdFirstWrite(connection: MessageStream): void {
  const held: Array<Uint8Array | Uint8ArrayList> = []
  const target = connection as { send: MessageStream['send'] }
  target.send = (data) => {
    held.push(data)
    return true
  }
  connection.addEventListener(
    'message',
    () => {
      delete (target as { send?: unknown }).send
      for (const data of held) {
        connection.send(data)
      }
    },
    { once: true },
  )
}

/** libp2p pnet protection (wire-compatible with @libp2p/pnet and kubo swarm keys) with its writes kept small. */
export function boundedPreSharedKey(psk: Uint8Array): () => ConnectionProtector {
  const factory = preSharedKey({ psk })
  return () => {
    const inner = factory()
    return {
      async protect(connection, options) {
        if (connection.direction === 'inbound') {
          holdFirstWrite(connection)
        }
        const box = await inner.protect(connection, options)
        ;(box as unknown as { maxMessageSize?: number }).maxMessageSize = PNET_MAX_WRITE
        return box
      },
    }
  }
}
