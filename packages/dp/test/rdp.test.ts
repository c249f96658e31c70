// RDP of the sampled Gaussian mechanism against an independent numerical integration of its Rényi divergence.
import { DEFAULT_ORDERS, rdpOfRelease, rdpSampledGaussian } from '@weft/dp'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/**
 * ε(α) = log(E_{x~N(0,σ²)}[(μ(x)/μ₀(x))^α]) / (α-1), μ = (1-q)N(0,σ²) + qN(1,σ²), by the trapezoid rule in log
 * space. The integrand is a smooth bump between -20σ-1 and α+20σ+1, where the rule converges very fast.
 */
function rdpByQuadrature(q: number, sigma: number, alpha: number): number {
  const lo = -20 * sigma - 1
  const hi = alpha + 20 * sigma + 1
  const n = 100_000
  const h = (hi - lo) / n
  const logs: number[] = []
  for (let i = 0; i <= n; i++) {
    const x = lo + i * h
    const logMu0 = (-x * x) / (2 * sigma * sigma) - Math.log(sigma * Math.sqrt(2 * Math.PI))
    const r = (2 * x - 1) / (2 * sigma * sigma) // log μ₁(x)/μ₀(x)
    const logRatio = r > 0 ? r + Math.log(q + (1 - q) * Math.exp(-r)) : Math.log(1 - q + q * Math.exp(r))
    logs.push(logMu0 + alpha * logRatio + Math.log(h) + (i === 0 || i === n ? Math.log(0.5) : 0))
  }
  const top = logs.reduce((a, b) => Math.max(a, b))
  return (top + Math.log(logs.reduce((s, l) => s + Math.exp(l - top), 0))) / (alpha - 1)
}

describe('rdpSampledGaussian', () => {
  const cases: [q: number, z: number, alpha: number][] = [
    [0.01, 1, 1.5],
    [0.01, 1, 2.5],
    [0.01, 1, 3],
    [0.1, 0.8, 3.3],
    [0.5, 0.5, 1.25],
    [0.5, 2, 7.75],
    [256 / 60_000, 1.1, 8.75],
    [0.3, 5, 20],
    [0.01, 0.3, 4.5],
    [0.9, 1, 2.2],
  ]
  for (const [q, z, alpha] of cases) {
    it(`matches numerical integration at q = ${q}, z = ${z}, α = ${alpha}`, () => {
      const expected = rdpByQuadrature(q, z, alpha)
      expect(Math.abs(rdpSampledGaussian(q, z, alpha) / expected - 1)).toBeLessThan(1e-8)
    })
  }

  it('q = 1 is the Gaussian mechanism α/(2z²); q = 0 is 0', () => {
    expect(rdpSampledGaussian(1, 2, 3.5)).toBe(3.5 / 8)
    expect(rdpSampledGaussian(0, 0.1, 64)).toBe(0)
  })

  it('is continuous where the integer formula and the fractional series meet (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-3, max: 0.9, noNaN: true }),
        fc.double({ min: 0.5, max: 5, noNaN: true }),
        fc.integer({ min: 2, max: 10 }),
        (q, z, alpha) => {
          const at = rdpSampledGaussian(q, z, alpha)
          for (const near of [alpha - 1e-7, alpha + 1e-7]) expect(Math.abs(rdpSampledGaussian(q, z, near) - at)).toBeLessThan(1e-5 * at + 1e-12)
        },
      ),
      { numRuns: 50 },
    )
  })

  it('grows with the order and stays finite for small noise at order 1024', () => {
    const curve = rdpOfRelease({ sampleRate: 0.02, noiseMultiplier: 0.6, steps: 1 })
    for (let i = 1; i < curve.length; i++) expect(curve[i]).toBeGreaterThanOrEqual(curve[i - 1] as number)
    expect(Number.isFinite(curve.at(-1))).toBe(true)
  })

  it('rejects bad arguments, naming them', () => {
    expect(() => rdpSampledGaussian(-0.1, 1, 2)).toThrow(/sampleRate must be in \[0, 1\], got -0.1/)
    expect(() => rdpSampledGaussian(0.1, Number.NaN, 2)).toThrow(/noiseMultiplier must be a finite number > 0, got NaN/)
    expect(() => rdpSampledGaussian(0.1, 1, 1)).toThrow(/order must be a finite number > 1, got 1/)
  })
})

describe('DEFAULT_ORDERS', () => {
  it('runs from 1.25 to 1024, increasing, and is frozen', () => {
    expect(DEFAULT_ORDERS[0]).toBe(1.25)
    expect(DEFAULT_ORDERS.at(-1)).toBe(1024)
    for (let i = 1; i < DEFAULT_ORDERS.length; i++) expect(DEFAULT_ORDERS[i]).toBeGreaterThan(DEFAULT_ORDERS[i - 1] as number)
    expect(Object.isFrozen(DEFAULT_ORDERS)).toBe(true)
  })
})
