// Length-prefixed framing: round trips, limits enforced before payloads are read, garbage rejected.

import { createFrameDecoder, decodeFrames, encodeFrame, FrameTooLargeError, MalformedFrameError } from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

describe('framing', () => {
  it('decode(encode(frames)) = frames, however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f)))
        expect(decodeFrames(bytes).map((f) => [...f])).toEqual(frames.map((f) => [...f]))
        const decoder = createFrameDecoder({ maxFrameBytes: 1000 })
        const out: Uint8Array[] = []
        let o = 0
        let i = 0
        while (o < bytes.byteLength) {
          const n = cuts[i++ % cuts.length] as number
          out.push(...decoder.push(bytes.subarray(o, o + n)))
          o += n
        }
        expect(decoder.atBoundary).toBe(true)
        expect(out.map((f) => [...f])).toEqual(frames.map((f) => [...f]))
      }),
    )
  })

  it('rejects a declared length above the limit before its payload arrives', () => {
    const frame = encodeFrame(new Uint8Array(2000))
    const decoder = createFrameDecoder({ maxFrameBytes: 1000 })
    expect(() => decoder.push(frame.subarray(0, 2))).toThrow(FrameTooLargeError)
    expect(() => encodeFrame(new Uint8Array(11), 10)).toThrow(FrameTooLargeError)
  })

  it('rejects an endless varint and a buffer that ends inside a frame', () => {
    expect(() => decodeFrames(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), { maxFrameBytes: 1 << 20 })).toThrow(MalformedFrameError)
    expect(() => decodeFrames(new Uint8Array([5, 1, 2]))).toThrow(MalformedFrameError)
  })

  it('matches known wire bytes', () => {
    expect([...encodeFrame(new Uint8Array([7]))]).toEqual([1, 7])
    expect([...encodeFrame(new Uint8Array(300)).subarray(0, 2)]).toEqual([0xac, 0x02])
  })
})
