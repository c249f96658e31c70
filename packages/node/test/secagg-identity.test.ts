// A node's secure-aggregation identity (issue 15, finding 5): its round keys are signed with the Ed25519 key its peer
// id is derived from, and a neighbour checks them against nothing but that peer id.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { advertisedKeysMessage } from '@weft/secagg'
import { describe, expect, it } from 'vitest'
import { peerIdSecAggIdentity } from '@weft/fl-mesh'

describe('peerIdSecAggIdentity', () => {
  it('issue 15, finding 5: a signature verifies against the signer’s peer id only, and a secp256k1 node key is refused', async () => {
    const [keyA, keyB] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const a = peerIdSecAggIdentity(keyA)
    const b = peerIdSecAggIdentity(keyB)
    const idA = peerIdFromPrivateKey(keyA).toString()
    const idB = peerIdFromPrivateKey(keyB).toString()
    const signed = advertisedKeysMessage({ jobId: 'job', round: 3 }, idA, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2))
    const signature = a.sign(signed)
    expect(b.verify(idA, signed, signature)).toBe(true)
    expect(b.verify(idB, signed, signature)).toBe(false)
    const altered = signed.slice()
    altered[altered.length - 1]! ^= 1
    expect(b.verify(idA, altered, signature)).toBe(false)
    expect(b.verify('not-a-peer-id', signed, signature)).toBe(false)
    expect(() => peerIdSecAggIdentity(keyA).sign(signed)).not.toThrow()
    const secp = await generateKeyPair('secp256k1')
    expect(() => peerIdSecAggIdentity(secp)).toThrow(/Ed25519 node key, this node's is secp256k1/)
  })
})
