// Seeded pseudo-random numbers (sfc32 seeded through splitmix32): the same seed and stream give the same draws everywhere.

/** A seeded generator. Not cryptographic. */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextU32(): number
  /** A uniform float in [0, 1) with 53 random bits. */
  next(): number
  /** A uniform integer in [0, n); unbiased (rejection sampling). */
  int(n: number): number
  /** A standard normal draw (Box-Muller). */
  gaussian(): number
}

function splitmix32(state: number): [next: number, out: number] {
  const s = (state + 0x9e3779b9) | 0
  let z = s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return [s, (z ^ (z >>> 16)) >>> 0]
}

function checkSeed(value: number, arg: string): void {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${arg} must be a safe integer, got ${String(value)}`)
}

/**
 * Creates a generator from a seed and optional stream numbers (e.g. an epoch): different streams of one
 * seed are independent-looking sequences.
 * @param seed any safe integer
 * @param streams further safe integers mixed into the state (e.g. `epoch`, a class index)
 * @throws TypeError if a seed or stream is not a safe integer
 */
export function createRng(seed: number, ...streams: number[]): Rng {
  checkSeed(seed, 'seed')
  let state = 0x243f6a88
  const words: number[] = []
  for (const [i, v] of [seed, ...streams].entries()) {
    if (i > 0) checkSeed(v, 'streams')
    words.push(v >>> 0, Math.floor(v / 2 ** 32) >>> 0)
  }
  for (const w of words) {
    let out: number
    ;[state, out] = splitmix32(state ^ w)
    state = (state ^ out) | 0
  }
  let a: number
  let b: number
  let c: number
  ;[state, a] = splitmix32(state)
  ;[state, b] = splitmix32(state)
  ;[state, c] = splitmix32(state)
  let d = 1
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) nextU32()
  const next = (): number => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992
  return {
    nextU32,
    next,
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`n must be an integer in [1, 2^32], got ${n}`)
      const limit = 2 ** 32 - (2 ** 32 % n)
      for (;;) {
        const u = nextU32()
        if (u < limit) return u % n
      }
    },
    gaussian(): number {
      let u = 0
      while (u === 0) u = next()
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
    },
  }
}

/** Shuffles `array` in place (Fisher-Yates) and returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = array[i] as number
    array[i] = array[j] as number
    array[j] = t
  }
  return array
}

/**
 * A uniformly random permutation of `0..n-1`.
 * @throws RangeError if `n` is not a non-negative integer
 */
export function permutation(n: number, rng: Rng): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new RangeError(`n must be a non-negative integer, got ${n}`)
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) out[i] = i
  return shuffleInPlace(out, rng)
}

/** log of a Gamma(shape, 1) draw (Marsaglia-Tsang, boosted below shape 1); stays finite for tiny shapes. */
export function logGamma(rng: Rng, shape: number): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`shape must be a positive number, got ${shape}`)
  let boost = 0
  let k = shape
  if (k < 1) {
    let u = 0
    while (u === 0) u = rng.next()
    boost = Math.log(u) / k
    k += 1
  }
  const d = k - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = rng.gaussian()
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = rng.next()
    if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) {
      return Math.log(d * v) + boost
    }
  }
}

/** A Dirichlet(alpha, ..., alpha) draw of `n` proportions summing to 1 (computed in log space, so tiny alphas work). */
export function dirichlet(rng: Rng, alpha: number, n: number): Float64Array {
  const logs = new Float64Array(n)
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < n; i++) {
    const l = logGamma(rng, alpha)
    logs[i] = l
    if (l > max) max = l
  }
  let sum = 0
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logs[i] as number) - max)
    logs[i] = e
    sum += e
  }
  for (let i = 0; i < n; i++) logs[i] = (logs[i] as number) / sum
  return logs
}
