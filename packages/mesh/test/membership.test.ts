// Membership's core: certificates and revocations signed by an authority, verified byte for byte, and the registry
// that answers which roles a peer holds now.
import {
  allowListAuthorize,
  authorityPublicKey,
  createMembership,
  formatAuthorityKey,
  generateAuthorityKey,
  issueCertificate,
  membershipAuthorize,
  parseAuthorityKey,
  signRevocation,
  verifyCertificate,
  verifyRevocation,
} from '@weft/mesh'
import { readFileSync } from 'node:fs'
import { fromBinary } from '@bufbuild/protobuf'
import { ed25519 } from '@noble/curves/ed25519.js'
import { SignedCertificateSchema, SignedRevocationSchema } from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const NOW = 1_800_000_000_000
const DAY = 86_400_000
const key = generateAuthorityKey()
const authority = authorityPublicKey(key)
const other = generateAuthorityKey()

const cert = (over: Partial<Parameters<typeof issueCertificate>[0]> = {}) =>
  issueCertificate({ authorityKey: key, peerId: 'peer-a', roles: ['client'], issuedAtMs: NOW - DAY, expiresAtMs: NOW + DAY, ...over })

describe('certificates', () => {
  it('verify against their authority, with their roles', () => {
    const v = verifyCertificate(cert({ roles: ['client', 'coordinator'] }), authority, NOW, 'peer-a')
    expect(v.ok).toBe(true)
    if (v.ok) {
      expect(v.certificate.roles).toEqual(['client', 'coordinator'])
      expect(v.certificate.peerId).toBe('peer-a')
    }
  })

  it('refuse one with any byte flipped (property)', () => {
    const signed = cert()
    fc.assert(
      fc.property(fc.nat(signed.length - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const bad = signed.slice()
        bad[index] = (bad[index] as number) ^ mask
        expect(verifyCertificate(bad, authority, NOW, 'peer-a').ok).toBe(false)
      }),
      { numRuns: 500 },
    )
  })

  it('refuse an expired one, one from the future, another authority, another peer', () => {
    expect(verifyCertificate(cert({ expiresAtMs: NOW }), authority, NOW)).toMatchObject({ ok: false, reason: 'expired' })
    expect(verifyCertificate(cert({ issuedAtMs: NOW + 3_600_000, expiresAtMs: NOW + DAY }), authority, NOW)).toMatchObject({ ok: false, reason: 'not-yet-valid' })
    const forged = issueCertificate({ authorityKey: other, peerId: 'peer-a', roles: ['admin'], issuedAtMs: NOW, expiresAtMs: NOW + DAY })
    expect(verifyCertificate(forged, authority, NOW)).toMatchObject({ ok: false, reason: 'wrong-authority' })
    expect(verifyCertificate(cert(), authority, NOW, 'peer-b')).toMatchObject({ ok: false, reason: 'wrong-peer' })
    expect(verifyCertificate(new Uint8Array(5_000), authority, NOW)).toMatchObject({ ok: false, reason: 'too-large' })
  })

  it('check their arguments, naming them', () => {
    expect(() => issueCertificate({ authorityKey: new Uint8Array(3), peerId: 'p', roles: ['client'], issuedAtMs: 0, expiresAtMs: 1 })).toThrow(/authorityKey/)
    expect(() => issueCertificate({ authorityKey: key, peerId: 'p', roles: ['root' as 'admin'], issuedAtMs: 0, expiresAtMs: 1 })).toThrow(RangeError)
    expect(() => issueCertificate({ authorityKey: key, peerId: 'p', roles: ['client'], issuedAtMs: 5, expiresAtMs: 5 })).toThrow(/expiresAtMs/)
    expect(() => verifyCertificate(cert(), new Uint8Array(31), NOW)).toThrow(/authority/)
  })
})

describe('known-answer vectors (vectors/membership.json)', () => {
  const v = JSON.parse(readFileSync(new URL('./vectors/membership.json', import.meta.url), 'utf8'))
  const secret = Uint8Array.from(Buffer.from(v.authoritySecretKey, 'hex'))
  const text = (s: string) => new TextEncoder().encode(s)
  const withPrefix = (prefix: string, body: Uint8Array) => new Uint8Array([...text(prefix), ...body])

  it('issue and sign exactly these bytes, which verify with Ed25519 alone over the domain-separated body', () => {
    expect(formatAuthorityKey(authorityPublicKey(secret))).toBe(v.authorityPublicKey)
    const { signed, ...cert } = v.certificate
    const issued = issueCertificate({ authorityKey: secret, ...cert })
    expect(Buffer.from(issued).toString('hex')).toBe(signed)
    const envelope = fromBinary(SignedCertificateSchema, issued)
    expect(ed25519.verify(envelope.signature, withPrefix('weft-member-cert/v1', envelope.certificate), authorityPublicKey(secret))).toBe(true)
    const { signed: revSigned, ...rev } = v.revocation
    const revoked = signRevocation({ authorityKey: secret, ...rev })
    expect(Buffer.from(revoked).toString('hex')).toBe(revSigned)
    const revEnvelope = fromBinary(SignedRevocationSchema, revoked)
    expect(ed25519.verify(revEnvelope.signature, withPrefix('weft-revocation/v1', revEnvelope.revocation), authorityPublicKey(secret))).toBe(true)
    expect(verifyCertificate(issued, parseAuthorityKey(v.authorityPublicKey), cert.issuedAtMs).ok).toBe(true)
  })
})

describe('authority keys as text', () => {
  it('round-trip and refuse other forms', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        expect(parseAuthorityKey(formatAuthorityKey(bytes))).toEqual(bytes)
      }),
    )
    expect(() => parseAuthorityKey('12D3KooWabc')).toThrow(TypeError)
    expect(() => parseAuthorityKey('ed25519:AAAA')).toThrow(RangeError)
  })
})

describe('revocations', () => {
  it('verify against their authority and refuse a forgery', () => {
    const rev = signRevocation({ authorityKey: key, target: { peerId: 'peer-a' }, revokedAtMs: NOW, reason: 'lost laptop' })
    expect(verifyRevocation(rev, authority)).toMatchObject({ ok: true, revocation: { target: { peerId: 'peer-a' }, reason: 'lost laptop' } })
    const forged = signRevocation({ authorityKey: other, target: { peerId: 'peer-a' }, revokedAtMs: NOW })
    expect(verifyRevocation(forged, authority)).toMatchObject({ ok: false, reason: 'wrong-authority' })
    fc.assert(
      fc.property(fc.nat(rev.length - 1), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const bad = rev.slice()
        bad[index] = (bad[index] as number) ^ mask
        const v = verifyRevocation(bad, authority)
        // A flip inside the reason's bytes may still decode; it never verifies.
        expect(v.ok).toBe(false)
      }),
      { numRuns: 300 },
    )
  })
})

describe('Membership', () => {
  it('gives a peer the roles of its valid certificate, and none once it expires', () => {
    let now = NOW
    const m = createMembership({ authority }, { now: () => now })
    expect(m.addCertificate(cert({ roles: ['coordinator'] }), 'peer-a').ok).toBe(true)
    expect([...m.rolesOf('peer-a')]).toEqual(['coordinator'])
    expect(m.rolesOf('peer-b').size).toBe(0)
    now = NOW + DAY
    expect(m.rolesOf('peer-a').size).toBe(0)
  })

  it('refuses a revoked certificate, by serial or by peer, and forgets the roles of one held', () => {
    const m = createMembership({ authority }, { now: () => NOW })
    const signed = cert({ serial: 'abc' })
    expect(m.addCertificate(signed).ok).toBe(true)
    expect(m.addRevocation(signRevocation({ authorityKey: key, target: { serial: 'abc' }, revokedAtMs: NOW })).ok).toBe(true)
    expect(m.rolesOf('peer-a').size).toBe(0)
    expect(m.addCertificate(signed)).toMatchObject({ ok: false, reason: 'revoked' })
    // A peer revoked at NOW may be admitted again by a certificate issued after.
    expect(m.addRevocation(signRevocation({ authorityKey: key, target: { peerId: 'peer-b' }, revokedAtMs: NOW })).ok).toBe(true)
    expect(m.addCertificate(cert({ peerId: 'peer-b' }))).toMatchObject({ ok: false, reason: 'revoked' })
    expect(m.addCertificate(cert({ peerId: 'peer-b', issuedAtMs: NOW + 1 })).ok).toBe(true)
    expect(m.revocations()).toHaveLength(2)
    // The same revocation twice is held once.
    const again = m.addRevocation(signRevocation({ authorityKey: key, target: { serial: 'abc' }, revokedAtMs: NOW }))
    expect(again).toMatchObject({ ok: true, isNew: false })
  })

  it('refuses a revocation of another authority', () => {
    const m = createMembership({ authority }, { now: () => NOW })
    expect(m.addRevocation(signRevocation({ authorityKey: other, target: { peerId: 'peer-a' }, revokedAtMs: NOW })).ok).toBe(false)
    expect(m.revocations()).toHaveLength(0)
  })

  it('is bounded: past maxCertificates the soonest to expire goes', () => {
    const m = createMembership({ authority, maxCertificates: 2 }, { now: () => NOW })
    m.addCertificate(cert({ peerId: 'a', expiresAtMs: NOW + 1000 }))
    m.addCertificate(cert({ peerId: 'b', expiresAtMs: NOW + 3000 }))
    m.addCertificate(cert({ peerId: 'c', expiresAtMs: NOW + 2000 }))
    expect(m.certificateOf('a')).toBeUndefined()
    expect(m.certificateOf('b')).toBeDefined()
    expect(m.certificateOf('c')).toBeDefined()
  })
})

describe('role checks', () => {
  it('without an authority: allow-lists name coordinators and submitters, anyone may be a client', () => {
    const authorize = allowListAuthorize({ coordinators: ['co'], submitters: ['*'] })
    expect(authorize('co', 'coordinator')).toBeUndefined()
    expect(authorize('x', 'coordinator')).toMatch(/fl\.coordinators/)
    expect(authorize('x', 'submitter')).toBeUndefined()
    expect(authorize('x', 'client')).toBeUndefined()
    expect(authorize('x', 'admin')).toBeDefined()
  })

  it('with an authority: certificate roles and allow-lists together; admin may submit', () => {
    const m = createMembership({ authority }, { now: () => NOW })
    m.addCertificate(cert({ peerId: 'cl', roles: ['client'] }))
    m.addCertificate(cert({ peerId: 'ad', roles: ['admin'] }))
    const authorize = membershipAuthorize(m, { coordinators: ['listed'], submitters: [] })
    expect(authorize('cl', 'client')).toBeUndefined()
    expect(authorize('cl', 'coordinator')).toMatch(/grants client, not coordinator/)
    expect(authorize('nobody', 'client')).toMatch(/no valid certificate/)
    expect(authorize('listed', 'coordinator')).toBeUndefined()
    expect(authorize('ad', 'submitter')).toBeUndefined()
  })
})
