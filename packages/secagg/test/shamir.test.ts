// Shamir sharing over 2^521 - 1: any t shares rebuild the secret, t - 1 shares are consistent with every secret.
import { SHAMIR_PRIME, type Share, combineShares, seededRandomBytesUnsafe, splitSecret } from '@weft/secagg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

/** Up to 40 spread-out points (like client indices + 1 in a large round), a threshold, and a random order of them. */
const setupArb = fc
  .record({
    count: fc.integer({ min: 1, max: 40 }),
    thresholdFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    offset: fc.integer({ min: 0, max: 100_000 }),
  })
  .chain(({ count, thresholdFraction, offset }) => {
    const threshold = Math.max(1, Math.ceil(thresholdFraction * count))
    const points = Array.from({ length: count }, (_, i) => offset + 1 + i * 3)
    return fc.record({
      threshold: fc.constant(threshold),
      points: fc.constant(points),
      order: fc.shuffledSubarray(points.map((_, i) => i), { minLength: count, maxLength: count }),
    })
  })

const mod = (v: bigint) => ((v % SHAMIR_PRIME) + SHAMIR_PRIME) % SHAMIR_PRIME

/** Modular inverse (extended Euclid), written here so that the test does not trust the library's arithmetic. */
function inverse(value: bigint): bigint {
  let [r0, r1] = [mod(value), SHAMIR_PRIME]
  let [s0, s1] = [1n, 0n]
  while (r1 !== 0n) {
    const q = r0 / r1
    ;[r0, r1] = [r1, r0 - q * r1]
    ;[s0, s1] = [s1, s0 - q * s1]
  }
  return mod(s0)
}

/** y at x = 0 of the polynomial of degree < points.length through the given points. */
function interpolateAtZero(points: readonly Share[]): bigint {
  let sum = 0n
  for (const [i, { x, y }] of points.entries()) {
    let weight = 1n
    for (const [j, other] of points.entries()) {
      if (i !== j) weight = mod(weight * BigInt(other.x) * inverse(BigInt(other.x - x)))
    }
    sum = mod(sum + weight * y)
  }
  return sum
}

function toBigint(bytes: Uint8Array): bigint {
  return bytes.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n)
}

describe('Shamir secret sharing', () => {
  it('rebuilds the secret from any t of the shares', () => {
    fc.assert(
      fc.property(secretArb, seedArb, setupArb, (secret, seed, { threshold, points, order }) => {
        const shares = splitSecret(secret, threshold, points, seededRandomBytesUnsafe(seed))
        const subset = order.slice(0, threshold).map((i) => shares[i]!)
        expect(combineShares(subset, 32)).toEqual(secret)
        // More than t consistent shares give the same answer.
        expect(combineShares(shares, 32)).toEqual(secret)
      }),
      { numRuns: 100 },
    )
  })

  it('t - 1 shares of one secret can be completed into t shares of any other secret', () => {
    fc.assert(
      fc.property(secretArb, secretArb, seedArb, setupArb, (secret, other, seed, { threshold, points, order }) => {
        fc.pre(threshold >= 2)
        const shares = splitSecret(secret, threshold, points, seededRandomBytesUnsafe(seed))
        const known = order.slice(0, threshold - 1).map((i) => shares[i]!)
        const missing = shares[order[threshold - 1]!]!
        // A polynomial of degree t - 1 through (0, other) and the t - 1 known shares exists for every `other`:
        // its value at the missing point completes the set, and t shares then rebuild `other`, not `secret`.
        const forged = forgeShare(known, missing.x, toBigint(other))
        expect(combineShares([...known, forged], 32)).toEqual(other)
        expect(combineShares([...known, missing], 32)).toEqual(secret)
      }),
      { numRuns: 50 },
    )
  })

  it('refuses bad points, thresholds and secrets with the value in the message', () => {
    const random = seededRandomBytesUnsafe(new Uint8Array(32))
    expect(() => splitSecret(new Uint8Array(32), 2, [0, 1], random)).toThrow(/positive integers, got 0/)
    expect(() => splitSecret(new Uint8Array(32), 2, [3, 3], random)).toThrow(/distinct, got 3 twice/)
    expect(() => splitSecret(new Uint8Array(32), 4, [1, 2, 3], random)).toThrow(/\[1, 3\].*got 4/)
    expect(() => splitSecret(new Uint8Array(65), 1, [1], random)).toThrow(/at most 64 bytes, got 65/)
    expect(() => combineShares([], 32)).toThrow(/at least one share/)
  })

  it('has no share-count ceiling: 2,000 shares at points up to 10,000', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => i * 7)
    const points = Array.from({ length: 2000 }, (_, i) => 10_000 - i * 5)
    const shares = splitSecret(secret, 5, points, seededRandomBytesUnsafe(new Uint8Array(32).fill(9)))
    expect(combineShares(shares.slice(-5), 32)).toEqual(secret)
  })
})

/** The share at x of the polynomial of degree known.length through (0, secret) and the known shares. */
function forgeShare(known: readonly Share[], x: number, secret: bigint): Share {
  // Lagrange basis over the points {0} + known, evaluated at x: y(x) = sum of y_j * prod (x - x_m) / (x_j - x_m).
  const points: Share[] = [{ x: 0, y: secret }, ...known]
  let y = 0n
  for (const [j, pj] of points.entries()) {
    let term = pj.y
    for (const [m, pm] of points.entries()) {
      if (m !== j) term = mod(term * BigInt(x - pm.x) * inverse(BigInt(pj.x - pm.x)))
    }
    y = mod(y + term)
  }
  // Sanity: the forged polynomial really passes through (0, secret).
  if (interpolateAtZero([...known, { x, y }]) !== secret) throw new Error('forged share is inconsistent')
  return { x, y }
}
