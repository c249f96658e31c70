// Randomness for DP noise: a cryptographically secure uniform source, a seeded one for tests, and Gaussian draws.
//
// Floating-point caveat (Mironov 2012, "On Significance of the Least Significant Bits for Differential
// Privacy"): the accountant's guarantee is for noise drawn from the real-valued Gaussian. Noise computed in
// floating point from finitely many random bits, then added to a float and rounded, does not have that
// distribution exactly: which values are reachable, and how often, depends on the unnoised value, and
// Mironov showed that this can reveal the input for naive Laplace samplers. We draw 53-bit uniforms and
// compute in float64, which makes such leaks small in practice, but it is not a formal guarantee; a provable
// implementation would need a discrete Gaussian (Canonne, Kamath & Steinke 2020) on a fixed grid.

/** A source of uniform numbers in [0, 1). */
export interface UniformSource {
  /** The next uniform draw in [0, 1), with 53 random bits. */
  next(): number
}

/** A source of standard normal draws, N(0, 1). */
export interface GaussianSource {
  next(): number
}

/** Injected randomness for the noise functions; the default is the secure source. */
export interface NoiseComponents {
  readonly uniform?: UniformSource
}

/** crypto.getRandomValues fills at most 65,536 bytes per call. */
const BLOCK_WORDS = 16_384
const TWO_POW_26 = 2 ** 26
const TWO_POW_53 = 2 ** 53

/** 53 bits from two 32-bit words: the top 27 bits of `a` and the top 26 bits of `b`. */
function wordsToUniform(a: number, b: number): number {
  return ((a >>> 5) * TWO_POW_26 + (b >>> 6)) / TWO_POW_53
}

/**
 * A cryptographically secure uniform source: `crypto.getRandomValues` (Web Crypto, in browsers and Node ≥ 20),
 * read in 64 KiB blocks so that a million draws cost a few dozen calls.
 */
export function secureUniformSource(): UniformSource {
  const block = new Uint32Array(BLOCK_WORDS)
  let used = BLOCK_WORDS
  return {
    next(): number {
      if (used + 2 > BLOCK_WORDS) {
        crypto.getRandomValues(block)
        used = 0
      }
      const value = wordsToUniform(block[used] as number, block[used + 1] as number)
      used += 2
      return value
    },
  }
}

let sharedSecureSource: UniformSource | undefined

/** The process-wide secure source, created on first use. */
export function defaultUniformSource(): UniformSource {
  sharedSecureSource ??= secureUniformSource()
  return sharedSecureSource
}

/** fmix32 from MurmurHash3: spreads a seed's bits over the whole word. */
function mix32(x: number): number {
  let h = x >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/**
 * A SEEDED, PREDICTABLE uniform source (xoshiro128**) for tests and reproducible simulations only: noise
 * from it gives no privacy, since anyone with the seed can subtract it.
 * @param seed any safe integer
 * @throws TypeError if the seed is not a safe integer
 */
export function seededUniformSourceUnsafe(seed: number): UniformSource {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${seed}`)
  const low = seed >>> 0
  const high = Math.floor(seed / 2 ** 32) >>> 0
  // Four distinct mixes of the seed; the |1 keeps the state from being all zero (xoshiro's one fixed point).
  const s = [mix32(low ^ 0x9e3779b9), mix32(high ^ 0x7f4a7c15), mix32(low + 0x6a09e667), mix32(high + 0xbb67ae85) | 1]
  const nextWord = (): number => {
    const [s0, s1, s2, s3] = s as [number, number, number, number]
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    const n2 = s2 ^ s0
    const n3 = s3 ^ s1
    s[1] = s1 ^ n2
    s[0] = s0 ^ n3
    s[2] = n2 ^ t
    s[3] = rotl(n3, 11)
    return result
  }
  return { next: () => wordsToUniform(nextWord(), nextWord()) }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/**
 * Standard normal draws by the Marsaglia polar method: pick (u, v) uniform in the unit disc, then
 * u·√(-2 ln s / s) and v·√(-2 ln s / s) (s = u² + v²) are two independent N(0, 1) draws. Arithmetic is float64.
 * @param uniform the uniform source; the secure one by default
 */
export function gaussianSource(uniform: UniformSource = defaultUniformSource()): GaussianSource {
  let spare: number | undefined
  return {
    next(): number {
      if (spare !== undefined) {
        const value = spare
        spare = undefined
        return value
      }
      let u: number
      let v: number
      let s: number
      do {
        u = 2 * uniform.next() - 1
        v = 2 * uniform.next() - 1
        s = u * u + v * v
      } while (s >= 1 || s === 0)
      const scale = Math.sqrt((-2 * Math.log(s)) / s)
      spare = v * scale
      return u * scale
    },
  }
}
