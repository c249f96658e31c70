// Adaptive clipping: the clip norm converges to the target quantile of the update norms; state and budget split.
import {
  adaptiveClipping,
  adaptiveUpdateNoiseMultiplier,
  parseAdaptiveClippingState,
  seededUniformSourceUnsafe,
  updateClipNorm,
} from '@weft/dp'
import { describe, expect, it } from 'vitest'

/** Runs `rounds` rounds with m clients whose update norms are uniform in [0, 10]; returns C after each round. */
function simulate(targetQuantile: number, rounds: number, seed: number): number[] {
  const random = seededUniformSourceUnsafe(seed)
  const m = 100
  let state = adaptiveClipping({ clipNorm: 0.5, targetQuantile, learningRate: 0.2, countNoiseStd: m / 20 })
  const history: number[] = []
  for (let r = 0; r < rounds; r++) {
    let withinNormCount = 0
    for (let i = 0; i < m; i++) if (10 * random.next() <= state.clipNorm) withinNormCount++
    state = updateClipNorm(state, { withinNormCount, participants: m, expectedClients: m }, { uniform: random }).state
    history.push(state.clipNorm)
  }
  return history
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length

describe('adaptive clipping', () => {
  it('moves C to the target quantile of the norms: median of U[0, 10] is 5, 0.9-quantile is 9', () => {
    for (const [gamma, quantile] of [
      [0.5, 5],
      [0.9, 9],
    ] as const) {
      const history = simulate(gamma, 400, 1)
      expect(Math.abs(mean(history.slice(-100)) - quantile)).toBeLessThan(0.05 * quantile)
    }
  })

  it('updates geometrically: all clients within C shrinks C by exp(-η(1 - γ)) up to count noise', () => {
    const state = adaptiveClipping({ clipNorm: 4, targetQuantile: 0.5, learningRate: 0.2, countNoiseStd: 1e-9 })
    const { state: next, noisyFraction } = updateClipNorm(state, { withinNormCount: 10, participants: 10, expectedClients: 10 })
    expect(noisyFraction).toBeCloseTo(1, 9)
    expect(next.clipNorm).toBeCloseTo(4 * Math.exp(-0.2 * 0.5), 9)
    expect(state.clipNorm).toBe(4)
    expect(() => updateClipNorm(state, { withinNormCount: 11, participants: 10, expectedClients: 10 })).toThrow(
      /withinNormCount must be an integer in \[0, participants = 10\], got 11/,
    )
  })

  it('splits the noise budget: z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2), refusing σ_b ≤ z/2', () => {
    expect(adaptiveUpdateNoiseMultiplier(1, 5)).toBeCloseTo(1 / Math.sqrt(1 - 0.01), 12)
    expect(adaptiveUpdateNoiseMultiplier(1.1, 1e6)).toBeCloseTo(1.1, 9)
    expect(() => adaptiveUpdateNoiseMultiplier(1, 0.5)).toThrow(/countNoiseStd must be > noiseMultiplier \/ 2 = 0.5 for noiseMultiplier 1, got 0.5/)
  })

  it('round-trips its state through JSON and names a bad field', () => {
    const state = adaptiveClipping({ clipNorm: 2, targetQuantile: 0.5, learningRate: 0.2, countNoiseStd: 3 })
    expect(parseAdaptiveClippingState(JSON.parse(JSON.stringify(state)))).toEqual(state)
    expect(() => parseAdaptiveClippingState({ ...state, targetQuantile: 1 })).toThrow(/invalid DP state: targetQuantile: expected a number in \(0, 1\), got 1/)
    expect(() => adaptiveClipping({ ...state, clipNorm: -1 })).toThrow(/clipNorm must be a finite number > 0, got -1/)
  })
})
