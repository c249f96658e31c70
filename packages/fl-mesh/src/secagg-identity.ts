// The node's identity in secure aggregation: it signs its round keys with the Ed25519 key its libp2p peer id is
// derived from, and checks a neighbour's signature against the key inside the neighbour's peer id (no other PKI).
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ed25519Identity, ed25519PublicKey, type SecAggIdentity } from '@weft/secagg'

/**
 * A SecAggIdentity over the node's libp2p key.
 * @throws TypeError when the key is not Ed25519 (its peer id would not carry a key the neighbours can check).
 */
export function peerIdSecAggIdentity(privateKey: PrivateKey): SecAggIdentity {
  if (privateKey.type !== 'Ed25519') throw new TypeError(`secure aggregation signs with an Ed25519 node key, this node's is ${privateKey.type}`)
  // libp2p keeps an Ed25519 private key as seed || public key.
  const secretKey = privateKey.raw.subarray(0, 32)
  const publicKey = ed25519PublicKey(secretKey)
  const expected = privateKey.publicKey.raw
  if (publicKey.length !== expected.length || publicKey.some((b, i) => b !== expected[i])) {
    throw new TypeError("the node key's first 32 bytes are not the seed of its public key")
  }
  return ed25519Identity({ secretKey, publicKeyOf })
}

/** The Ed25519 public key a peer id carries, or undefined for a malformed id or another key type. */
function publicKeyOf(peerId: string): Uint8Array | undefined {
  try {
    const key = peerIdFromString(peerId).publicKey
    return key?.type === 'Ed25519' ? key.raw : undefined
  } catch {
    return undefined
  }
}
