// A token bucket for serving at a capped rate: a caller takes what it is about to send and is told how long to wait
// first. Debt is allowed (a large answer waits its share) but bounded: a take that would wait past `maxWaitMs` is
// refused (nothing taken) with the time after which it would not, so the rate holds however many ask at once.

/** How a bucket fills. */
export interface TokenBucketInit {
  /** Tokens (bytes) added per second; a positive finite number. */
  readonly ratePerSecond: number
  /** Most tokens saved up while idle (default one second's worth). */
  readonly burst?: number
  /** Longest wait a take may be told (default 20 s, under a caller's 30 s timeout); a longer one is refused. */
  readonly maxWaitMs?: number
  /** The clock in ms (default performance.now). */
  now?(): number
}

export interface TokenBucket {
  /**
   * Takes `n` tokens, unless sending them would wait past `maxWaitMs`.
   * @returns `waitMs`: how long to wait before sending them (0 when they were there); or `retryAfterMs`: nothing was
   *   taken, and a take of `n` asked that much later would be let through
   * @throws RangeError when `n` is negative or not finite
   */
  take(n: number): { readonly waitMs: number } | { readonly retryAfterMs: number }
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
      const left = tokens - n
      if (left < floor && n > 0) return { retryAfterMs: ((floor - left) / rate) * 1000 }
      tokens = left
      return { waitMs: tokens >= 0 ? 0 : (-tokens / rate) * 1000 }
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
