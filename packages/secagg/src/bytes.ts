// Byte helpers: little-endian uint32 views, domain-separated context strings, constant-shape comparisons.
import { utf8ToBytes } from '@noble/hashes/utils.js'

/** Whether typed arrays use little-endian byte order here (every mainstream platform). */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Prefix of every context string, so that keys derived here never collide with another protocol's. */
const CONTEXT_PREFIX = 'weft/secagg/v1/'

/** Reads little-endian uint32 words (the wire and PRG order) from bytes whose length is a multiple of 4. */
export function wordsFromBytes(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(bytes.length >>> 2)
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(words.buffer).set(bytes.subarray(0, words.length * 4))
    return words
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true)
  return words
}

/** Writes uint32 words as little-endian bytes (the wire order). */
export function bytesFromWords(words: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(words.buffer.slice(words.byteOffset, words.byteOffset + words.byteLength))
  const bytes = new Uint8Array(words.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i]!, true)
  return bytes
}

/**
 * Encodes a context label and its fields without ambiguity: strings as a 2-byte length plus UTF-8, numbers as 4-byte
 * big-endian uint32. Used as HKDF info and AEAD associated data, so that (job "a", round 12) and (job "a1", round 2)
 * never yield the same bytes.
 */
export function contextBytes(label: string, fields: readonly (string | number)[]): Uint8Array {
  const parts = [utf8ToBytes(CONTEXT_PREFIX + label), ...fields.map(encodeField)]
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

function encodeField(field: string | number): Uint8Array {
  if (typeof field === 'number') {
    const out = new Uint8Array(4)
    new DataView(out.buffer).setUint32(0, field, false)
    return out
  }
  const text = utf8ToBytes(field)
  if (text.length > 0xffff) throw new RangeError(`context field must be at most 65535 UTF-8 bytes, got ${text.length}`)
  const out = new Uint8Array(2 + text.length)
  new DataView(out.buffer).setUint16(0, text.length, false)
  out.set(text, 2)
  return out
}

/** Whether two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}
