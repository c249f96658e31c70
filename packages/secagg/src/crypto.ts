// Key agreement and key derivation: X25519 between clients' round keys, HKDF-SHA256 bound to the job, round and pair,
// and ChaCha20-Poly1305 sealing of share bundles whose associated data names version, job, round, sender, recipient.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes } from '@noble/hashes/utils.js'
import { contextBytes } from './bytes.js'
import { MessageRejectedError } from './errors.js'

/** Version of the protocol's messages and derivations; bound into every share bundle. */
export const SECAGG_PROTOCOL_VERSION = 1

/** Bytes of an X25519 key (secret or public) and of every derived key. */
export const KEY_BYTES = 32

/** Bytes of a ChaCha20-Poly1305 nonce and tag. */
export const NONCE_BYTES = 12
const TAG_BYTES = 16

/**
 * Diffie-Hellman over Curve25519 (RFC 7748). The default is @noble/curves' `x25519`; tests and simulations may inject
 * an equivalent (for speed) that gives the same bytes.
 */
export interface KeyAgreement {
  /** The public key of a 32-byte secret key. */
  publicKey(secretKey: Uint8Array): Uint8Array
  /** The 32-byte shared secret; throws when the peer's key is malformed or of low order (all-zero secret). */
  sharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array
}

/** X25519 from @noble/curves: pure JavaScript, browser-safe. */
export const nobleX25519: KeyAgreement = Object.freeze({
  publicKey: (secretKey: Uint8Array) => x25519.getPublicKey(secretKey),
  sharedSecret: (secretKey: Uint8Array, peerPublicKey: Uint8Array) => x25519.getSharedSecret(secretKey, peerPublicKey),
})

/** Identifies one round of one job: every derived key and every message is bound to it. */
export interface RoundRef {
  readonly jobId: string
  readonly round: number
}

/**
 * The seed of the pairwise mask between two clients: HKDF-SHA256 of their mask keys' X25519 secret, with the job,
 * round and both ids (lower index first) in the info, so that the two clients derive the same seed and no other pair
 * or round ever does.
 */
export function pairMaskSeed(shared: Uint8Array, ref: RoundRef, lowerId: string, higherId: string): Uint8Array {
  return hkdf(sha256, shared, undefined, contextBytes('pair-mask', [ref.jobId, ref.round, lowerId, higherId]), KEY_BYTES)
}

/**
 * The key that `sender` seals its share bundle for `recipient` with: HKDF-SHA256 of their channel keys' X25519 secret,
 * directional (the two directions get different keys, so a nonce can never repeat under one key across them).
 */
export function channelKey(shared: Uint8Array, ref: RoundRef, sender: string, recipient: string): Uint8Array {
  return hkdf(sha256, shared, undefined, contextBytes('share-channel', [ref.jobId, ref.round, sender, recipient]), KEY_BYTES)
}

function bundleAssociatedData(ref: RoundRef, sender: string, recipient: string): Uint8Array {
  return contextBytes('share-bundle', [SECAGG_PROTOCOL_VERSION, ref.jobId, ref.round, sender, recipient])
}

/** Encrypts and authenticates a share bundle's plaintext for one recipient. */
export function sealBundle(
  key: Uint8Array,
  nonce: Uint8Array,
  ref: RoundRef,
  sender: string,
  recipient: string,
  plaintext: Uint8Array,
): Uint8Array {
  return chacha20poly1305(key, nonce, bundleAssociatedData(ref, sender, recipient)).encrypt(plaintext)
}

/**
 * Opens a share bundle.
 * @throws MessageRejectedError (`authentication-failed`) when the key, nonce, associated data (version, job, round,
 * sender, recipient) or ciphertext do not match what was sealed, and (`wrong-length`) for a ciphertext or nonce of
 * the wrong size.
 */
export function openBundle(
  key: Uint8Array,
  nonce: Uint8Array,
  ref: RoundRef,
  sender: string,
  recipient: string,
  ciphertext: Uint8Array,
): Uint8Array {
  if (nonce.length !== NONCE_BYTES || ciphertext.length < TAG_BYTES) {
    throw new MessageRejectedError(
      'wrong-length',
      `share bundle from ${sender}: nonce must be ${NONCE_BYTES} bytes and ciphertext at least ${TAG_BYTES}, ` +
        `got ${nonce.length} and ${ciphertext.length}`,
    )
  }
  try {
    return chacha20poly1305(key, nonce, bundleAssociatedData(ref, sender, recipient)).decrypt(ciphertext)
  } catch (cause) {
    throw new MessageRejectedError(
      'authentication-failed',
      `share bundle from ${sender} to ${recipient} does not open for job ${ref.jobId} round ${ref.round}: it was ` +
        'sealed for another peer, round or job, or altered',
      { cause },
    )
  }
}

/**
 * A client's commitment to its self-mask seed, sent with its keys: SHA-256 over the version, job, round, the client's
 * id and the seed. The seed is 32 random bytes, so the commitment hides it; the server checks the seed it rebuilds
 * from the neighbours' shares against it, so a wrong share cannot silently change the sum.
 */
export function selfMaskCommitment(seed: Uint8Array, ref: RoundRef, owner: string): Uint8Array {
  return sha256(concatBytes(contextBytes('self-mask-commitment', [SECAGG_PROTOCOL_VERSION, ref.jobId, ref.round, owner]), seed))
}

/** Bytes of a self-mask commitment. */
export const COMMITMENT_BYTES = 32

/** Bytes of a sealed bundle's ciphertext for a plaintext of `plaintextBytes`. */
export function sealedLength(plaintextBytes: number): number {
  return plaintextBytes + TAG_BYTES
}
