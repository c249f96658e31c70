// Wire codec: decode(encode(m)) = m for every message of a real round; size limits and malformed bytes are refused.
import { readFileSync } from 'node:fs'
import { create, toBinary } from '@bufbuild/protobuf'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { SecAggMessageSchema } from '@weft/protocol'
import {
  MalformedMessageError,
  type MaskedInputMessage,
  SECAGG_WIRE_LIMITS,
  type SecAggMessage,
  attachMaskedVector,
  decodeSecAggMessage,
  encodeMaskedInputHeader,
  encodeSecAggMessage,
  planSecAgg,
} from '@weft/secagg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRound, indexOf, makeInputs, own } from './helpers.js'

/** Every message of one 5-client round with one dropout after the share exchange. */
function roundMessages(): SecAggMessage[] {
  const plan = planSecAgg({ clients: 5, dropoutRate: 0.2, corruptRate: 0, clip: 1 })
  const round = createRound(plan, 8)
  const inputs = makeInputs(5, 8, 1)
  const messages: SecAggMessage[] = []
  const log = <M extends SecAggMessage>(message: M): M => {
    messages.push(message)
    return message
  }
  for (const setup of round.server.setup()) round.server.receiveKeys(...own(log(round.clients[indexOf(log(setup).clientId)]!.advertiseKeys(setup))))
  for (const keys of round.server.closeKeyPhase()) round.server.receiveShares(...own(log(round.clients[indexOf(log(keys).recipient)]!.shareKeys(keys))))
  for (const routed of round.server.closeSharePhase()) {
    const i = indexOf(log(routed).recipient)
    round.clients[i]!.receiveShares(routed)
    if (i !== 4) round.server.receiveMaskedInput(...own(log(round.clients[i]!.maskInput(inputs[i]!))))
  }
  const requests = round.server.closeMaskedInputPhase()
  if (!requests.ok) throw requests.error
  for (const request of requests.value) round.server.receiveUnmask(...own(log(round.clients[indexOf(log(request).recipient)]!.unmask(request))))
  return messages
}

const wireVectors = JSON.parse(readFileSync(new URL('./vectors/wire.json', import.meta.url), 'utf8')) as {
  readonly advertiseKeys: { readonly message: { jobId: string; round: number; sender: string }; readonly hex: string }
}

describe('secagg wire codec', () => {
  it('round-trips every message type of a round', () => {
    const messages = roundMessages()
    expect(new Set(messages.map((m) => m.type)).size).toBe(8)
    for (const message of messages) expect(decodeSecAggMessage(encodeSecAggMessage(message))).toEqual(message)
  })

  it('round-trips arbitrary masked inputs and unmask responses', () => {
    const id = fc.string({ minLength: 1, maxLength: 40 })
    fc.assert(
      fc.property(id, fc.nat({ max: 0xffffffff }), fc.uint32Array({ minLength: 1, maxLength: 500 }), (sender, round, vector) => {
        const message: MaskedInputMessage = { type: 'masked-input', jobId: 'j', round, sender, modulusBits: 32, bits: 20, vector }
        expect(decodeSecAggMessage(encodeSecAggMessage(message))).toEqual(message)
      }),
    )
    fc.assert(
      fc.property(
        fc.array(fc.record({ owner: id, kind: fc.constantFrom('self-mask-seed' as const, 'mask-key' as const), share: fc.uint8Array({ minLength: 66, maxLength: 66 }) })),
        (shares) => {
          const message: SecAggMessage = { type: 'unmask-response', jobId: 'j', round: 3, sender: 's', shares }
          expect(decodeSecAggMessage(encodeSecAggMessage(message))).toEqual(message)
        },
      ),
    )
  })

  it('matches the known wire bytes of an advert', () => {
    const { message, hex } = wireVectors.advertiseKeys
    const bytes = encodeSecAggMessage({
      type: 'advertise-keys',
      ...message,
      channelPublicKey: new Uint8Array(32).fill(1),
      maskPublicKey: new Uint8Array(32).fill(2),
      signature: new Uint8Array(64).fill(3),
      selfMaskCommitment: new Uint8Array(32).fill(4),
    })
    expect(bytesToHex(bytes)).toBe(hex)
    expect(decodeSecAggMessage(hexToBytes(hex))).toMatchObject({ type: 'advertise-keys', ...message })
  })

  it('sends vectors over 4 MiB as a header plus a tensor', () => {
    const vector = new Uint32Array(SECAGG_WIRE_LIMITS.maxInlineVectorBytes / 4 + 1).fill(7)
    const message: MaskedInputMessage = { type: 'masked-input', jobId: 'j', round: 1, sender: 'a', modulusBits: 32, bits: 20, vector }
    expect(() => encodeSecAggMessage(message)).toThrow(/over the 4194304-byte inline limit/)
    const header = decodeSecAggMessage(encodeMaskedInputHeader(message))
    expect(header).toMatchObject({ type: 'masked-input-header', vectorLength: vector.length })
    if (header.type !== 'masked-input-header') throw new Error('expected a header')
    // Deep equality of a million words is slow in the matcher: compare the header fields and the vector by identity.
    const { vector: attached, ...rest } = attachMaskedVector(header, vector)
    const { vector: _sent, ...expected } = message
    expect(rest).toEqual(expected)
    expect(attached).toBe(vector)
    expect(() => attachMaskedVector(header, vector.subarray(1))).toThrow(/1048576 words, its header announced 1048577/)
  })

  it('refuses malformed or oversized messages, naming the field', () => {
    const wire = (body: Parameters<typeof create<typeof SecAggMessageSchema>>[1]) => toBinary(SecAggMessageSchema, create(SecAggMessageSchema, body))
    const refuses = (bytes: Uint8Array, pattern: RegExp) => {
      expect(() => decodeSecAggMessage(bytes)).toThrow(MalformedMessageError)
      expect(() => decodeSecAggMessage(bytes)).toThrow(pattern)
    }
    refuses(new Uint8Array([0xff, 0xff, 0xff]), /not a weft.secagg.v1.SecAggMessage/)
    refuses(new Uint8Array(SECAGG_WIRE_LIMITS.maxMessageBytes + 1), /over the 8388608-byte limit/)
    refuses(wire({}), /no body/)
    refuses(
      wire({ body: { case: 'advertiseKeys', value: { jobId: 'j', sender: 's', channelPublicKey: new Uint8Array(31), maskPublicKey: new Uint8Array(32) } } }),
      /advertiseKeys.channelPublicKey must be 32 bytes, got 31/,
    )
    refuses(
      wire({
        body: { case: 'neighbourKeys', value: { jobId: 'j', recipient: 'r', keys: Array.from({ length: 10_001 }, () => ({ id: 'x' })) } },
      }),
      /neighbourKeys.keys has 10001 entries, the limit is 10000/,
    )
    refuses(
      wire({
        body: { case: 'shareKeys', value: { jobId: 'j', sender: 's', bundles: [{ sender: 's', recipient: 'r', nonce: new Uint8Array(12), ciphertext: new Uint8Array(4097) }] } },
      }),
      /ciphertext has 4097 bytes, the limit is 4096/,
    )
    refuses(
      wire({ body: { case: 'maskedInput', value: { jobId: 'j', sender: 's', vectorLength: 3, vector: new Uint8Array(8) } } }),
      /vector has 8 bytes, vectorLength 3 needs 12/,
    )
    refuses(
      wire({ body: { case: 'unmaskResponse', value: { jobId: 'j', sender: 's', shares: [{ owner: 'o', share: new Uint8Array(66) }] } } }),
      /kind must be SELF_MASK_SEED or MASK_KEY, got 0/,
    )
    refuses(wire({ body: { case: 'unmaskRequest', value: { jobId: 'j', recipient: 'x'.repeat(257) } } }), /recipient must be 1 to 256 UTF-8 bytes, got 257/)
  })
})
