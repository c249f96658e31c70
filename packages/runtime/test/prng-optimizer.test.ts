// Seeded PRNG (known answers, permutation law) and optimizer/train-option validation.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { deriveSeed, mulberry32, permutation, resolveOptimizer, resolveTrainOptions } from '@weft/runtime'

describe('mulberry32', () => {
  it('produces the reference sequence for seed 0 and 42', () => {
    const a = mulberry32(0)
    expect([a.nextUint32(), a.nextUint32(), a.nextUint32()]).toEqual([1144304738, 1416247, 958946056])
    const b = mulberry32(42)
    expect(b.next()).toBeCloseTo(0.6011037519201636, 12)
  })

  it('permutation is a permutation (property) and depends on the seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer(), (n, seed) => {
        const p = Array.from(permutation(n, mulberry32(seed))).sort((x, y) => x - y)
        expect(p).toEqual(Array.from({ length: n }, (_, i) => i))
      }),
    )
    expect(permutation(50, mulberry32(deriveSeed(1, 0)))).not.toEqual(permutation(50, mulberry32(deriveSeed(1, 1))))
  })

  it('rejects a non-finite seed naming it', () => {
    expect(() => mulberry32(Number.NaN)).toThrow(/seed/)
  })
})

describe('optimizer and train options', () => {
  it('fills defaults', () => {
    expect(resolveOptimizer({ kind: 'adamw', lr: 0.001 })).toEqual({ kind: 'adamw', lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 })
    expect(resolveOptimizer({ kind: 'sgd', lr: 0.1 })).toEqual({ kind: 'sgd', lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false })
  })

  it.each([
    [{ kind: 'rmsprop', lr: 0.1 }, /optimizer\.kind/],
    [{ kind: 'sgd', lr: 0 }, /optimizer\.lr/],
    [{ kind: 'sgd', lr: 0.1, momentum: 2 }, /optimizer\.momentum/],
    [{ kind: 'sgd', lr: 0.1, nesterov: true }, /nesterov needs momentum/],
    [{ kind: 'adam', lr: 0.1, beta2: 1.5 }, /optimizer\.beta2/],
  ])('rejects %j', (config, message) => {
    expect(() => resolveOptimizer(config)).toThrow(expect.objectContaining({ name: 'InvalidTrainOptionsError', message: expect.stringMatching(message) }))
  })

  it('computes the step budget from epochs or steps', () => {
    const opt = { kind: 'sgd', lr: 0.1 } as const
    expect(resolveTrainOptions({ epochs: 2, batchSize: 32, optimizer: opt }, 100, 10).steps).toBe(8)
    expect(resolveTrainOptions({ epochs: 2, batchSize: 32, optimizer: opt, dropLast: true }, 100, 10).steps).toBe(6)
    expect(resolveTrainOptions({ steps: 5, batchSize: 32, optimizer: opt }, 100, 10).steps).toBe(5)
    expect(() => resolveTrainOptions({ epochs: 1, steps: 1, batchSize: 32, optimizer: opt }, 100, 10)).toThrow(/exactly one/)
    expect(() => resolveTrainOptions({ epochs: 1, batchSize: 0, optimizer: opt }, 100, 10)).toThrow(/batchSize/)
    expect(() => resolveTrainOptions({ epochs: 1, batchSize: 8, optimizer: opt, proximal: { mu: -1, reference: new Float32Array(10) } }, 100, 10)).toThrow(/proximal\.mu/)
  })
})
