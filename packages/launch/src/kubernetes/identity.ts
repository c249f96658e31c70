// The seed node's identity for a Kubernetes fabric: an Ed25519 key in the node's identity.key format (the libp2p
// private-key protobuf) and its peer id, made with node:crypto alone so that the manifests can name pod 0's peer id in
// every pod's bootstrap address before any pod has started.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'

/** The seed node's key (`identity.key` bytes: libp2p's PrivateKey protobuf) and the peer id it gives. */
export interface SeedIdentity {
  readonly privateKey: Uint8Array
  readonly peerId: string
}

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

function base58btc(bytes: Uint8Array): string {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  let out = ''
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out
    n /= 58n
  }
  for (const b of bytes) {
    if (b !== 0) break
    out = `1${out}`
  }
  return out
}

/**
 * The identity held by `identity.key` bytes (an Ed25519 libp2p private-key protobuf, as a node writes it).
 * @throws TypeError when the bytes are not such a key
 */
export function seedIdentityFromKey(privateKey: Uint8Array): SeedIdentity {
  // KeyType Ed25519 (field 1 = 1), Data (field 2) of 64 bytes: the 32-byte seed, then the 32-byte public key.
  if (privateKey.length !== 68 || privateKey[0] !== 0x08 || privateKey[1] !== 0x01 || privateKey[2] !== 0x12 || privateKey[3] !== 0x40) {
    throw new TypeError('privateKey must be an Ed25519 identity.key (68 bytes: the libp2p private-key protobuf)')
  }
  const seed = privateKey.subarray(4, 36)
  const publicKey = privateKey.subarray(36, 68)
  const jwk = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' }).export({ format: 'jwk' })
  if (jwk.x !== Buffer.from(publicKey).toString('base64url')) throw new TypeError('privateKey: its public half does not match its seed')
  // Peer id: the identity multihash (0x00, length 36) of the public-key protobuf (08 01 12 20 <32 bytes>).
  const peerId = base58btc(Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...publicKey]))
  return Object.freeze({ privateKey: Uint8Array.from(privateKey), peerId })
}

/** A new random seed identity. */
export function generateSeedIdentity(): SeedIdentity {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const seed = Buffer.from(jwk.d ?? '', 'base64url')
  const publicKey = Buffer.from(jwk.x ?? '', 'base64url')
  return seedIdentityFromKey(Uint8Array.from([0x08, 0x01, 0x12, 0x40, ...seed, ...publicKey]))
}
