// TensorSet model: canonical encoding round trips, stable content hash, validation, float16 conversion.
import { readFileSync } from 'node:fs'
import {
  createTensor,
  decodeTensorSet,
  encodeTensorSet,
  float16ToFloat32,
  float32ToFloat16,
  fromFloat16Bits,
  InvalidTensorSetError,
  type Tensor,
  type TensorDType,
  TensorSetTooLargeError,
  tensorSetHash,
  tensorValues,
  toFloat16Bits,
  toHex,
} from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

interface VectorCase {
  tensors: { name: string; dtype: string; shape: number[]; data: string }[]
  encoding: string
  sha256: string
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/tensor-set.json', import.meta.url), 'utf8')) as { cases: VectorCase[] }

const SIZE: Record<TensorDType, number> = { float32: 4, float16: 2, int8: 1, uint8: 1, uint32: 4 }
const arbTensor = fc
  .record({
    dtype: fc.constantFrom<TensorDType>('float32', 'float16', 'int8', 'uint8', 'uint32'),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain(({ dtype, shape }) =>
    fc.uint8Array({ minLength: shape.reduce((a, b) => a * b, 1) * SIZE[dtype], maxLength: shape.reduce((a, b) => a * b, 1) * SIZE[dtype] }).map((data) => ({ dtype, shape, data })),
  )
const arbSet = fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), arbTensor), { selector: ([n]) => n, maxLength: 6 }).map((ts) =>
  ts.map(([name, t]): Tensor => ({ name, ...t })),
)

describe('TensorSet', () => {
  it('decode(encode(set)) = set and the hash is the sha256 of the encoding', async () => {
    const { sha256 } = await import('@noble/hashes/sha2.js')
    fc.assert(
      fc.property(arbSet, (set) => {
        const bytes = encodeTensorSet(set)
        const back = decodeTensorSet(bytes)
        expect(back.map((t) => ({ ...t, data: [...t.data] }))).toEqual(set.map((t) => ({ ...t, data: [...t.data] })))
        expect(toHex(tensorSetHash(set))).toBe(toHex(sha256(bytes)))
      }),
    )
  })

  it('matches the known-answer vectors (encoding and content hash are stable)', () => {
    for (const c of vectors.cases) {
      const set = c.tensors.map((t): Tensor => ({ name: t.name, dtype: t.dtype as TensorDType, shape: t.shape, data: Buffer.from(t.data, 'hex') }))
      expect(toHex(encodeTensorSet(set))).toBe(c.encoding)
      expect(toHex(tensorSetHash(set))).toBe(c.sha256)
      expect(toHex(tensorSetHash(decodeTensorSet(Buffer.from(c.encoding, 'hex'))))).toBe(c.sha256)
    }
  })

  it('rejects inconsistent sets and oversized decodes', () => {
    expect(() => createTensor('x', 'float32', [3], new Float32Array(2))).toThrow(InvalidTensorSetError)
    const dup = [createTensor('a', 'uint8', [1], new Uint8Array(1)), createTensor('a', 'uint8', [1], new Uint8Array(1))]
    expect(() => encodeTensorSet(dup)).toThrow(InvalidTensorSetError)
    const bytes = encodeTensorSet([createTensor('a', 'uint8', [100], new Uint8Array(100))])
    expect(() => decodeTensorSet(bytes, { maxBytes: 99 })).toThrow(TensorSetTooLargeError)
    expect(() => decodeTensorSet(bytes.subarray(0, bytes.byteLength - 1))).toThrow(InvalidTensorSetError)
    expect(() => decodeTensorSet(new Uint8Array(20))).toThrow(InvalidTensorSetError)
  })

  it('views values as the dtype says', () => {
    const t = createTensor('h', 'float16', [2], float32ToFloat16([1.5, -0.25]))
    expect([...float16ToFloat32(tensorValues(t))]).toEqual([1.5, -0.25])
    const i = createTensor('i', 'int8', [2], new Int8Array([-3, 4]))
    expect([...tensorValues(i)]).toEqual([-3, 4])
    const u = createTensor('u', 'uint32', [2], new Uint32Array([0xffffffff, 7]))
    expect([...tensorValues(u)]).toEqual([0xffffffff, 7])
  })
})

describe('float16', () => {
  it('round-trips every binary16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromFloat16Bits(h)
      if (Number.isNaN(v)) {
        expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(v)))).toBe(true)
      } else {
        expect(toFloat16Bits(v)).toBe(h)
      }
    }
  })

  it('rounds to nearest, ties to even, and saturates to infinity', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00) // tie -> even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02) // tie -> even (up)
    expect(toFloat16Bits(65520)).toBe(0x7c00)
    expect(toFloat16Bits(2 ** -25)).toBe(0) // tie with zero -> even
    expect(toFloat16Bits(2 ** -25 * 1.5)).toBe(1)
    expect(toFloat16Bits(-0)).toBe(0x8000)
  })
})

describe('tensorValues on an unaligned Node Buffer', () => {
  it('copies the data (Buffer#slice would be a view at the same unaligned offset)', () => {
    const encoded = encodeTensorSet([createTensor('x', 'float32', [3], Float32Array.from([1, 2, 3]))])
    // A message received from the network: a Buffer view into a larger pool at an odd offset.
    const pool = Buffer.alloc(encoded.length + 3)
    pool.set(encoded, 1)
    const [t] = decodeTensorSet(pool.subarray(1, 1 + encoded.length))
    expect([...tensorValues(t as Tensor<'float32'>)]).toEqual([1, 2, 3])
  })
})
