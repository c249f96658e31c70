// The browser peer's identity: an Ed25519 key made once and kept in IndexedDB, so a reload (or a laptop that slept)
// comes back as the same peer, with the same peer id its coordinator knows.
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { KeyValueStore } from './idb.js'

const KEY = 'libp2p-key'

/** The peer's key from `store`, made and stored on first use. */
export async function loadOrCreateKey(store: KeyValueStore): Promise<PrivateKey> {
  const stored = await store.get<Uint8Array>('identity', KEY)
  if (stored !== undefined) {
    try {
      const key = privateKeyFromProtobuf(stored)
      if (key.type === 'Ed25519') return key
    } catch {
      // An unreadable key is replaced: the peer starts over under a new id.
    }
  }
  const key = await generateKeyPair('Ed25519')
  await store.put('identity', KEY, privateKeyToProtobuf(key))
  return key
}
