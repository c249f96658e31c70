// X25519 through Node's OpenSSL for nodes and simulations: about 30 times faster than the pure-JavaScript default
// (noble), which matters on a complete graph (2(n − 1) agreements per client per round). Public keys still come
// from noble; the shared secrets agree with noble's (test/key-agreement.test.ts, RFC 7748 vectors).
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto'
import { type KeyAgreement, nobleX25519 } from '../index.js'

// DER prefixes of X25519 keys (RFC 8410): PKCS#8 private key and SubjectPublicKeyInfo, each followed by 32 raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

/**
 * A native X25519 key agreement. Importing a key costs more than the agreement, and each key meets up to n − 1
 * peers, so imported keys are cached: at most `cacheSize` of them (oldest evicted), never for longer than needed.
 */
export function nativeX25519(cacheSize = 4096): KeyAgreement {
  const cache = new Map<string, KeyObject>()
  const cached = (kind: 'secret' | 'public', raw: Uint8Array, create: () => KeyObject): KeyObject => {
    const id = `${kind}:${Buffer.from(raw).toString('base64')}`
    let key = cache.get(id)
    if (key === undefined) {
      key = create()
      cache.set(id, key)
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string)
    }
    return key
  }
  return {
    publicKey: (secretKey) => nobleX25519.publicKey(secretKey),
    sharedSecret: (secretKey, peerPublicKey) => {
      const privateKey = cached('secret', secretKey, () => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' }))
      const publicKey = cached('public', peerPublicKey, () => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublicKey]), format: 'der', type: 'spki' }))
      const shared = new Uint8Array(diffieHellman({ privateKey, publicKey }))
      // RFC 7748 §6.1: a low-order peer key gives the all-zero secret, which must not be used.
      if (shared.every((byte) => byte === 0)) throw new Error('X25519 gave the all-zero secret (a low-order public key)')
      return shared
    },
  }
}
