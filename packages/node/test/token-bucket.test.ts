// The token bucket behind store.serveBytesPerSecond: waits proportional to the deficit, refills with time, bounded debt.
import { describe, expect, it } from 'vitest'
import { createTokenBucket } from '../src/token-bucket.js'

describe('createTokenBucket', () => {
  it('lets a burst through, then tells each take to wait for its bytes at the rate', () => {
    let t = 0
    const bucket = createTokenBucket({ ratePerSecond: 1000, burst: 1000, now: () => t })
    expect(bucket.take(1000)).toBe(0)
    expect(bucket.take(500)).toBe(500)
    // Queued behind the first: 500 more tokens short.
    expect(bucket.take(500)).toBe(1000)
    t = 1000
    expect(bucket.take(0)).toBe(0)
    t = 3000
    // Refilled to the burst, not past it.
    expect(bucket.take(1000)).toBe(0)
    expect(bucket.take(1)).toBeCloseTo(1, 6)
  })

  it('holds the rate over many takes (sum of waits = bytes beyond the burst / rate)', () => {
    let t = 0
    const bucket = createTokenBucket({ ratePerSecond: 2048, burst: 1024, now: () => t })
    let waited = 0
    for (let i = 0; i < 100; i++) {
      const w = bucket.take(512)
      waited += w
      t += w
    }
    expect(waited).toBeCloseTo(((100 * 512 - 1024) / 2048) * 1000, 6)
  })

  it('never tells a take to wait past maxWaitMs (the debt is bounded)', () => {
    const bucket = createTokenBucket({ ratePerSecond: 100, maxWaitMs: 2000, now: () => 0 })
    for (let i = 0; i < 10; i++) expect(bucket.take(1_000_000)).toBeLessThanOrEqual(2000)
    expect(bucket.take(1)).toBe(2000)
  })

  it('takes back what was refunded (an answer whose caller left)', () => {
    const bucket = createTokenBucket({ ratePerSecond: 1000, burst: 1000, now: () => 0 })
    expect(bucket.take(1000)).toBe(0)
    expect(bucket.take(1000)).toBe(1000)
    bucket.refund(1000)
    expect(bucket.take(500)).toBe(500)
  })

  it('refuses bad arguments, naming them', () => {
    expect(() => createTokenBucket({ ratePerSecond: 0 })).toThrow(/ratePerSecond/)
    expect(() => createTokenBucket({ ratePerSecond: 1, maxWaitMs: Number.POSITIVE_INFINITY })).toThrow(/maxWaitMs/)
    expect(() => createTokenBucket({ ratePerSecond: 1 }).take(-1)).toThrow(RangeError)
  })
})
