// A token bucket for serving at a capped rate: a caller takes what it is about to send and is told how long to wait
// first. Debt is allowed (a large answer waits its share) but bounded, so no caller waits past `maxWaitMs`.

/** How a bucket fills. */
export interface TokenBucketInit {
  /** Tokens (bytes) added per second; a positive finite number. */
  readonly ratePerSecond: number
  /** Most tokens saved up while idle (default one second's worth). */
  readonly burst?: number
  /**
   * Longest wait a take may be told (default 20 s, under a caller's 30 s timeout): the debt never grows past this much
   * of the rate, so once more is asked at once than that the rate is exceeded rather than a caller timed out.
   */
  readonly maxWaitMs?: number
  /** The clock in ms (default performance.now). */
  now?(): number
}

export interface TokenBucket {
  /**
   * Takes `n` tokens.
   * @returns the milliseconds to wait before sending them (0 when they were there), at most `maxWaitMs`
   * @throws RangeError when `n` is negative or not finite
   */
  take(n: number): number
  /** Gives back `n` tokens taken for what was not sent after all (the caller left while it waited). */
  refund(n: number): void
}

/** @throws RangeError naming the argument when the rate, burst or wait bound is not a positive finite number */
export function createTokenBucket(init: TokenBucketInit): TokenBucket {
  const rate = positive('ratePerSecond', init.ratePerSecond)
  const burst = positive('burst', init.burst ?? rate)
  const maxWaitMs = positive('maxWaitMs', init.maxWaitMs ?? 20_000)
  const now = init.now ?? (() => performance.now())
  const floor = -(rate * maxWaitMs) / 1000
  let tokens = burst
  let at = now()
  return {
    take(n) {
      if (!Number.isFinite(n) || n < 0) throw new RangeError(`n must be a finite number >= 0, got ${n}`)
      const t = now()
      tokens = Math.min(burst, tokens + ((t - at) / 1000) * rate)
      at = t
      tokens = Math.max(floor, tokens - n)
      return tokens >= 0 ? 0 : (-tokens / rate) * 1000
    },
    refund(n) {
      if (!Number.isFinite(n) || n < 0) throw new RangeError(`n must be a finite number >= 0, got ${n}`)
      tokens = Math.min(burst, tokens + n)
    },
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive finite number, got ${value}`)
  return value
}
