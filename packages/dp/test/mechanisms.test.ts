// Clipping, randomness and the Gaussian mechanism for federated averaging (server-side, client-side, local DP).
import {
  addCentralNoise,
  clipToNorm,
  clipUpdate,
  dpMeanOfClippedSum,
  fixedDenominatorMean,
  gaussianSource,
  l2Norm,
  localDpUpdate,
  NonFiniteUpdateError,
  secureUniformSource,
  seededUniformSourceUnsafe,
  serverSideDpMean,
  sumUpdates,
  type UniformSource,
} from '@weft/dp'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const vector = fc.float32Array({ minLength: 1, maxLength: 200, noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })
const clipNorm = fc.double({ min: 1e-3, max: 1e4, noNaN: true })

describe('l2Norm and clipToNorm', () => {
  it('l2Norm is the float64 Euclidean norm', () => {
    expect(l2Norm(new Float32Array([3, 4]))).toBe(5)
    expect(l2Norm(new Float32Array([]))).toBe(0)
    // In float32 arithmetic 1e20² overflows; accumulated in float64 it does not.
    const big = Math.fround(1e20)
    expect(l2Norm(new Float32Array([big, big])) / (Math.SQRT2 * big)).toBeCloseTo(1, 14)
  })

  it('clips to at most C, keeps the direction, and leaves vectors within C untouched (fast-check)', () => {
    fc.assert(
      fc.property(vector, clipNorm, (v, c) => {
        const original = v.slice()
        const norm = l2Norm(original)
        const result = clipToNorm(v, c)
        expect(result).toEqual({ norm, clipped: norm > c })
        if (!result.clipped) {
          expect(v).toEqual(original)
          return
        }
        const after = l2Norm(v)
        expect(after).toBeLessThanOrEqual(c)
        expect(after).toBeGreaterThan(c * (1 - 1e-6))
        const scale = c / norm
        for (let i = 0; i < v.length; i++) expect(Math.abs((v[i] as number) - (original[i] as number) * scale)).toBeLessThanOrEqual(1e-6 * Math.abs((original[i] as number) * scale) + 1e-38)
      }),
    )
  })

  it('refuses non-finite coordinates and bad clip norms, naming them', () => {
    expect(() => clipToNorm(new Float32Array([1, Number.NaN, 2]), 1)).toThrow(expect.objectContaining({ name: 'NonFiniteUpdateError', index: 1 }))
    expect(() => clipToNorm(new Float32Array([Number.POSITIVE_INFINITY]), 1)).toThrow(NonFiniteUpdateError)
    expect(() => clipToNorm(new Float32Array([1]), 0)).toThrow(/clipNorm must be a finite number > 0, got 0/)
  })

  it('clipUpdate clips a copy and leaves the received update as it was', () => {
    const received = new Float32Array([6, 8])
    const { update, norm, clipped } = clipUpdate(received, 5)
    expect(received).toEqual(new Float32Array([6, 8]))
    expect({ norm, clipped }).toEqual({ norm: 10, clipped: true })
    expect(l2Norm(update)).toBeCloseTo(5, 5)
  })
})

function moments(draws: ArrayLike<number>): { mean: number; std: number; withinOneStd: number } {
  let sum = 0
  for (let i = 0; i < draws.length; i++) sum += draws[i] as number
  const mean = sum / draws.length
  let squares = 0
  for (let i = 0; i < draws.length; i++) squares += ((draws[i] as number) - mean) ** 2
  const std = Math.sqrt(squares / draws.length)
  let inside = 0
  for (let i = 0; i < draws.length; i++) if (Math.abs((draws[i] as number) - mean) <= std) inside++
  return { mean, std, withinOneStd: inside / draws.length }
}

const N = 1_000_000
// Five standard errors: a correct sampler fails one of these with probability below 1e-6.
const meanBound = (std: number) => (5 * std) / Math.sqrt(N)
const stdBound = (std: number) => 5 * std * Math.sqrt(1 / (2 * N))

function expectNormal(draws: ArrayLike<number>, std: number): void {
  const m = moments(draws)
  expect(Math.abs(m.mean)).toBeLessThan(meanBound(std))
  expect(Math.abs(m.std - std)).toBeLessThan(stdBound(std))
  // P(|X| ≤ σ) = 0.6827 for a normal; its standard error at 1e6 draws is 0.00047.
  expect(Math.abs(m.withinOneStd - 0.682_689)).toBeLessThan(0.0025)
}

describe('random sources', () => {
  it('the seeded source is reproducible, seed-dependent and uniform on [0, 1)', () => {
    const draw = (s: UniformSource, n: number) => Array.from({ length: n }, () => s.next())
    expect(draw(seededUniformSourceUnsafe(7), 5)).toEqual(draw(seededUniformSourceUnsafe(7), 5))
    expect(draw(seededUniformSourceUnsafe(7), 5)).not.toEqual(draw(seededUniformSourceUnsafe(8), 5))
    const u = draw(seededUniformSourceUnsafe(1), 100_000)
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...u)).toBeLessThan(1)
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5)).toBeLessThan(0.005)
    expect(() => seededUniformSourceUnsafe(0.5)).toThrow(/seed must be a safe integer, got 0.5/)
  })

  it('the secure source gives distinct uniforms in [0, 1) across its block refills', () => {
    const s = secureUniformSource()
    const u = Array.from({ length: 50_000 }, () => s.next())
    expect(new Set(u).size).toBe(u.length)
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...u)).toBeLessThan(1)
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5)).toBeLessThan(0.01)
  })

  it('Gaussian draws have mean 0 and std 1 over 1e6 samples (seeded source)', () => {
    const g = gaussianSource(seededUniformSourceUnsafe(42))
    expectNormal(Float64Array.from({ length: N }, () => g.next()), 1)
  })

  it('Gaussian draws from the secure source pass the same checks', () => {
    const g = gaussianSource()
    expectNormal(Float64Array.from({ length: N }, () => g.next()), 1)
  })
})

describe('central DP (DP-FedAvg)', () => {
  it('addCentralNoise adds N(0, (zC)²) per coordinate', () => {
    const sum = new Float64Array(N).fill(3)
    addCentralNoise(sum, { noiseMultiplier: 1.5, clipNorm: 2 }, { uniform: seededUniformSourceUnsafe(1) })
    expectNormal(
      sum.map((x) => x - 3),
      3,
    )
    expect(() => addCentralNoise(sum, { noiseMultiplier: 0, clipNorm: 1 })).toThrow(/noiseMultiplier must be a finite number > 0, got 0/)
  })

  it('sumUpdates accumulates in float64 and checks lengths', () => {
    const small = new Float32Array([1e-3, 1])
    const sum = sumUpdates(Array(10_000).fill(small), 2)
    expect(sum[0]).toBeCloseTo(10_000 * (small[0] as number), 9)
    expect(sum[1]).toBe(10_000)
    expect(() => sumUpdates([small, new Float32Array(3)], 2)).toThrow(/updates\[1\] has 3 values, expected 2/)
  })

  it('fixedDenominatorMean divides by the expected, not the actual, number of clients', () => {
    expect(fixedDenominatorMean(new Float64Array([10, -4]), 4)).toEqual(new Float32Array([2.5, -1]))
    expect(() => fixedDenominatorMean(new Float64Array(1), 0)).toThrow(/expectedClients must be a finite number > 0, got 0/)
  })

  it('serverSideDpMean clips each update, sums, noises and divides by m', () => {
    const updates = [new Float32Array([3, 4]), new Float32Array([0.3, 0.4]), new Float32Array([-30, 40])]
    const params = { clipNorm: 1, noiseMultiplier: 1e-9, expectedClients: 4, length: 2 }
    const result = serverSideDpMean(updates, params, { uniform: seededUniformSourceUnsafe(3) })
    // Clipped: (0.6, 0.8), (0.3, 0.4), (-0.6, 0.8); sum (0.3, 2.0); over m = 4.
    expect(result.participants).toBe(3)
    expect(result.clippedCount).toBe(2)
    expect(result.mean[0]).toBeCloseTo(0.075, 6)
    expect(result.mean[1]).toBeCloseTo(0.5, 6)
    expect(updates[0]).toEqual(new Float32Array([3, 4]))
  })

  it('a round with no participants still outputs a full-size noise vector', () => {
    const { mean, participants } = serverSideDpMean([], { clipNorm: 1, noiseMultiplier: 1, expectedClients: 10, length: 1000 })
    expect(participants).toBe(0)
    expect(mean.length).toBe(1000)
    expect(mean.some((x) => x !== 0)).toBe(true)
  })

  it('dpMeanOfClippedSum (client-side clipping) noises the aggregate with std zC and divides by m', () => {
    const clippedSum = new Float64Array(N).fill(20)
    const mean = dpMeanOfClippedSum(clippedSum, { clipNorm: 0.5, noiseMultiplier: 2, expectedClients: 10 }, { uniform: seededUniformSourceUnsafe(9) })
    expect(clippedSum[0]).toBe(20)
    expectNormal(
      mean.map((x) => x - 2),
      0.1,
    )
  })
})

describe('local DP', () => {
  it('clips the delta in place, then adds N(0, (zC)²) from the given source', () => {
    const delta = new Float32Array([30, 40, 0])
    const result = localDpUpdate(delta, { clipNorm: 5, noiseMultiplier: 0.5 }, { uniform: seededUniformSourceUnsafe(11) })
    expect(result).toEqual({ norm: 50, clipped: true })
    const expected = new Float32Array([30, 40, 0])
    clipToNorm(expected, 5)
    const g = gaussianSource(seededUniformSourceUnsafe(11))
    for (let i = 0; i < 3; i++) expect(delta[i]).toBe(Math.fround((expected[i] as number) + 2.5 * g.next()))
  })
})
