// Attack models (evaluation only) through the public API: each attack against its definition on hand-built
// updates, ALIE's z and the normal quantile against known values, attacker choice and label flipping.
import {
  type AttackConfig,
  type AttackConfigInput,
  alieZ,
  attackConfigSchema,
  attackerIds,
  craftLocalMaliciousUpdate,
  craftMaliciousUpdates,
  flipLabels,
  normalQuantile,
} from '@weft/fl'
import { mulberry32 } from '@weft/runtime'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'

const parse = (input: AttackConfigInput): AttackConfig => attackConfigSchema.parse(input)
const f32 = (...values: number[]) => Float32Array.from(values)
const seeded = (seed: number) => mulberry32(seed).next

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number)
  return s
}

function expectVector(actual: Float32Array, expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length)
  expected.forEach((e, i) => {
    expect(actual[i]).toBeCloseTo(e, 5)
  })
}

// Φ⁻¹(p) as the nearest doubles, computed as √2·erfinv(2p − 1) with mpmath at 30 digits.
const NORMAL_QUANTILES: readonly (readonly [number, number])[] = [
  [1e-10, -6.361340902404057],
  [1e-6, -4.753424308822899],
  [0.001, -3.0902323061678136],
  [0.01, -2.326347874040841],
  [0.02425, -1.972961051311885],
  [0.1, -1.2815515655446006],
  [0.25, -0.6744897501960817],
  [0.5, 0],
  [0.6, 0.2533471031357998],
  [0.72, 0.5828415072712162],
  [0.841344746068543, 1.0000000000000002],
  [0.975, 1.9599639845400543],
  [0.99, 2.326347874040841],
  [0.999999, 4.753424308822899],
]

describe('attackConfigSchema', () => {
  it('fills each attack’s defaults, with 10% attackers', () => {
    expect(parse({ kind: 'label-flip' })).toEqual({ kind: 'label-flip', fraction: 0.1 })
    expect(parse({ kind: 'sign-flip' })).toEqual({ kind: 'sign-flip', fraction: 0.1, scale: 1 })
    expect(parse({ kind: 'gaussian', fraction: 0.3 })).toEqual({ kind: 'gaussian', fraction: 0.3, std: 1 })
    expect(parse({ kind: 'alie' })).toEqual({ kind: 'alie', fraction: 0.1 })
    expect(parse({ kind: 'ipm' })).toEqual({ kind: 'ipm', fraction: 0.1, epsilon: 0.5 })
  })

  it.each([
    ['a fraction above 1', { kind: 'ipm', fraction: 1.2 }],
    ['a negative fraction', { kind: 'ipm', fraction: -0.1 }],
    ['a zero std', { kind: 'gaussian', std: 0 }],
    ['a non-finite z', { kind: 'alie', z: Number.POSITIVE_INFINITY }],
    ['an unknown field', { kind: 'sign-flip', sclae: 2 }],
    ['an unknown kind', { kind: 'backdoor' }],
  ])('rejects %s', (_, input) => {
    expect(attackConfigSchema.safeParse(input).success).toBe(false)
  })
})

describe('normalQuantile', () => {
  it.each(NORMAL_QUANTILES)('Φ⁻¹(%f) = %f within 1e-6 absolute and 1e-8 relative', (p, expected) => {
    const x = normalQuantile(p)
    expect(Math.abs(x - expected)).toBeLessThanOrEqual(1e-6)
    expect(Math.abs(x - expected)).toBeLessThanOrEqual(1e-8 * Math.abs(expected) + 1e-15)
  })

  it('gives Φ⁻¹(0.975) ≈ 1.959964', () => {
    expect(Math.abs(normalQuantile(0.975) - 1.959964)).toBeLessThanOrEqual(1e-6)
  })

  it('is odd about 1/2 and increasing', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-12, max: 0.5, noNaN: true }), fc.double({ min: 1e-12, max: 0.5, noNaN: true }), (p, q) => {
        // 1 − p rounds; 1 − (1 − p) is then exact, so the pair is symmetric about 1/2 exactly.
        const upper = 1 - p
        expect(normalQuantile(upper)).toBeCloseTo(-normalQuantile(1 - upper), 6)
        if (p < q) expect(normalQuantile(p)).toBeLessThanOrEqual(normalQuantile(q))
      }),
    )
  })

  it('is infinite at the ends and refuses p outside [0, 1]', () => {
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY)
    expect(normalQuantile(1)).toBe(Number.POSITIVE_INFINITY)
    expect(() => normalQuantile(1.5)).toThrow(/p must be in \[0, 1\], got 1.5/)
    expect(() => normalQuantile(Number.NaN)).toThrow(RangeError)
  })
})

describe('alieZ', () => {
  it('matches the paper for n = 50, m = 12: s = 14, z = Φ⁻¹(0.72) ≈ 0.58', () => {
    expect(alieZ(50, 12)).toBeCloseTo(0.5828415072712162, 8)
    expect(alieZ(50, 12)).toBe(normalQuantile(0.72))
  })

  it('follows s = ⌊n/2 + 1⌋ − m on small cases', () => {
    expect(alieZ(10, 2)).toBe(normalQuantile((10 - 4) / 10)) // s = 6 − 2
    expect(alieZ(11, 3)).toBe(normalQuantile((11 - 3) / 11)) // s = 6 − 3
  })

  it('refuses attackers that need no z (a majority) and bad counts', () => {
    expect(() => alieZ(10, 6)).toThrow(/no finite z for 10 clients with 6 attackers/)
    expect(() => alieZ(10, 11)).toThrow(/attackers must be an integer in \[0, 10\], got 11/)
    expect(() => alieZ(0, 0)).toThrow(/totalClients must be a positive integer, got 0/)
  })
})

describe('craftMaliciousUpdates (colluding attackers)', () => {
  const benign = [f32(0, 0, 1), f32(2, 4, 1), f32(1, 2, 4)]
  // μ = (1, 2, 2); population σ = (√(2/3), √(8/3), √2)
  const mu = [1, 2, 2]
  const sigma = [Math.sqrt(2 / 3), Math.sqrt(8 / 3), Math.SQRT2]

  it('sign-flip sends −scale · each attacker’s own update', () => {
    const out = craftMaliciousUpdates(parse({ kind: 'sign-flip', scale: 2 }), {
      benign,
      attackerCount: 2,
      attackerUpdates: [f32(1, -2, 3), f32(0.5, 0, -1)],
    })
    expectVector(out[0]!, [-2, 4, -6])
    expectVector(out[1]!, [-1, 0, 2])
  })

  it('label-flip sends each attacker’s update (trained on flipped labels) unchanged, as a copy', () => {
    const own = [f32(1, 2, 3)]
    const out = craftMaliciousUpdates(parse({ kind: 'label-flip' }), { benign, attackerCount: 1, attackerUpdates: own })
    expect(out).toEqual(own)
    expect(out[0]).not.toBe(own[0])
  })

  it('ALIE sends μ − z·σ of the benign updates, with z from n and m or the override', () => {
    const config = parse({ kind: 'alie' })
    // n = 3 benign + 1 attacker = 4: s = 3 − 1 = 2, z = Φ⁻¹(2/4) = 0
    const [plain] = craftMaliciousUpdates(config, { benign, attackerCount: 1 })
    expectVector(plain!, mu)
    const n = 50
    const withN = craftMaliciousUpdates(config, { benign, attackerCount: 12, totalClients: n })
    expect(withN).toHaveLength(12)
    const z = alieZ(50, 12)
    for (const u of withN) expectVector(u, mu.map((m, j) => m - z * sigma[j]!))
    const [overridden] = craftMaliciousUpdates(parse({ kind: 'alie', z: 1.5 }), { benign, attackerCount: 1 })
    expectVector(overridden!, mu.map((m, j) => m - 1.5 * sigma[j]!))
  })

  it('ALIE gives every attacker its own copy', () => {
    const [a, b] = craftMaliciousUpdates(parse({ kind: 'alie', z: 1 }), { benign, attackerCount: 2 })
    a![0] = 99
    expect(b![0]).not.toBe(99)
  })

  it('IPM sends −ε·μ, whose inner product with the benign mean is negative', () => {
    const out = craftMaliciousUpdates(parse({ kind: 'ipm', epsilon: 0.5 }), { benign, attackerCount: 3 })
    expect(out).toHaveLength(3)
    for (const u of out) {
      expectVector(u, [-0.5, -1, -1])
      expect(dot(u, mu)).toBeLessThan(0)
    }
  })

  it('IPM turns against the benign mean for any benign updates (property)', () => {
    const vector = fc.float32Array({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true, minLength: 5, maxLength: 5 })
    fc.assert(
      fc.property(fc.array(vector, { minLength: 1, maxLength: 8 }), fc.double({ min: 0.01, max: 10, noNaN: true }), (updates, epsilon) => {
        const mean = Array.from({ length: 5 }, (_, j) => updates.reduce((s, u) => s + u[j]!, 0) / updates.length)
        fc.pre(dot(mean, mean) > 1e-6)
        const [u] = craftMaliciousUpdates(parse({ kind: 'ipm', epsilon }), { benign: updates, attackerCount: 1 })
        expect(dot(u!, mean)).toBeLessThan(0)
      }),
    )
  })

  it('gaussian replaces each update with N(0, std²) noise drawn from the given source', () => {
    const own = [new Float32Array(20_000).fill(5), new Float32Array(20_000).fill(-5)]
    const out = craftMaliciousUpdates(parse({ kind: 'gaussian', std: 3 }), { benign: [], attackerCount: 2, attackerUpdates: own }, seeded(9))
    for (const u of out) {
      const mean = u.reduce((s, x) => s + x, 0) / u.length
      const variance = u.reduce((s, x) => s + (x - mean) ** 2, 0) / u.length
      expect(Math.abs(mean)).toBeLessThan(0.1) // 4σ of the mean of 20,000 draws is 0.085
      expect(Math.sqrt(variance)).toBeCloseTo(3, 1)
    }
    expect(out[0]).not.toEqual(out[1])
    const again = craftMaliciousUpdates(parse({ kind: 'gaussian', std: 3 }), { benign: [], attackerCount: 2, attackerUpdates: own }, seeded(9))
    expect(again).toEqual(out)
  })

  it('returns nothing for no attackers, and names what an attack is missing', () => {
    expect(craftMaliciousUpdates(parse({ kind: 'ipm' }), { benign: [], attackerCount: 0 })).toEqual([])
    expect(() => craftMaliciousUpdates(parse({ kind: 'ipm' }), { benign: [], attackerCount: 1 })).toThrow(/ipm needs at least one benign update/)
    expect(() => craftMaliciousUpdates(parse({ kind: 'sign-flip' }), { benign, attackerCount: 2, attackerUpdates: [f32(1, 2, 3)] })).toThrow(
      /sign-flip needs attackerUpdates, one per attacker \(2\), got 1/,
    )
    expect(() => craftMaliciousUpdates(parse({ kind: 'ipm' }), { benign: [f32(1, 2), f32(1)], attackerCount: 1 })).toThrow(
      /update 1 has 1 values, expected 2/,
    )
    expect(() => craftMaliciousUpdates(parse({ kind: 'ipm' }), { benign, attackerCount: -1 })).toThrow(/attackerCount must be a non-negative integer, got -1/)
    expect(() => craftMaliciousUpdates(parse({ kind: 'alie' }), { benign, attackerCount: 4 })).toThrow(/no finite z/)
  })
})

describe('craftLocalMaliciousUpdate (one attacker alone)', () => {
  const own = f32(2, -1, 0, 0.5)

  it('sign-flip and IPM scale its own update', () => {
    expectVector(craftLocalMaliciousUpdate(parse({ kind: 'sign-flip', scale: 3 }), own), [-6, 3, 0, -1.5])
    expectVector(craftLocalMaliciousUpdate(parse({ kind: 'ipm', epsilon: 0.5 }), own), [-1, 0.5, 0, -0.25])
    expect(dot(craftLocalMaliciousUpdate(parse({ kind: 'ipm' }), own), own)).toBeLessThan(0)
  })

  it('ALIE sends Δ − z·|Δ|, with z the large-n limit Φ⁻¹(1/2 + fraction) unless set', () => {
    expectVector(craftLocalMaliciousUpdate(parse({ kind: 'alie', z: 2 }), own), [-2, -3, 0, -0.5])
    const z = normalQuantile(0.7)
    expectVector(craftLocalMaliciousUpdate(parse({ kind: 'alie', fraction: 0.2 }), own), [2 - 2 * z, -1 - z, 0, 0.5 - 0.5 * z])
    // The limit agrees with the finite-n formula for a large cohort.
    expect(alieZ(100_000, 20_000)).toBeCloseTo(z, 4)
    expect(() => craftLocalMaliciousUpdate(parse({ kind: 'alie', fraction: 0.5 }), own)).toThrow(/no finite z .* fraction 0.5/)
  })

  it('gaussian sends noise of its update’s length; label-flip sends a copy of its update', () => {
    const noise = craftLocalMaliciousUpdate(parse({ kind: 'gaussian' }), own, seeded(4))
    expect(noise).toHaveLength(4)
    expect(noise).not.toEqual(own)
    const copy = craftLocalMaliciousUpdate(parse({ kind: 'label-flip' }), own)
    expect(copy).toEqual(own)
    expect(copy).not.toBe(own)
  })

  it('draws gaussian noise from the platform CSPRNG by default, never Math.random', () => {
    const spy = vi.spyOn(Math, 'random')
    try {
      craftLocalMaliciousUpdate(parse({ kind: 'gaussian' }), own)
      expect(spy).not.toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })
})

describe('attackerIds', () => {
  const ids = Array.from({ length: 50 }, (_, i) => `peer-${i}`)

  it('chooses round(fraction · n) of the given ids, the same for the same seed whatever the order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (clients, fraction, seed) => {
          const chosen = attackerIds(clients, fraction, seed)
          expect(chosen.size).toBe(Math.round(fraction * clients.length))
          for (const id of chosen) expect(clients).toContain(id)
          expect(attackerIds([...clients].reverse(), fraction, seed)).toEqual(chosen)
        },
      ),
    )
  })

  it('depends on the seed', () => {
    const sets = new Set([1, 2, 3, 4].map((seed) => [...attackerIds(ids, 0.2, seed)].sort().join()))
    expect(sets.size).toBe(4)
  })

  it('rejects duplicate ids, a bad fraction or seed', () => {
    expect(() => attackerIds(['a', 'b', 'a'], 0.5, 1)).toThrow(/client id "a" appears more than once/)
    expect(() => attackerIds(ids, 1.1, 1)).toThrow(/fraction must be in \[0, 1\], got 1.1/)
    expect(() => attackerIds(ids, 0.1, Number.NaN)).toThrow(/seed must be a finite number/)
  })
})

describe('flipLabels', () => {
  it('maps y to numClasses − 1 − y in a new array of the same type', () => {
    const labels = Int32Array.of(0, 3, 9, 5)
    const flipped = flipLabels(labels, 10)
    expect(flipped).toBeInstanceOf(Int32Array)
    expect(Array.from(flipped)).toEqual([9, 6, 0, 4])
    expect(Array.from(labels)).toEqual([0, 3, 9, 5])
  })

  it('is an involution', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 255 }).chain((c) => fc.tuple(fc.constant(c), fc.array(fc.integer({ min: 0, max: c - 1 }), { maxLength: 50 }))),
        ([numClasses, values]) => {
          const labels = Uint8Array.from(values)
          expect(flipLabels(flipLabels(labels, numClasses), numClasses)).toEqual(labels)
        },
      ),
    )
  })

  it('rejects labels outside [0, numClasses) and a bad class count', () => {
    expect(() => flipLabels(Int32Array.of(0, -1), 10)).toThrow(/labels\[1\] is -1, outside \[0, 10\)/)
    expect(() => flipLabels(Uint8Array.of(10), 10)).toThrow(/labels\[0\] is 10/)
    expect(() => flipLabels(Uint8Array.of(0), 0)).toThrow(/numClasses must be a positive integer, got 0/)
  })
})
