// Sources of randomness: the platform CSPRNG (crypto.getRandomValues), or a seeded ChaCha20 stream for tests only.
import { chacha20 } from '@noble/ciphers/chacha.js'

/** Returns `length` fresh random bytes. Every secret in the protocol (keys, seeds, Shamir coefficients) comes from one. */
export type RandomBytes = (length: number) => Uint8Array

// getRandomValues fills at most 65,536 bytes per call (Web Crypto's quota).
const GET_RANDOM_VALUES_QUOTA = 65_536
const SEED_BYTES = 32
const ZERO_NONCE = new Uint8Array(12)
const CHACHA_BLOCK_BYTES = 64

/**
 * Random bytes from the platform's CSPRNG (`globalThis.crypto.getRandomValues`: browsers, Node 20, Deno, Bun).
 * @throws Error when the platform has no Web Crypto.
 */
export const systemRandomBytes: RandomBytes = (length) => {
  const cryptoApi = globalThis.crypto
  if (cryptoApi?.getRandomValues === undefined) {
    throw new Error('@weft/secagg needs globalThis.crypto.getRandomValues (Web Crypto), which this platform lacks')
  }
  const out = new Uint8Array(length)
  for (let offset = 0; offset < length; offset += GET_RANDOM_VALUES_QUOTA) {
    cryptoApi.getRandomValues(out.subarray(offset, Math.min(length, offset + GET_RANDOM_VALUES_QUOTA)))
  }
  return out
}

/**
 * A deterministic random source: the ChaCha20 keystream of a 32-byte seed, consumed in order.
 * UNSAFE outside tests and simulations: anyone who knows the seed knows every key and mask derived from it.
 * @param seed 32 bytes.
 * @throws RangeError when the seed is not 32 bytes.
 */
export function seededRandomBytesUnsafe(seed: Uint8Array): RandomBytes {
  if (seed.length !== SEED_BYTES) {
    throw new RangeError(`seed must be ${SEED_BYTES} bytes, got ${seed.length}`)
  }
  const key = seed.slice()
  let block = 0
  return (length) => {
    // Each call starts on a fresh block so that no keystream byte is handed out twice.
    const out = chacha20(key, ZERO_NONCE, new Uint8Array(length), undefined, block)
    block += Math.ceil(length / CHACHA_BLOCK_BYTES)
    return out
  }
}
