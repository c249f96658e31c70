// Privacy sanity: masked vectors look uniform over Z_2^32 and carry no trace of equal inputs.
import { planSecAgg } from '@weft/secagg'
import { describe, expect, it } from 'vitest'
import { createRound, keyPhase, maskPhase, sharePhase } from './helpers.js'

function maskedVectors(length: number, inputs: (i: number) => Float32Array) {
  const plan = planSecAgg({ clients: 5, dropoutRate: 0.2, corruptRate: 0, clip: 1 })
  const round = createRound(plan, length, { seed: 21 })
  const routed = sharePhase(round, keyPhase(round))
  return maskPhase(round, routed, Array.from({ length: 5 }, (_, i) => inputs(i))).map((message) => message.vector)
}

describe('masked inputs', () => {
  it('of two clients with identical inputs are unrelated (no constant difference, equal words ~ 2^-32)', () => {
    const length = 50_000
    const [a, b] = maskedVectors(length, () => new Float32Array(length).fill(0.25))
    let equal = 0
    const differences = new Set<number>()
    for (let i = 0; i < length; i++) {
      if (a![i] === b![i]) equal++
      if (differences.size < 10) differences.add((a![i]! - b![i]!) >>> 0)
    }
    expect(equal).toBeLessThanOrEqual(1) // expected 50,000 * 2^-32 = 0.00001
    expect(differences.size).toBe(10)
  })

  it('are uniform over the ring even for an all-zero input: chi-square of the top 8 bits, 131,072 coordinates', () => {
    const length = 131_072
    const [vector] = maskedVectors(length, () => new Float32Array(length))
    const buckets = new Float64Array(256)
    for (const word of vector!) buckets[word >>> 24]!++
    const expected = length / 256
    const chiSquare = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0)
    // 255 degrees of freedom: mean 255, standard deviation 22.6; 370 is beyond the 99.999th percentile.
    expect(chiSquare).toBeLessThan(370)
    expect(chiSquare).toBeGreaterThan(150)
  })
})
