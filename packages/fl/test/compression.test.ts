// Update compression codecs through the public API: round trips, int8 unbiasedness, top-k selection, error
// feedback, refusal of malformed updates, and the byte counts the coordinator admits by.
import {
  type CompressionConfig,
  type CompressionConfigInput,
  compressionConfigSchema,
  createUpdateEncoder,
  DELTA_TENSOR,
  decodeUpdate,
  encodedUpdateBytes,
  INDICES_TENSOR,
  InvalidUpdateError,
  SCALES_TENSOR,
  topkCount,
  VALUES_TENSOR,
  vectorSet,
} from '@weft/fl'
import {
  createTensor,
  decodeTensorSet,
  encodeTensorSet,
  float32ToFloat16,
  type Tensor,
  type TensorSet,
  tensorSetByteLength,
} from '@weft/protocol'
import { mulberry32 } from '@weft/runtime'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'

const parse = (input: CompressionConfigInput): CompressionConfig => compressionConfigSchema.parse(input)
const NONE = parse({ kind: 'none' })
const FLOAT16 = parse({ kind: 'float16' })
const INT8 = parse({ kind: 'int8' })
const topk = (fraction: number, extra: Partial<Extract<CompressionConfigInput, { kind: 'topk' }>> = {}) =>
  parse({ kind: 'topk', fraction, ...extra })

/** Seeded uniform source for reproducible stochastic rounding. */
const seeded = (seed: number) => mulberry32(seed).next

/** A reproducible vector of normal-ish values (sum of uniforms), scaled. */
function randomVector(n: number, seed: number, scale = 1): Float32Array {
  const next = seeded(seed)
  return Float32Array.from({ length: n }, () => scale * (next() + next() + next() - 1.5))
}

function norm(x: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < x.length; i++) s += (x[i] as number) ** 2
  return Math.sqrt(s)
}

const finiteVector = (max: number, maxLength = 64) =>
  fc.float32Array({ min: Math.fround(-max), max: Math.fround(max), noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength })

describe('compressionConfigSchema', () => {
  it('fills top-k defaults: error feedback on, float32 values', () => {
    expect(parse({ kind: 'topk', fraction: 0.01 })).toEqual({ kind: 'topk', fraction: 0.01, errorFeedback: true, values: 'float32' })
  })

  it.each([
    ['a zero fraction', { kind: 'topk', fraction: 0 }],
    ['a fraction above 1', { kind: 'topk', fraction: 1.5 }],
    ['a missing fraction', { kind: 'topk' }],
    ['an unknown values dtype', { kind: 'topk', fraction: 0.1, values: 'int8' }],
    ['an unknown field', { kind: 'int8', bits: 4 }],
    ['an unknown kind', { kind: 'zstd' }],
  ])('rejects %s', (_, input) => {
    expect(compressionConfigSchema.safeParse(input).success).toBe(false)
  })
})

describe('none', () => {
  it('sends the delta exactly as vectorSet does, and decodes it unchanged', () => {
    fc.assert(
      fc.property(finiteVector(1e30), (delta) => {
        const set = createUpdateEncoder(NONE, [delta.length]).encode(delta)
        expect(set).toEqual(vectorSet(DELTA_TENSOR, delta))
        expect(decodeUpdate(set, NONE, [delta.length])).toEqual(delta)
      }),
    )
  })
})

describe('float16', () => {
  it('decodes every value within float16 precision (relative 2⁻¹¹, absolute 2⁻²⁵ among subnormals)', () => {
    fc.assert(
      fc.property(finiteVector(65_000), (delta) => {
        const set = createUpdateEncoder(FLOAT16, [delta.length]).encode(delta)
        expect(set.map((t) => [t.name, t.dtype, t.shape])).toEqual([[DELTA_TENSOR, 'float16', [delta.length]]])
        const decoded = decodeUpdate(set, FLOAT16, [delta.length])
        delta.forEach((x, i) => {
          expect(Math.abs((decoded[i] as number) - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25))
        })
      }),
    )
  })

  it('rounds as float32ToFloat16 of the protocol does', () => {
    const delta = Float32Array.of(0.1, -2.5, 1e-6, 65_504)
    const [t] = createUpdateEncoder(FLOAT16, [4]).encode(delta)
    expect(new Uint8Array(t!.data)).toEqual(new Uint8Array(float32ToFloat16(delta).buffer))
  })

  it('refuses to encode a value float16 cannot hold, naming it', () => {
    const encoder = createUpdateEncoder(FLOAT16, [3])
    expect(() => encoder.encode(Float32Array.of(1, 70_000, 2))).toThrow(/delta\[1\] is 70000.*float16/)
  })
})

describe('int8', () => {
  const layout = [10, 6]
  const x = Float32Array.from([0.9, -0.31, 0.005, 0, 0.5, -0.77, 0.123, 0.44, -1, 0.25, 40, -13.3, 7.77, 0.01, -39.99, 2.5])
  const scales = [1 / 127, 40 / 127]

  it('sends one int8 code per parameter and one float32 scale (max|x| / 127) per tensor', () => {
    const set = createUpdateEncoder(INT8, layout, seeded(1)).encode(x)
    expect(set.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      [DELTA_TENSOR, 'int8', [16]],
      [SCALES_TENSOR, 'float32', [2]],
    ])
    expect(Array.from(new Float32Array(set[1]!.data.slice().buffer))).toEqual(scales.map(Math.fround))
  })

  it('is unbiased: the mean of 2,000 decodes lies within 3σ of x', () => {
    const encoder = createUpdateEncoder(INT8, layout, seeded(2))
    const rounds = 2000
    const sum = new Float64Array(x.length)
    for (let r = 0; r < rounds; r++) {
      decodeUpdate(encoder.encode(x), INT8, layout).forEach((v, i) => {
        sum[i] = sum[i]! + v
      })
    }
    x.forEach((xi, i) => {
      const scale = Math.fround(scales[i < 10 ? 0 : 1]!)
      const frac = xi / scale - Math.floor(xi / scale)
      // One decode is ⌊x/s⌋·s or that plus s, with P(up) = frac: its standard deviation is s·√(frac(1 − frac)).
      const sigmaOfMean = (scale * Math.sqrt(frac * (1 - frac))) / Math.sqrt(rounds)
      expect(Math.abs(sum[i]! / rounds - xi)).toBeLessThanOrEqual(3 * sigmaOfMean + 1e-6)
    })
  })

  it('errs by at most one scale step per coordinate', () => {
    fc.assert(
      fc.property(finiteVector(1e6, 40), fc.integer({ min: 1, max: 1000 }), (delta, seed) => {
        const split = delta.length >> 1
        const parts = split === 0 ? [delta.length] : [split, delta.length - split]
        const set = createUpdateEncoder(INT8, parts, seeded(seed)).encode(delta)
        const steps = new Float32Array(set[1]!.data.slice().buffer)
        const decoded = decodeUpdate(set, INT8, parts)
        let start = 0
        parts.forEach((size, t) => {
          const segment = delta.subarray(start, start + size)
          const max = Math.max(...Array.from(segment, Math.abs))
          const step = steps[t]!
          // The step is max/127 in float32, moved up if needed so that code 127 reaches max (subnormals included).
          expect(Math.fround(step * 127)).toBeGreaterThanOrEqual(max)
          if (max > 1e-30) expect(step).toBeLessThanOrEqual((max / 127) * (1 + 2 ** -22))
          segment.forEach((v, j) => {
            expect(Math.abs((decoded[start + j] as number) - v)).toBeLessThanOrEqual(step)
          })
          start += size
        })
      }),
    )
  })

  it('sends a zero tensor as zero codes with scale 0', () => {
    const decoded = decodeUpdate(createUpdateEncoder(INT8, [2, 2], seeded(3)).encode(Float32Array.of(0, 0, 1, -1)), INT8, [2, 2])
    expect(Array.from(decoded)).toEqual([0, 0, 1, -1])
  })

  it('rounds with the platform CSPRNG by default, never Math.random', () => {
    const spy = vi.spyOn(Math, 'random')
    try {
      const decoded = decodeUpdate(createUpdateEncoder(INT8, layout).encode(x), INT8, layout)
      expect(spy).not.toHaveBeenCalled()
      x.forEach((v, i) => {
        expect(Math.abs(decoded[i]! - v)).toBeLessThanOrEqual(scales[i < 10 ? 0 : 1]! * (1 + 1e-6))
      })
    } finally {
      spy.mockRestore()
    }
  })
})

describe('top-k', () => {
  it('sends k = ⌈fraction·n⌉ coordinates, reading the fraction as the decimal written', () => {
    expect(topkCount(0.01, 1000)).toBe(10)
    expect(topkCount(0.07, 100)).toBe(7)
    expect(topkCount(0.015, 100)).toBe(2)
    expect(topkCount(1e-9, 10)).toBe(1)
    expect(topkCount(1, 10)).toBe(10)
  })

  it('selects exactly the k largest |x| (no unsent magnitude exceeds a sent one) and sends them as they are', () => {
    fc.assert(
      fc.property(finiteVector(1e3, 200), fc.double({ min: 0.001, max: 1, noNaN: true }), (delta, fraction) => {
        const config = topk(fraction, { errorFeedback: false })
        const n = delta.length
        const decoded = decodeUpdate(createUpdateEncoder(config, [n]).encode(delta), config, [n])
        const sent = new Set<number>()
        decoded.forEach((v, i) => {
          if (v !== 0) sent.add(i)
        })
        const nonzeros = delta.filter((v) => v !== 0).length
        expect(sent.size).toBe(Math.min(topkCount(fraction, n), nonzeros))
        const smallestSent = Math.min(...Array.from(sent, (i) => Math.abs(delta[i]!)))
        delta.forEach((v, i) => {
          if (sent.has(i)) expect(decoded[i]).toBe(v)
          else expect(Math.abs(v)).toBeLessThanOrEqual(smallestSent)
        })
      }),
    )
  })

  it('breaks ties at the threshold towards the lowest indices, sending exactly k', () => {
    const config = topk(0.3, { errorFeedback: false })
    const set = createUpdateEncoder(config, [10]).encode(Float32Array.of(1, -1, 1, 5, 1, 1, 1, 1, 1, 1))
    expect(set[1]!.shape).toEqual([3])
    expect(Array.from(decodeUpdate(set, config, [10]))).toEqual([1, -1, 0, 5, 0, 0, 0, 0, 0, 0])
  })

  it('codes indices as LEB128 gaps, the first from −1', () => {
    const delta = new Float32Array(400)
    delta[0] = 3
    delta[129] = -2
    delta[399] = 1
    const config = topk(3 / 400, { errorFeedback: false })
    const [indices] = createUpdateEncoder(config, [400]).encode(delta)
    // gaps 1, 129 (0x81 0x01), 270 (0x8e 0x02)
    expect(Array.from(indices!.data)).toEqual([1, 0x81, 0x01, 0x8e, 0x02])
  })

  describe('with error feedback', () => {
    it('keeps Σ decoded = Σ true − residual over many rounds, with float32 or float16 values', () => {
      for (const values of ['float32', 'float16'] as const) {
        const config = topk(0.05, { values })
        const n = 300
        const encoder = createUpdateEncoder(config, [100, 200])
        const sumTrue = new Float64Array(n)
        const sumDecoded = new Float64Array(n)
        for (let round = 0; round < 60; round++) {
          const delta = randomVector(n, round, 0.01)
          const decoded = decodeUpdate(encoder.encode(delta), config, [100, 200])
          for (let i = 0; i < n; i++) {
            sumTrue[i] = sumTrue[i]! + delta[i]!
            sumDecoded[i] = sumDecoded[i]! + decoded[i]!
          }
        }
        const gap = norm(sumTrue.map((t, i) => t - sumDecoded[i]!))
        expect(encoder.residualNorm()).toBeGreaterThan(0)
        expect(Math.abs(gap - encoder.residualNorm())).toBeLessThanOrEqual(1e-4 * norm(sumTrue) + 1e-6)
      }
    })

    it('keeps the residual bounded where dropping coordinates without it drifts linearly', () => {
      // The same delta every round: without feedback the small coordinates are never sent.
      const n = 100
      const delta = Float32Array.from({ length: n }, (_, i) => 1 + i / n)
      const drift = (errorFeedback: boolean, rounds: number) => {
        const config = topk(0.1, { errorFeedback })
        const encoder = createUpdateEncoder(config, [n])
        const sum = new Float64Array(n)
        for (let r = 0; r < rounds; r++) {
          decodeUpdate(encoder.encode(delta), config, [n]).forEach((v, i) => {
            sum[i] = sum[i]! + v
          })
        }
        return { gap: norm(sum.map((s, i) => rounds * delta[i]! - s)), residual: encoder.residualNorm() }
      }
      const [ef100, ef400] = [drift(true, 100), drift(true, 400)]
      const [plain100, plain400] = [drift(false, 100), drift(false, 400)]
      expect(plain100.residual).toBe(0)
      expect(plain400.gap / plain100.gap).toBeCloseTo(4, 5)
      expect(ef400.gap).toBeLessThan(1.5 * ef100.gap)
      expect(ef400.gap).toBeLessThan(plain400.gap / 20)
      expect(ef400.residual).toBeCloseTo(ef400.gap, 3)
    })

    it('leaves the residual untouched when it refuses a delta', () => {
      const config = topk(0.5, { values: 'float16' })
      const encoder = createUpdateEncoder(config, [4])
      encoder.encode(Float32Array.of(1, 2, 3, 4))
      const before = encoder.residualNorm()
      expect(() => encoder.encode(Float32Array.of(0, 0, 0, Number.NaN))).toThrow(/delta\[3\].*not finite/)
      expect(() => encoder.encode(Float32Array.of(0, 70_000, 0, 0))).toThrow(/delta\[1\] plus the carried residual/)
      expect(encoder.residualNorm()).toBe(before)
    })
  })
})

describe('every codec', () => {
  const configs: readonly CompressionConfig[] = [NONE, FLOAT16, INT8, topk(0.1), topk(0.1, { values: 'float16' })]

  it.each(configs.map((c) => [JSON.stringify(c), c] as const))('%s survives the canonical tensor-set encoding', (_, config) => {
    const layout = [30, 20, 50]
    const delta = randomVector(100, 7)
    const set = createUpdateEncoder(config, layout, seeded(7)).encode(delta)
    const direct = decodeUpdate(set, config, layout)
    expect(decodeUpdate(decodeTensorSet(encodeTensorSet(set)), config, layout)).toEqual(direct)
  })

  it.each(configs.map((c) => [JSON.stringify(c), c] as const))('%s rejects a delta of the wrong length, naming both lengths', (_, config) => {
    expect(() => createUpdateEncoder(config, [3, 2]).encode(new Float32Array(4))).toThrow(/4 values, expected 5/)
  })

  it('rejects a layout that is empty, negative or sums to zero', () => {
    expect(() => createUpdateEncoder(NONE, [])).toThrow(RangeError)
    expect(() => createUpdateEncoder(NONE, [3, -1])).toThrow(/layout\[1\] must be a non-negative integer, got -1/)
    expect(() => decodeUpdate(vectorSet(DELTA_TENSOR, new Float32Array(0)), NONE, [0])).toThrow(RangeError)
  })
})

describe('decodeUpdate refuses malformed updates', () => {
  const n = 8
  const layout = [5, 3]
  const f32 = (name: string, values: number[]) => createTensor(name, 'float32', [values.length], Float32Array.from(values))
  const f16 = (name: string, bits: number[]) => createTensor(name, 'float16', [bits.length], Uint16Array.from(bits))
  const u8 = (name: string, bytes: number[]) => createTensor(name, 'uint8', [bytes.length], Uint8Array.from(bytes))
  const codes = (values: number[]) => createTensor(DELTA_TENSOR, 'int8', [values.length], Int8Array.from(values))
  const TOPK = topk(2 / n) // k = 2
  const TOPK16 = topk(2 / n, { values: 'float16' })

  const cases: readonly (readonly [string, TensorSet, CompressionConfig, RegExp])[] = [
    ['no tensors', [], NONE, /must hold float32 "delta" \[8\]; got no tensors/],
    ['a misnamed tensor', [f32('update', Array(n).fill(0))], NONE, /got float32 "update"/],
    ['a wrong dtype', [f32(DELTA_TENSOR, Array(n).fill(0))], FLOAT16, /must hold float16 "delta"/],
    ['a wrong length', [f32(DELTA_TENSOR, Array(n - 1).fill(0))], NONE, /got float32 "delta" \[7\]/],
    ['a rank-2 shape', [createTensor(DELTA_TENSOR, 'float32', [n, 1], new Float32Array(n))], NONE, /\[8, 1\]/],
    ['an extra tensor', [f32(DELTA_TENSOR, Array(n).fill(0)), f32('extra', [1])], NONE, /got .*"extra"/],
    ['tensors out of order', [f32(SCALES_TENSOR, [1, 1]), codes(Array(n).fill(0))], INT8, /must hold int8 "delta"/],
    ['a missing scales tensor', [codes(Array(n).fill(0))], INT8, /float32 "scales" \[2\]/],
    ['scales for another layout', [codes(Array(n).fill(0)), f32(SCALES_TENSOR, [1, 1, 1])], INT8, /"scales" \[3\]/],
    ['a NaN in a float32 delta', [f32(DELTA_TENSOR, [0, 0, Number.NaN, 0, 0, 0, 0, 0])], NONE, /non-finite value \(NaN\) at index 2/],
    ['an infinite float16 value', [f16(DELTA_TENSOR, [0, 0, 0, 0x7c00, 0, 0, 0, 0])], FLOAT16, /non-finite float16 value \(Infinity\) at index 3/],
    ['a float16 NaN', [f16(DELTA_TENSOR, [0x7e00, 0, 0, 0, 0, 0, 0, 0])], FLOAT16, /non-finite float16 value \(NaN\) at index 0/],
    ['a NaN scale', [codes(Array(n).fill(1)), f32(SCALES_TENSOR, [1, Number.NaN])], INT8, /scale 1 is NaN/],
    ['an infinite scale', [codes(Array(n).fill(1)), f32(SCALES_TENSOR, [Number.POSITIVE_INFINITY, 1])], INT8, /scale 0 is Infinity/],
    ['a negative scale', [codes(Array(n).fill(1)), f32(SCALES_TENSOR, [-0.5, 1])], INT8, /scale 0 is -0.5/],
    ['a scale that overflows float32', [codes(Array(n).fill(1)), f32(SCALES_TENSOR, [1, 3e38])], INT8, /scale 1 is .*expected a finite value/],
    ['an int8 code of −128', [codes([0, 0, 0, 0, 0, 0, -128, 0]), f32(SCALES_TENSOR, [1, 1])], INT8, /code -128 at index 6/],
    ['a varint that overruns the stream', [u8(INDICES_TENSOR, [1, 0x80]), f32(VALUES_TENSOR, [1, 2])], TOPK, /runs past the end/],
    ['an overlong varint', [u8(INDICES_TENSOR, [1, 0x81, 0x00]), f32(VALUES_TENSOR, [1, 2])], TOPK, /overlong/],
    ['a varint over 8 bytes', [u8(INDICES_TENSOR, [...Array(9).fill(0x80), 1]), f32(VALUES_TENSOR, [1, 2])], TOPK, /longer than 8 bytes/],
    ['an index ≥ n', [u8(INDICES_TENSOR, [1, 8]), f32(VALUES_TENSOR, [1, 2])], TOPK, /index 1 is 8, beyond the 8 parameters/],
    ['a repeated index', [u8(INDICES_TENSOR, [3, 0]), f32(VALUES_TENSOR, [1, 2])], TOPK, /gap 1 is 0, repeating index 2; indices must strictly increase/],
    ['more indices than values', [u8(INDICES_TENSOR, [1, 1, 1]), f32(VALUES_TENSOR, [1, 2])], TOPK, /more indices than the 2 values/],
    ['fewer indices than values', [u8(INDICES_TENSOR, [1]), f32(VALUES_TENSOR, [1, 2])], TOPK, /holds 1 indices, fewer than the 2 values/],
    ['more values than k', [u8(INDICES_TENSOR, [1, 1, 1]), f32(VALUES_TENSOR, [1, 2, 3])], TOPK, /float32 "values" \[2\]/],
    ['float32 values where float16 was agreed', [u8(INDICES_TENSOR, [1, 1]), f32(VALUES_TENSOR, [1, 2])], TOPK16, /float16 "values"/],
    ['a non-finite top-k value', [u8(INDICES_TENSOR, [1, 1]), f32(VALUES_TENSOR, [1, Number.NEGATIVE_INFINITY])], TOPK, /\(-Infinity\) at index 1/],
    ['a non-finite float16 top-k value', [u8(INDICES_TENSOR, [1, 1]), f16(VALUES_TENSOR, [0xfc00, 0])], TOPK16, /non-finite float16/],
  ]

  it.each(cases)('%s', (_, set, config, message) => {
    let caught: unknown
    try {
      decodeUpdate(set, config, layout)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(InvalidUpdateError)
    expect((caught as Error).name).toBe('InvalidUpdateError')
    expect((caught as Error).message).toMatch(message)
  })

  it('checks a forged shape before allocating anything from it', () => {
    const forged: Tensor = { name: VALUES_TENSOR, dtype: 'float32', shape: [2 ** 40], data: new Uint8Array(8) }
    expect(() => decodeUpdate([u8(INDICES_TENSOR, [1, 1]), forged], TOPK, layout)).toThrow(InvalidUpdateError)
    const short: Tensor = { name: VALUES_TENSOR, dtype: 'float32', shape: [2], data: new Uint8Array(4) }
    expect(() => decodeUpdate([u8(INDICES_TENSOR, [1, 1]), short], TOPK, layout)).toThrow(InvalidUpdateError)
  })

  it('accepts the well-formed counterpart of those top-k streams', () => {
    expect(Array.from(decodeUpdate([u8(INDICES_TENSOR, [1, 7]), f32(VALUES_TENSOR, [1, 2])], TOPK, layout))).toEqual([1, 0, 0, 0, 0, 0, 0, 2])
  })
})

describe('encodedUpdateBytes', () => {
  it('is 4n for none, 2n for float16 and n + 4·tensors for int8, matching what the encoder sends', () => {
    const layout = [64, 16, 20]
    const delta = randomVector(100, 11)
    expect(encodedUpdateBytes(NONE, 100, 3)).toBe(400)
    expect(encodedUpdateBytes(FLOAT16, 100, 3)).toBe(200)
    expect(encodedUpdateBytes(INT8, 100, 3)).toBe(112)
    for (const config of [NONE, FLOAT16, INT8]) {
      expect(tensorSetByteLength(createUpdateEncoder(config, layout).encode(delta))).toBe(encodedUpdateBytes(config, 100, 3))
    }
  })

  it('bounds what top-k sends', () => {
    fc.assert(
      fc.property(finiteVector(1e3, 300), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.boolean(), (delta, fraction, half) => {
        const config = topk(fraction, { values: half ? 'float16' : 'float32' })
        const set = createUpdateEncoder(config, [delta.length]).encode(delta)
        expect(tensorSetByteLength(set)).toBeLessThanOrEqual(encodedUpdateBytes(config, delta.length, 1))
      }),
    )
  })

  it('is reached by top-k when the indices are spread to make the varints longest', () => {
    // n = 1000, k = 10: seven gaps of 128 (two bytes each) and three of 1 fit, 17 index bytes; eight of 128 would not.
    const config = topk(0.01, { errorFeedback: false })
    const delta = new Float32Array(1000)
    let index = -1
    for (const gap of [128, 128, 128, 128, 128, 128, 128, 1, 1, 1]) {
      index += gap
      delta[index] = 1
    }
    expect(tensorSetByteLength(createUpdateEncoder(config, [1000]).encode(delta))).toBe(17 + 40)
    expect(encodedUpdateBytes(config, 1000, 1)).toBe(17 + 40)
  })

  it('makes 1% top-k of 1.6M parameters less than 3% of the float32 bytes', () => {
    const n = 1_600_000
    const config = topk(0.01)
    const bound = encodedUpdateBytes(config, n, 8)
    expect(bound).toBeLessThan(0.03 * 4 * n)
    const sent = tensorSetByteLength(createUpdateEncoder(config, [n]).encode(randomVector(n, 5)))
    expect(sent).toBeLessThanOrEqual(bound)
  })

  it('rejects a negative or fractional count', () => {
    expect(() => encodedUpdateBytes(NONE, -1, 1)).toThrow(/n must be a non-negative integer, got -1/)
    expect(() => encodedUpdateBytes(INT8, 10, 1.5)).toThrow(/layoutLength must be a non-negative integer, got 1.5/)
  })
})
