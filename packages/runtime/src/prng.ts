// Seeded pseudo-random numbers (mulberry32) for reproducible initialization and shuffling across engines.

/** A seeded generator of uniform numbers in [0, 1). Not for cryptography. */
export interface Prng {
  /** Next uniform number in [0, 1). */
  next(): number
  /** Next unsigned 32-bit integer. */
  nextUint32(): number
}

/**
 * Creates a mulberry32 generator.
 * @param seed any number; only its low 32 bits are used.
 * @throws TypeError when `seed` is not a finite number.
 */
export function mulberry32(seed: number): Prng {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new TypeError(`seed must be a finite number, got ${String(seed)}`)
  }
  let a = seed >>> 0
  const nextUint32 = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  return Object.freeze({ nextUint32, next: () => nextUint32() / 4294967296 })
}

/** Fisher–Yates shuffle of `0..n-1` driven by `prng`. */
export function permutation(n: number, prng: Prng): Int32Array {
  const p = new Int32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  for (let i = n - 1; i > 0; i--) {
    const j = prng.nextUint32() % (i + 1)
    const t = p[i]!
    p[i] = p[j]!
    p[j] = t
  }
  return p
}

/** Mixes a seed with extra integers (e.g. epoch) into a new 32-bit seed. */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = (seed >>> 0) ^ 0x9e3779b9
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35) >>> 0
    h ^= h >>> 16
  }
  return h >>> 0
}
