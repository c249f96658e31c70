// Test helpers of @weft/store: deterministic bytes, streams cut into pieces, byte equality.
import { expect } from 'vitest'

/** Deterministic pseudo-random bytes (xorshift), so multi-MiB inputs need no fixture. */
export function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Cuts bytes into pieces of `size`, as a stream would deliver them. */
export function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.subarray(i, i + size)
  if (bytes.byteLength === 0) yield bytes
}

/** Byte equality without vitest's element-by-element deep compare, which takes seconds on MiB arrays. */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.byteLength).toBe(expected.byteLength)
  expect(Buffer.compare(actual, expected)).toBe(0)
}

export async function concat(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return Buffer.concat(parts)
}
