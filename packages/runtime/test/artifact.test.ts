// Model artifacts: round trip, content id, and clear errors for damaged bytes.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeModelArtifact, encodeModelArtifact, type ModelSpec, paramCount, paramInfo } from '@weft/runtime'

const spec: ModelSpec = { architecture: 'mlp', inputShape: [3], numClasses: 2, hidden: [2] }
const info = paramInfo(spec)
const n = paramCount(spec)
const weights = Float32Array.from({ length: n }, (_, i) => i / 4 - 1)

describe('model artifact', () => {
  it('decode(encode(x)) = x for any finite weights (property)', () => {
    fc.assert(
      fc.property(fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true }), (w) => {
        const { bytes, id } = encodeModelArtifact({ spec, params: info, weights: w })
        const back = decodeModelArtifact(bytes)
        expect(back.spec).toEqual(spec)
        expect(back.params).toEqual(info)
        expect(Array.from(back.weights)).toEqual(Array.from(w))
        expect(back.id).toBe(id)
      }),
      { numRuns: 50 },
    )
  })

  it('matches the known-answer vector (bytes and sha256 id)', () => {
    const vector = JSON.parse(readFileSync(new URL('./vectors/artifact-mlp-3-2-2.json', import.meta.url), 'utf8')) as {
      id: string
      hex: string
    }
    const { bytes, id } = encodeModelArtifact({ spec, params: info, weights })
    expect(Buffer.from(bytes).toString('hex')).toBe(vector.hex)
    expect(id).toBe(vector.id)
    expect(id).toMatch(/^[0-9a-f]{64}$/)
  })

  it('starts with the magic and version, and keeps the weights 4-byte aligned', () => {
    const { bytes } = encodeModelArtifact({ spec, params: info, weights })
    expect(new TextDecoder().decode(bytes.subarray(0, 7))).toBe('WEFTMDL')
    expect(new DataView(bytes.buffer).getUint32(8, true)).toBe(1)
    expect((bytes.length - 4 * n) % 4).toBe(0)
  })

  const good = encodeModelArtifact({ spec, params: info, weights }).bytes

  it('rejects bad magic', () => {
    const b = good.slice()
    b[0] = 0
    expect(() => decodeModelArtifact(b)).toThrow(expect.objectContaining({ name: 'ArtifactMagicError', message: expect.stringContaining('magic') }))
  })

  it('rejects an unknown version', () => {
    const b = good.slice()
    new DataView(b.buffer).setUint32(8, 9, true)
    expect(() => decodeModelArtifact(b)).toThrow(expect.objectContaining({ name: 'ArtifactVersionError', message: expect.stringContaining('9') }))
  })

  it('rejects truncated or over-long bytes, naming the sizes', () => {
    expect(() => decodeModelArtifact(good.subarray(0, 10))).toThrow(expect.objectContaining({ name: 'ArtifactTruncatedError' }))
    expect(() => decodeModelArtifact(good.subarray(0, 40))).toThrow(expect.objectContaining({ name: 'ArtifactTruncatedError', message: expect.stringContaining('header ends') }))
    expect(() => decodeModelArtifact(good.subarray(0, good.length - 4))).toThrow(/need exactly/)
    const longer = new Uint8Array(good.length + 4)
    longer.set(good)
    expect(() => decodeModelArtifact(longer)).toThrow(expect.objectContaining({ name: 'ArtifactTruncatedError' }))
  })

  it('rejects a header whose shapes do not match the spec, naming the parameter', () => {
    const wrong = info.map((p, i) => (i === 2 ? { name: p.name, shape: [3, 2] } : p))
    expect(() => encodeModelArtifact({ spec, params: wrong, weights })).toThrow(
      expect.objectContaining({ name: 'ArtifactShapeError', message: expect.stringContaining('fc2/kernel') }),
    )
    // Hand-edit a valid artifact's header: same length, different shape.
    const edited = good.slice()
    const at = Buffer.from(edited).indexOf('"shape":[2,2]')
    expect(at).toBeGreaterThan(0)
    edited.set(new TextEncoder().encode('"shape":[1,4]'), at)
    expect(() => decodeModelArtifact(edited)).toThrow(expect.objectContaining({ name: 'ArtifactShapeError', message: expect.stringContaining('[1,4]') }))
  })

  it('rejects a corrupt JSON header and NaN weights', () => {
    const b = good.slice()
    b[16] = 0x7b + 1
    expect(() => decodeModelArtifact(b)).toThrow(expect.objectContaining({ name: 'ArtifactHeaderError' }))
    const nan = good.slice()
    new DataView(nan.buffer).setFloat32(nan.length - 4, Number.NaN, true)
    expect(() => decodeModelArtifact(nan)).toThrow(expect.objectContaining({ name: 'NonFiniteParamError', message: expect.stringContaining('fc2/bias') }))
    const w = weights.slice()
    w[1] = Number.POSITIVE_INFINITY
    expect(() => encodeModelArtifact({ spec, params: info, weights: w })).toThrow(/fc1\/kernel/)
    expect(() => encodeModelArtifact({ spec, params: info, weights: new Float32Array(3) })).toThrow(RangeError)
  })
})
