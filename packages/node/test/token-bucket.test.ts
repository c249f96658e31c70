// The token bucket behind store.serveBytesPerSecond: waits proportional to the deficit, refills with time, and refuses
// a take that would wait past its bound (nothing taken) instead of letting the rate slip.
import { describe, expect, it } from 'vitest'
import { createTokenBucket } from '../src/token-bucket.js'

describe('createTokenBucket', () => {
  it('lets a burst through, then tells each take to wait for its bytes at the rate', () => {
    let t = 0
    const bucket = createTokenBucket({ ratePerSecond: 1000, burst: 1000, now: () => t })
    expect(bucket.take(1000)).toEqual({ waitMs: 0 })
    expect(bucket.take(500)).toEqual({ waitMs: 500 })
    // Queued behind the first: 500 more tokens short.
    expect(bucket.take(500)).toEqual({ waitMs: 1000 })
    t = 1000
    expect(bucket.take(0)).toEqual({ waitMs: 0 })
    t = 3000
    // Refilled to the burst, not past it.
    expect(bucket.take(1000)).toEqual({ waitMs: 0 })
    expect((bucket.take(1) as { waitMs: number }).waitMs).toBeCloseTo(1, 6)
  })

  it('holds the rate over many takes (sum of waits = bytes beyond the burst / rate)', () => {
    let t = 0
    const bucket = createTokenBucket({ ratePerSecond: 2048, burst: 1024, now: () => t })
    let waited = 0
    for (let i = 0; i < 100; i++) {
      const w = (bucket.take(512) as { waitMs: number }).waitMs
      waited += w
      t += w
    }
    expect(waited).toBeCloseTo(((100 * 512 - 1024) / 2048) * 1000, 6)
  })

  it('refuses a take that would wait past maxWaitMs, taking nothing, and says when it would pass', () => {
    let t = 0
    const bucket = createTokenBucket({ ratePerSecond: 100, burst: 100, maxWaitMs: 2000, now: () => t })
    expect(bucket.take(100)).toEqual({ waitMs: 0 })
    expect(bucket.take(200)).toEqual({ waitMs: 2000 })
    // A third take of 50 would wait 2.5 s: refused, 0.5 s too early; refused again, nothing was taken.
    expect(bucket.take(50)).toEqual({ retryAfterMs: 500 })
    expect(bucket.take(50)).toEqual({ retryAfterMs: 500 })
    t = 500
    expect(bucket.take(50)).toEqual({ waitMs: 2000 })
    // However many ask at once, what is let through in a window stays within the rate plus the bound's debt.
    t = 10_000
    let granted = 0
    for (let i = 0; i < 1000; i++) if ('waitMs' in bucket.take(10)) granted += 10
    expect(granted).toBe(100 + 200)
  })

  it('takes back what was refunded (an answer whose caller left)', () => {
    const bucket = createTokenBucket({ ratePerSecond: 1000, burst: 1000, now: () => 0 })
    expect(bucket.take(1000)).toEqual({ waitMs: 0 })
    expect(bucket.take(1000)).toEqual({ waitMs: 1000 })
    bucket.refund(1000)
    expect(bucket.take(500)).toEqual({ waitMs: 500 })
  })

  it('refuses bad arguments, naming them', () => {
    expect(() => createTokenBucket({ ratePerSecond: 0 })).toThrow(/ratePerSecond/)
    expect(() => createTokenBucket({ ratePerSecond: 1, maxWaitMs: Number.POSITIVE_INFINITY })).toThrow(/maxWaitMs/)
    expect(() => createTokenBucket({ ratePerSecond: 1 }).take(-1)).toThrow(RangeError)
  })
})
