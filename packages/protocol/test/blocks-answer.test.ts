// The segmented `store/blocks` answer: its segments joined are exactly what the generated encoder writes, and each
// block's data goes out as the caller's own buffer (not a copy).

import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { BlocksResponseSchema, concat, encodeBlocksAnswer } from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const answer = fc.record({
  blocks: fc.array(fc.record({ cid: fc.string({ maxLength: 70 }), data: fc.uint8Array({ maxLength: 400 }) }), { maxLength: 6 }),
  missing: fc.array(fc.string({ maxLength: 70 }), { maxLength: 6 }),
  retryAfterMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })),
})

describe('encodeBlocksAnswer', () => {
  it('joins to the bytes toBinary writes, and decodes to the same answer', () => {
    fc.assert(
      fc.property(answer, (a) => {
        const expected = toBinary(BlocksResponseSchema, create(BlocksResponseSchema, a))
        const joined = concat(encodeBlocksAnswer(a))
        expect([...joined]).toEqual([...expected])
        const back = fromBinary(BlocksResponseSchema, joined)
        expect(back.blocks.map((b) => [b.cid, [...b.data]])).toEqual(a.blocks.map((b) => [b.cid, [...b.data]]))
        expect(back.missing).toEqual(a.missing)
        expect(back.retryAfterMs).toBe(a.retryAfterMs)
      }),
    )
  })

  it('sends a block of 1 MiB as the buffer it was given', () => {
    const data = new Uint8Array(2 ** 20).fill(7)
    const segments = encodeBlocksAnswer({ blocks: [{ cid: 'bafk-one', data }], missing: ['bafk-two'] })
    expect(segments).toHaveLength(3) // header, the data itself, the missing list
    expect(segments[1]).toBe(data)
    expect(fromBinary(BlocksResponseSchema, concat(segments)).blocks[0]?.data.byteLength).toBe(2 ** 20)
  })

  it('refuses a retry hint that is not a uint32', () => {
    expect(() => encodeBlocksAnswer({ blocks: [], missing: [], retryAfterMs: 2 ** 32 })).toThrow(RangeError)
    expect(() => encodeBlocksAnswer({ blocks: [], missing: [], retryAfterMs: 1.5 })).toThrow(RangeError)
  })
})
