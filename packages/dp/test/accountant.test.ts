// The RDP accountant: published MNIST ε values, the two conversions, the noise inverse and the stateful Accountant.
import { readFileSync } from 'node:fs'
import { Accountant, computeEpsilon, DEFAULT_ORDERS, type GaussianRelease, noiseMultiplierFor, UnreachableEpsilonError } from '@weft/dp'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

interface Vectors {
  mnist: { noiseMultiplier: number; epochs: number; steps: number; classicEpsilon: number; tightEpsilon: number; tolerance: number }[]
  sampleRate: number
  delta: number
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/epsilon.json', import.meta.url), 'utf8')) as Vectors

describe('known answers: DP-SGD on MNIST (TensorFlow Privacy tutorial setting)', () => {
  it('the vector file describes the setting it claims', () => {
    expect(vectors.sampleRate).toBe(256 / 60_000)
    for (const v of vectors.mnist) expect(v.steps).toBe(Math.floor((v.epochs * 60_000) / 256))
  })

  for (const v of vectors.mnist) {
    it(`z = ${v.noiseMultiplier}, ${v.epochs} epochs: classic ε ≈ ${v.classicEpsilon}, tight ε ≈ ${v.tightEpsilon} and no larger`, () => {
      const release = { sampleRate: vectors.sampleRate, noiseMultiplier: v.noiseMultiplier, steps: v.steps }
      const classic = computeEpsilon(release, vectors.delta)
      const tight = computeEpsilon(release, vectors.delta, { conversion: 'tight' })
      expect(Math.abs(classic.epsilon - v.classicEpsilon)).toBeLessThan(v.tolerance)
      expect(Math.abs(tight.epsilon - v.tightEpsilon)).toBeLessThan(1e-3)
      expect(tight.epsilon).toBeLessThanOrEqual(classic.epsilon)
      expect(DEFAULT_ORDERS).toContain(classic.order)
      expect(classic).toMatchObject({ delta: vectors.delta, conversion: 'classic' })
    })
  }
})

describe('computeEpsilon', () => {
  it('q = 1 is the plain Gaussian mechanism: RDP α·T/(2z²), classic ε minimised near its analytic optimum', () => {
    // ε(α) = αT/(2z²) + log(1/δ)/(α-1) is smallest at α = 1 + z·sqrt(2 log(1/δ)/T).
    const z = 5
    const steps = 4
    const delta = 1e-6
    const alpha = 1 + z * Math.sqrt((2 * Math.log(1 / delta)) / steps)
    const exact = (alpha * steps) / (2 * z * z) + Math.log(1 / delta) / (alpha - 1)
    const { epsilon } = computeEpsilon({ sampleRate: 1, noiseMultiplier: z, steps }, delta, { orders: [alpha] })
    expect(epsilon).toBeCloseTo(exact, 12)
  })

  it('is 0 when nothing is released (no steps or q = 0)', () => {
    expect(computeEpsilon({ sampleRate: 0.01, noiseMultiplier: 1, steps: 0 }, 1e-5).epsilon).toBe(0)
    expect(computeEpsilon({ sampleRate: 0, noiseMultiplier: 1, steps: 100 }, 1e-5).epsilon).toBe(0)
    expect(computeEpsilon([], 1e-5).epsilon).toBe(0)
  })

  it('composes a list of releases like the sum of their RDP curves', () => {
    const a = { sampleRate: 0.01, noiseMultiplier: 1, steps: 500 }
    const b = { sampleRate: 0.02, noiseMultiplier: 1.5, steps: 300 }
    const both = computeEpsilon([a, b], 1e-5)
    expect(both.epsilon).toBeGreaterThan(computeEpsilon(a, 1e-5).epsilon)
    expect(both.epsilon).toBeGreaterThan(computeEpsilon(b, 1e-5).epsilon)
    expect(computeEpsilon([a, a], 1e-5).epsilon).toBeCloseTo(computeEpsilon({ ...a, steps: 1000 }, 1e-5).epsilon, 10)
  })

  it('rejects out-of-range arguments, naming them', () => {
    const ok = { sampleRate: 0.01, noiseMultiplier: 1, steps: 10 }
    expect(() => computeEpsilon({ ...ok, sampleRate: 1.5 }, 1e-5)).toThrow(/sampleRate must be in \[0, 1\], got 1.5/)
    expect(() => computeEpsilon({ ...ok, noiseMultiplier: 0 }, 1e-5)).toThrow(/noiseMultiplier must be a finite number > 0, got 0/)
    expect(() => computeEpsilon({ ...ok, steps: -1 }, 1e-5)).toThrow(/steps must be a non-negative integer, got -1/)
    expect(() => computeEpsilon({ ...ok, steps: 2.5 }, 1e-5)).toThrow(RangeError)
    expect(() => computeEpsilon(ok, 0)).toThrow(/delta must be in \(0, 1\), got 0/)
    expect(() => computeEpsilon(ok, 1e-5, { orders: [2, 1] })).toThrow(/orders\[1\] must be a finite number > 1, got 1/)
    // @ts-expect-error: a conversion name from untyped input
    expect(() => computeEpsilon(ok, 1e-5, { conversion: 'loose' })).toThrow(/conversion must be one of classic, tight, got "loose"/)
  })
})

const delta = 1e-5
const eps = (r: GaussianRelease, conversion: 'classic' | 'tight' = 'classic') => computeEpsilon(r, delta, { conversion }).epsilon
const sampleRate = fc.double({ min: 1e-4, max: 1, noNaN: true })
const noise = fc.double({ min: 0.4, max: 8, noNaN: true })
const steps = fc.integer({ min: 1, max: 5000 })
const conversion = fc.constantFrom('classic' as const, 'tight' as const)

describe('ε laws (fast-check)', () => {
  const slack = (x: number) => 1e-9 * Math.max(1, x)

  it('ε decreases as the noise multiplier grows', () => {
    fc.assert(
      fc.property(sampleRate, noise, noise, steps, conversion, (q, z1, z2, t, c) => {
        const [lo, hi] = z1 < z2 ? [z1, z2] : [z2, z1]
        const more = eps({ sampleRate: q, noiseMultiplier: lo, steps: t }, c)
        const less = eps({ sampleRate: q, noiseMultiplier: hi, steps: t }, c)
        expect(less).toBeLessThanOrEqual(more + slack(more))
      }),
      { numRuns: 40 },
    )
  })

  it('ε increases with the number of steps', () => {
    fc.assert(
      fc.property(sampleRate, noise, steps, steps, conversion, (q, z, t1, t2, c) => {
        const [lo, hi] = t1 < t2 ? [t1, t2] : [t2, t1]
        const fewer = eps({ sampleRate: q, noiseMultiplier: z, steps: lo }, c)
        expect(fewer).toBeLessThanOrEqual(eps({ sampleRate: q, noiseMultiplier: z, steps: hi }, c) + slack(fewer))
      }),
      { numRuns: 40 },
    )
  })

  it('ε increases with the sampling rate', () => {
    fc.assert(
      fc.property(sampleRate, sampleRate, noise, steps, conversion, (q1, q2, z, t, c) => {
        const [lo, hi] = q1 < q2 ? [q1, q2] : [q2, q1]
        const rarer = eps({ sampleRate: lo, noiseMultiplier: z, steps: t }, c)
        expect(rarer).toBeLessThanOrEqual(eps({ sampleRate: hi, noiseMultiplier: z, steps: t }, c) + slack(rarer))
      }),
      { numRuns: 40 },
    )
  })

  it('the tight conversion never exceeds the classic one', () => {
    fc.assert(
      fc.property(sampleRate, noise, steps, (q, z, t) => {
        const r = { sampleRate: q, noiseMultiplier: z, steps: t }
        expect(eps(r, 'tight')).toBeLessThanOrEqual(eps(r, 'classic'))
      }),
      { numRuns: 40 },
    )
  })
})

describe('noiseMultiplierFor', () => {
  it('round-trips: ε(noiseMultiplierFor(E)) ≈ E, never above it (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.3, max: 8, noNaN: true }),
        fc.double({ min: 1e-3, max: 0.1, noNaN: true }),
        fc.integer({ min: 10, max: 5000 }),
        conversion,
        (target, q, t, c) => {
          const z = noiseMultiplierFor({ targetEpsilon: target, sampleRate: q, steps: t, delta, conversion: c })
          const got = eps({ sampleRate: q, noiseMultiplier: z, steps: t }, c)
          expect(got).toBeLessThanOrEqual(target)
          expect(got).toBeGreaterThan(target * (1 - 1e-4))
        },
      ),
      { numRuns: 15 },
    )
  })

  it('finds the tutorial noise multiplier from its ε', () => {
    const z = noiseMultiplierFor({ targetEpsilon: 3.01, sampleRate: 256 / 60_000, steps: 14_062, delta })
    expect(z).toBeCloseTo(1.1, 2)
  })

  it('says when the target is unreachable, and why', () => {
    // With δ = 1e-5 and orders up to 1024, the classic conversion cannot certify less than log(1e5)/1023 ≈ 0.0113.
    const query = { targetEpsilon: 0.01, sampleRate: 0.01, steps: 100, delta }
    expect(() => noiseMultiplierFor(query)).toThrow(UnreachableEpsilonError)
    expect(() => noiseMultiplierFor(query)).toThrow(/target epsilon 0.01 is unreachable: .*never gives less than 0.0112/)
    expect(() => noiseMultiplierFor({ ...query, targetEpsilon: 0 })).toThrow(/targetEpsilon must be a finite number > 0, got 0/)
    expect(() => noiseMultiplierFor({ ...query, sampleRate: 0 })).toThrow(/sampleRate must be in \(0, 1\], got 0/)
    expect(() => noiseMultiplierFor({ ...query, steps: 0 })).toThrow(/steps must be a positive integer, got 0/)
  })
})

describe('Accountant', () => {
  const round = { sampleRate: 0.01, noiseMultiplier: 1.1, steps: 1 }

  it('starts at ε = 0 and agrees with computeEpsilon over heterogeneous releases', () => {
    const accountant = new Accountant()
    expect(accountant.epsilon(delta).epsilon).toBe(0)
    const releases = [
      { sampleRate: 0.01, noiseMultiplier: 1.1, steps: 200 },
      { sampleRate: 0.05, noiseMultiplier: 2, steps: 30 },
      { sampleRate: 1, noiseMultiplier: 20, steps: 3 },
    ]
    for (const r of releases) accountant.compose(r)
    for (const c of ['classic', 'tight'] as const) {
      expect(accountant.epsilon(delta, c).epsilon).toBeCloseTo(computeEpsilon(releases, delta, { conversion: c }).epsilon, 10)
    }
    expect(accountant.releases).toEqual(releases)
  })

  it('epsilonAfter predicts the next release without spending it', () => {
    const accountant = new Accountant()
    accountant.compose({ ...round, steps: 100 })
    const before = accountant.epsilon(delta)
    const predicted = accountant.epsilonAfter(round, delta)
    expect(accountant.epsilon(delta)).toEqual(before)
    accountant.compose(round)
    expect(accountant.epsilon(delta).epsilon).toBeCloseTo(predicted.epsilon, 12)
    expect(accountant.epsilonAfter([round, round], delta).epsilon).toBeCloseTo(accountant.epsilonAfter({ ...round, steps: 2 }, delta).epsilon, 12)
  })

  it('lets a job stop before it passes its budget', () => {
    const accountant = new Accountant()
    const budget = 2
    let rounds = 0
    while (accountant.epsilonAfter(round, delta).epsilon <= budget) {
      accountant.compose(round)
      rounds++
    }
    expect(rounds).toBeGreaterThan(0)
    expect(accountant.epsilon(delta).epsilon).toBeLessThanOrEqual(budget)
    expect(computeEpsilon({ ...round, steps: rounds + 1 }, delta).epsilon).toBeGreaterThan(budget)
  })

  it('merges consecutive releases with equal q and z, so the stored history stays small', () => {
    const accountant = new Accountant()
    for (let i = 0; i < 50; i++) accountant.compose(round)
    accountant.compose({ ...round, noiseMultiplier: 2 })
    accountant.compose(round)
    expect(accountant.releases).toEqual([{ ...round, steps: 50 }, { ...round, noiseMultiplier: 2 }, round])
  })

  it('survives a JSON round trip (a coordinator restart) with the same ε and history', () => {
    const accountant = new Accountant()
    accountant.compose({ sampleRate: 0.02, noiseMultiplier: 0.9, steps: 400 })
    accountant.compose({ sampleRate: 0.01, noiseMultiplier: 1.3, steps: 100 })
    const restored = Accountant.fromJSON(JSON.parse(JSON.stringify(accountant)))
    expect(restored.epsilon(delta)).toEqual(accountant.epsilon(delta))
    expect(restored.releases).toEqual(accountant.releases)
    expect(restored.orders).toEqual(accountant.orders)
    restored.compose(round)
    accountant.compose(round)
    expect(restored.toJSON()).toEqual(accountant.toJSON())
  })

  it('refuses a malformed stored state, naming the field', () => {
    const good = JSON.parse(JSON.stringify(new Accountant({ orders: [2, 4] })))
    const bad = (patch: object) => () => Accountant.fromJSON({ ...good, ...patch })
    expect(bad({ version: 2 })).toThrow(/invalid DP state: version: expected 1, got 2/)
    expect(bad({ rdp: [0, -1] })).toThrow(/rdp\.1: expected a finite number >= 0, got -1/)
    expect(bad({ rdp: [0] })).toThrow(/rdp: expected 2 values \(one per order\), got 1/)
    expect(bad({ orders: [2, 0.5] })).toThrow(/orders\.1: expected a finite number > 1/)
    expect(bad({ releases: [{ sampleRate: 2, noiseMultiplier: 1, steps: 1 }] })).toThrow(/releases\.0: sampleRate must be in \[0, 1\], got 2/)
    expect(() => Accountant.fromJSON(null)).toThrow(expect.objectContaining({ name: 'DpStateError', field: '(root)' }))
  })

  it('does not record a rejected release', () => {
    const accountant = new Accountant()
    expect(() => accountant.compose({ ...round, noiseMultiplier: -1 })).toThrow(RangeError)
    expect(accountant.releases).toEqual([])
    expect(accountant.rdp.every((r) => r === 0)).toBe(true)
  })
})
