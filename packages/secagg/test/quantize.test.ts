// Fixed-point encoding: clipping, unbiased stochastic rounding, and the error bound of a dequantized sum.
import {
  checkQuantization,
  dequantizeSum,
  maxQuantizationBits,
  quantizationErrorBound,
  quantize,
  seededRandomBytesUnsafe,
} from '@weft/secagg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

describe('quantization', () => {
  it('dequantized sums stay within n * 2c / (2^bits - 1) of the float sum (plus float32 rounding)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 31 }),
        fc.double({ min: 1e-3, max: 100, noNaN: true }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (clients, requestedBits, clip, seed) => {
          const bits = Math.min(requestedBits, maxQuantizationBits(clients))
          const params = { clip, bits }
          const random = seededRandomBytesUnsafe(seed)
          const length = 64
          const inputs = Array.from({ length: clients }, () =>
            Float32Array.from(random(length), (byte) => ((byte - 127.5) / 127.5) * clip),
          )
          const sum = new Uint32Array(length)
          let largest = 0
          for (const input of inputs) {
            const q = quantize(input, params, random)
            for (let i = 0; i < length; i++) sum[i] = sum[i]! + q[i]!
            largest = Math.max(largest, ...q)
          }
          expect(largest).toBeLessThan(2 ** bits)
          const total = dequantizeSum(sum, clients, params)
          const bound = quantizationErrorBound(params, clients)
          const outside = [...total].flatMap((value, i) => {
            const exact = inputs.reduce((acc, input) => acc + Math.min(clip, Math.max(-clip, input[i]!)), 0)
            const error = Math.abs(value - exact)
            return error <= bound + Math.abs(exact) * 2 ** -23 ? [] : [{ i, error, bound }]
          })
          expect(outside).toEqual([])
        },
      ),
      { numRuns: 100 },
    )
  })

  it('clips to [-c, c] and rounds without bias', () => {
    const params = { clip: 1, bits: 4 } // step 2/15
    const random = seededRandomBytesUnsafe(new Uint8Array(32))
    const q = quantize(Float32Array.of(-5, 5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY), params, random)
    expect([...q]).toEqual([0, 15, 15, 0])
    // 0.05 sits 0.375 of a step above level 7 (value -1 + 7 * 2/15): the mean of many roundings is close to it.
    const many = quantize(new Float32Array(100_000).fill(0.05), params, random)
    const mean = many.reduce((acc, v) => acc + v, 0) / many.length
    expect(mean).toBeGreaterThan(7.5 + 0.375 - 0.5 - 0.01)
    expect(Math.abs(mean - (0.05 + 1) * 7.5)).toBeLessThan(0.01)
  })

  it('refuses NaN and sums that could wrap, naming the values', () => {
    const random = seededRandomBytesUnsafe(new Uint8Array(32))
    expect(() => quantize(Float32Array.of(0, Number.NaN), { clip: 1, bits: 8 }, random)).toThrow(/input\[1\] is NaN/)
    expect(maxQuantizationBits(100)).toBe(25)
    expect(() => checkQuantization({ clip: 1, bits: 26 }, 100)).toThrow(/bits 26 is too many for 100 clients/)
    expect(() => checkQuantization({ clip: 1, bits: 25 }, 100)).not.toThrow()
  })
})
