// Shamir secret sharing over the prime field of the Mersenne prime 2^521 - 1: a 32-byte secret fits in one element,
// and evaluation points can run as high as the client count (no ceiling such as GF(256)'s 255 shares).
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import type { RandomBytes } from './random.js'

/** The field's modulus, 2^521 - 1 (a Mersenne prime). */
export const SHAMIR_PRIME: bigint = (1n << 521n) - 1n

/** Bytes of a serialized field element (big-endian, ceil(521 / 8)). */
export const SHARE_BYTES = 66

/** Longest secret that fits in one field element. */
export const MAX_SECRET_BYTES = 64

// 521 = 65 * 8 + 1: of 66 random big-endian bytes, the first keeps only its lowest bit.
const TOP_BYTE_MASK = 0x01

/** One share: the polynomial's value `y` at the point `x` (a positive integer; x = 0 would be the secret). */
export interface Share {
  readonly x: number
  readonly y: bigint
}

/**
 * Splits a secret into one share per point, any `threshold` of which rebuild it, while fewer reveal nothing.
 * @param secret at most 64 bytes, read as a big-endian integer.
 * @param threshold shares needed to rebuild (the polynomial has degree threshold - 1), 1 <= threshold <= points.length.
 * @param points distinct positive integers, one per share holder.
 * @param randomBytes source of the polynomial's coefficients.
 * @returns the shares, in the order of `points`.
 * @throws RangeError naming the bad argument.
 */
export function splitSecret(
  secret: Uint8Array,
  threshold: number,
  points: readonly number[],
  randomBytes: RandomBytes,
): Share[] {
  if (secret.length > MAX_SECRET_BYTES) {
    throw new RangeError(`secret must be at most ${MAX_SECRET_BYTES} bytes, got ${secret.length}`)
  }
  checkPoints(points)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > points.length) {
    throw new RangeError(`threshold must be an integer in [1, ${points.length}] (the number of points), got ${threshold}`)
  }
  const coefficients = [bigintFromBytes(secret)]
  for (let i = 1; i < threshold; i++) coefficients.push(randomFieldElement(randomBytes))
  return points.map((x) => ({ x, y: evaluate(coefficients, BigInt(x)) }))
}

/**
 * Rebuilds a secret from shares by Lagrange interpolation at 0. Every share given must lie on the same polynomial:
 * with `threshold` or more consistent shares the result is the secret, with fewer it is unrelated to it.
 * @param shares shares with distinct positive points.
 * @param byteLength length of the secret in bytes (it was split from that many bytes).
 * @returns the secret.
 * @throws RangeError when there are no shares, the points repeat, or the value does not fit in `byteLength` bytes
 * (the sign of inconsistent shares).
 */
export function combineShares(shares: readonly Share[], byteLength: number): Uint8Array {
  if (shares.length === 0) throw new RangeError('combineShares needs at least one share, got 0')
  checkPoints(shares.map((share) => share.x))
  const weights = lagrangeWeightsAtZero(shares.map((share) => BigInt(share.x)))
  let value = 0n
  for (let i = 0; i < shares.length; i++) value += weights[i]! * shares[i]!.y
  return bytesFromBigint(value % SHAMIR_PRIME, byteLength)
}

/** Serializes a share's value as 66 big-endian bytes. */
export function shareValueToBytes(y: bigint): Uint8Array {
  return bytesFromBigint(y, SHARE_BYTES)
}

/**
 * Parses 66 big-endian bytes into a field element.
 * @throws RangeError when the length is not 66 or the value is not below the prime.
 */
export function shareValueFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== SHARE_BYTES) throw new RangeError(`a share value must be ${SHARE_BYTES} bytes, got ${bytes.length}`)
  const y = bigintFromBytes(bytes)
  if (y >= SHAMIR_PRIME) throw new RangeError('a share value must be below 2^521 - 1')
  return y
}

function checkPoints(points: readonly number[]): void {
  const seen = new Set<number>()
  for (const x of points) {
    if (!Number.isSafeInteger(x) || x < 1) throw new RangeError(`share points must be positive integers, got ${x}`)
    if (seen.has(x)) throw new RangeError(`share points must be distinct, got ${x} twice`)
    seen.add(x)
  }
}

/** Horner's rule mod p. */
function evaluate(coefficients: readonly bigint[], x: bigint): bigint {
  let y = 0n
  for (let i = coefficients.length - 1; i >= 0; i--) y = (y * x + coefficients[i]!) % SHAMIR_PRIME
  return y
}

/**
 * The weights w_i with f(0) = sum of w_i * f(x_i): w_i = prod over j != i of x_j / (x_j - x_i).
 * Numerators and denominators are products of small integers, so they are formed exactly and reduced once; the
 * denominators are then inverted together (one modular inversion for all of them).
 */
function lagrangeWeightsAtZero(xs: readonly bigint[]): bigint[] {
  const numerators: bigint[] = []
  const denominators: bigint[] = []
  for (let i = 0; i < xs.length; i++) {
    let numerator = 1n
    let denominator = 1n
    for (let j = 0; j < xs.length; j++) {
      if (j === i) continue
      numerator *= xs[j]!
      denominator *= xs[j]! - xs[i]!
    }
    numerators.push(mod(numerator))
    denominators.push(mod(denominator))
  }
  const inverses = invertAll(denominators)
  return numerators.map((numerator, i) => (numerator * inverses[i]!) % SHAMIR_PRIME)
}

/** Batch inversion: one modular inverse and 3(n - 1) multiplications for n nonzero elements. */
function invertAll(values: readonly bigint[]): bigint[] {
  const prefix: bigint[] = []
  let running = 1n
  for (const value of values) {
    prefix.push(running)
    running = (running * value) % SHAMIR_PRIME
  }
  let inverse = invert(running)
  const out = new Array<bigint>(values.length)
  for (let i = values.length - 1; i >= 0; i--) {
    out[i] = (inverse * prefix[i]!) % SHAMIR_PRIME
    inverse = (inverse * values[i]!) % SHAMIR_PRIME
  }
  return out
}

/** Modular inverse by the extended Euclidean algorithm (the argument is nonzero mod p). */
function invert(value: bigint): bigint {
  let [oldR, r] = [mod(value), SHAMIR_PRIME]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const quotient = oldR / r
    ;[oldR, r] = [r, oldR - quotient * r]
    ;[oldS, s] = [s, oldS - quotient * s]
  }
  return mod(oldS)
}

function mod(value: bigint): bigint {
  const reduced = value % SHAMIR_PRIME
  return reduced < 0n ? reduced + SHAMIR_PRIME : reduced
}

/** A uniform field element: 521 random bits, redrawn in the (2^-521 likely) case that they equal p. */
function randomFieldElement(randomBytes: RandomBytes): bigint {
  for (;;) {
    const bytes = randomBytes(SHARE_BYTES)
    bytes[0] = bytes[0]! & TOP_BYTE_MASK
    const value = bigintFromBytes(bytes)
    if (value < SHAMIR_PRIME) return value
  }
}

function bigintFromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytesToHex(bytes)}`)
}

function bytesFromBigint(value: bigint, byteLength: number): Uint8Array {
  if (value >> BigInt(byteLength * 8) !== 0n) {
    throw new RangeError(`value does not fit in ${byteLength} bytes: the shares are inconsistent`)
  }
  return hexToBytes(value.toString(16).padStart(byteLength * 2, '0'))
}

