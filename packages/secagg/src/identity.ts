// Who a client is, beyond the id the server gives it: each client signs the X25519 keys it advertises with a
// long-term Ed25519 identity key and checks its neighbours' signatures, so a server cannot swap a client's keys
// for its own (Bonawitz et al.'s malicious-server model assumes such a PKI).
import { ed25519 } from '@noble/curves/ed25519.js'
import { concatBytes } from '@noble/hashes/utils.js'
import { contextBytes } from './bytes.js'
import { SECAGG_PROTOCOL_VERSION } from './crypto.js'
import { systemRandomBytes } from './random.js'

/** Bytes of an Ed25519 signature. */
export const SIGNATURE_BYTES = 64

/**
 * A client's signing identity and its directory of the others'. On a mesh the id is the libp2p peer id, itself
 * derived from an Ed25519 public key, so `verify` needs no other PKI; a simulator gives each virtual client a key.
 */
export interface SecAggIdentity {
  /** Signs bytes with this client's identity key (64-byte Ed25519 signature). */
  sign(message: Uint8Array): Uint8Array
  /** True when `signature` is `peerId`'s signature of `message`; false for an unknown peer or a bad signature. */
  verify(peerId: string, message: Uint8Array, signature: Uint8Array): boolean
}

export interface Ed25519IdentityInit {
  /** 32-byte Ed25519 secret key (seed) of this client. */
  readonly secretKey: Uint8Array
  /** The 32-byte Ed25519 public key behind a peer id, or undefined when the id names no such key. */
  readonly publicKeyOf: (peerId: string) => Uint8Array | undefined
}

/**
 * An identity over @noble/curves' Ed25519 (browser-safe).
 * @throws RangeError when the secret key is not 32 bytes.
 */
export function ed25519Identity(init: Ed25519IdentityInit): SecAggIdentity {
  if (init.secretKey.length !== 32) throw new RangeError(`secretKey must be 32 bytes, got ${init.secretKey.length}`)
  const secretKey = init.secretKey.slice()
  return Object.freeze({
    sign: (message: Uint8Array) => ed25519.sign(message, secretKey),
    verify: (peerId: string, message: Uint8Array, signature: Uint8Array) => {
      const publicKey = init.publicKeyOf(peerId)
      if (publicKey === undefined || publicKey.length !== 32 || signature.length !== SIGNATURE_BYTES) return false
      try {
        return ed25519.verify(signature, message, publicKey)
      } catch {
        return false
      }
    },
  })
}

/** The Ed25519 public key of a 32-byte secret key. */
export function ed25519PublicKey(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey)
}

/**
 * An identity that signs nothing and accepts every key: the protocol then trusts the server not to swap keys.
 * Only for tests of the arithmetic and benchmarks; never on a network.
 */
export const unauthenticatedIdentityUnsafe: SecAggIdentity = Object.freeze({
  sign: () => new Uint8Array(0),
  verify: () => true,
})

/** What a client signs: protocol version, job, round and its own id, then its channel and mask public keys. */
export function advertisedKeysMessage(
  ref: { readonly jobId: string; readonly round: number },
  sender: string,
  channelPublicKey: Uint8Array,
  maskPublicKey: Uint8Array,
): Uint8Array {
  return concatBytes(
    contextBytes('advertised-keys', [SECAGG_PROTOCOL_VERSION, ref.jobId, ref.round, sender]),
    channelPublicKey,
    maskPublicKey,
  )
}

/**
 * Ed25519 identities for clients that have no identity of their own (a simulator's virtual clients): each id gets a
 * fresh key on first use, and every identity of the directory verifies against the others' public keys.
 */
export interface Ed25519Directory {
  identityOf(id: string): SecAggIdentity
}

/** A directory of Ed25519 identities; keys come from `randomBytes` (default: crypto.getRandomValues). */
export function createEd25519Directory(randomBytes: (length: number) => Uint8Array = systemRandomBytes): Ed25519Directory {
  const publicKeys = new Map<string, Uint8Array>()
  const identities = new Map<string, SecAggIdentity>()
  const publicKeyOf = (peerId: string) => publicKeys.get(peerId)
  return Object.freeze({
    identityOf(id: string): SecAggIdentity {
      let identity = identities.get(id)
      if (identity === undefined) {
        const secretKey = randomBytes(32)
        publicKeys.set(id, ed25519PublicKey(secretKey))
        identity = ed25519Identity({ secretKey, publicKeyOf })
        identities.set(id, identity)
      }
      return identity
    },
  })
}
