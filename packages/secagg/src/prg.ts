// The masks' pseudorandom generator: a ChaCha20 keystream under a 32-byte seed, read as uint32 words mod 2^32.
import { chacha20 } from '@noble/ciphers/chacha.js'
import { LITTLE_ENDIAN_HOST, wordsFromBytes } from './bytes.js'

/**
 * Nonces that separate the streams drawn from one key by purpose. Every key below is fresh per round and used for
 * one purpose, so the nonce is a second guard against reusing a keystream, not the only one.
 */
export const PRG_NONCES = Object.freeze({
  selfMask: nonce(1),
  pairMask: nonce(2),
  rounding: nonce(3),
  graph: nonce(4),
})

function nonce(purpose: number): Uint8Array {
  const out = new Uint8Array(12)
  out[0] = purpose
  return out
}

/** Expands a 32-byte seed into `length` pseudorandom uint32 words (ChaCha20 keystream, little-endian words). */
export function expandSeed(seed: Uint8Array, nonce: Uint8Array, length: number): Uint32Array {
  const stream = chacha20(seed, nonce, new Uint8Array(length * 4))
  return wordsFromBytes(stream)
}

// One keystream buffer reused by every mask: a round applies up to k + 1 masks of the whole vector per client, and
// allocating each afresh made garbage collection a large share of the run time.
let scratch = new Uint8Array(0)

/** target += sign * PRG(seed) in Z_{2^32}, in place. */
export function applyMask(target: Uint32Array, seed: Uint8Array, nonce: Uint8Array, sign: 1 | -1): void {
  const byteLength = target.length * 4
  if (scratch.length < byteLength) scratch = new Uint8Array(byteLength)
  const stream = scratch.subarray(0, byteLength)
  stream.fill(0)
  chacha20(seed, nonce, stream, stream)
  const mask = LITTLE_ENDIAN_HOST ? new Uint32Array(stream.buffer, 0, target.length) : wordsFromBytes(stream)
  // Uint32Array stores wrap modulo 2^32 (ToUint32), and the intermediate sum or difference of two uint32 values is an
  // exact double, so plain + and - give ring arithmetic without Math.imul or `>>> 0`.
  if (sign === 1) {
    for (let i = 0; i < target.length; i++) target[i] = target[i]! + mask[i]!
  } else {
    for (let i = 0; i < target.length; i++) target[i] = target[i]! - mask[i]!
  }
}

const STREAM_CHUNK_WORDS = 1024
const CHACHA_BLOCK_WORDS = 16

/** An endless stream of pseudorandom uint32 words under (seed, nonce), read one at a time. */
export function createWordStream(seed: Uint8Array, nonce: Uint8Array): () => number {
  let chunk: Uint32Array = new Uint32Array(0)
  let next = 0
  let block = 0
  return () => {
    if (next === chunk.length) {
      chunk = wordsFromBytes(chacha20(seed, nonce, new Uint8Array(STREAM_CHUNK_WORDS * 4), undefined, block))
      block += STREAM_CHUNK_WORDS / CHACHA_BLOCK_WORDS
      next = 0
    }
    return chunk[next++]!
  }
}
