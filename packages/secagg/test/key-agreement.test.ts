// X25519: noble (the default) matches RFC 7748's test vector, and the tests' native implementation matches noble.
import { readFileSync } from 'node:fs'
import { nobleX25519, seededRandomBytesUnsafe } from '@weft/secagg'
import { hexToBytes } from '@noble/hashes/utils.js'
import { describe, expect, it } from 'vitest'
import { nativeX25519 } from './helpers.js'

interface X25519Vector {
  readonly aliceSecret: string
  readonly alicePublic: string
  readonly bobSecret: string
  readonly bobPublic: string
  readonly shared: string
}

const vector = JSON.parse(readFileSync(new URL('./vectors/x25519-rfc7748.json', import.meta.url), 'utf8')) as X25519Vector

describe('key agreement', () => {
  for (const [name, agreement] of [
    ['noble', nobleX25519],
    ['native (tests only)', nativeX25519],
  ] as const) {
    it(`${name} gives RFC 7748 section 6.1's keys and shared secret`, () => {
      expect(agreement.publicKey(hexToBytes(vector.aliceSecret))).toEqual(hexToBytes(vector.alicePublic))
      expect(agreement.publicKey(hexToBytes(vector.bobSecret))).toEqual(hexToBytes(vector.bobPublic))
      expect(agreement.sharedSecret(hexToBytes(vector.aliceSecret), hexToBytes(vector.bobPublic))).toEqual(
        hexToBytes(vector.shared),
      )
      expect(agreement.sharedSecret(hexToBytes(vector.bobSecret), hexToBytes(vector.alicePublic))).toEqual(
        hexToBytes(vector.shared),
      )
    })
  }

  it('native and noble agree on random keys', () => {
    const random = seededRandomBytesUnsafe(new Uint8Array(32).fill(3))
    for (let i = 0; i < 20; i++) {
      const secret = random(32)
      const peer = nobleX25519.publicKey(random(32))
      expect(nativeX25519.sharedSecret(secret, peer)).toEqual(nobleX25519.sharedSecret(secret, peer))
    }
  })
})
