// Mesh membership: an authority's Ed25519 key signs certificates (a peer id, its roles, an expiry) and revocations;
// a `Membership` registry verifies them and answers which roles a peer holds now. Browser-safe, no I/O.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { ed25519 } from '@noble/curves/ed25519.js'
import {
  MAX_SIGNED_CERTIFICATE_BYTES,
  MAX_SIGNED_REVOCATION_BYTES,
  type MemberCertificate,
  MemberCertificateSchema,
  type Revocation,
  RevocationSchema,
  SignedCertificateSchema,
  SignedRevocationSchema,
} from '@weft/protocol'

/** What a peer may do. `admin` holds a submitter's rights (submit jobs, read their status) besides its own. */
export const ROLES = Object.freeze(['client', 'coordinator', 'submitter', 'admin'] as const)
export type Role = (typeof ROLES)[number]

/** Domain separation: a certificate's signature can never be taken for a revocation's or an ad's. */
const CERTIFICATE_PREFIX = new TextEncoder().encode('weft-member-cert/v1')
const REVOCATION_PREFIX = new TextEncoder().encode('weft-revocation/v1')
/** How an authority's public key is written: `ed25519:` and the 32 raw bytes in unpadded base64url. */
const KEY_TEXT_PREFIX = 'ed25519:'
const MAX_ROLES = 8
const MAX_SERIAL = 64
const MAX_PEER_ID = 128
/** Longest revocation reason kept. */
export const MAX_REVOCATION_REASON = 256
/** Certificates issued more than this far in the future are refused (clock skew). */
export const MAX_CERTIFICATE_SKEW_MS = 60_000

const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value)

function prefixed(prefix: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + body.length)
  out.set(prefix, 0)
  out.set(body, prefix.length)
  return out
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url')
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

function assertBytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`)
  if (length !== undefined && value.length !== length) throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`)
}

function assertTime(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer (ms since the epoch), got ${String(value)}`)
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** A new authority secret key (32 random bytes). */
export function generateAuthorityKey(): Uint8Array {
  return ed25519.utils.randomSecretKey()
}

/** The public key of an authority secret key. @throws TypeError, RangeError when `secretKey` is not 32 bytes */
export function authorityPublicKey(secretKey: Uint8Array): Uint8Array {
  assertBytes('secretKey', secretKey, 32)
  return ed25519.getPublicKey(secretKey)
}

/** An authority public key as text: `ed25519:<base64url>`. @throws TypeError, RangeError when not 32 bytes */
export function formatAuthorityKey(publicKey: Uint8Array): string {
  assertBytes('publicKey', publicKey, 32)
  return KEY_TEXT_PREFIX + base64url(publicKey)
}

/**
 * Parses an authority public key written by `formatAuthorityKey`.
 * @throws TypeError when `text` is not a string in that form; RangeError when it does not hold 32 bytes
 */
export function parseAuthorityKey(text: string): Uint8Array {
  if (typeof text !== 'string' || !text.startsWith(KEY_TEXT_PREFIX)) throw new TypeError(`authority key must be "${KEY_TEXT_PREFIX}<base64url of 32 bytes>", got ${JSON.stringify(String(text).slice(0, 80))}`)
  let bytes: Uint8Array
  try {
    bytes = fromBase64url(text.slice(KEY_TEXT_PREFIX.length))
  } catch {
    throw new TypeError(`authority key must be "${KEY_TEXT_PREFIX}<base64url of 32 bytes>"`)
  }
  if (bytes.length !== 32) throw new RangeError(`authority key must hold 32 bytes, got ${bytes.length}`)
  return bytes
}

/** A verified certificate. */
export interface Certificate {
  readonly authority: Uint8Array
  readonly peerId: string
  readonly roles: readonly Role[]
  readonly serial: string
  readonly issuedAtMs: number
  readonly expiresAtMs: number
  /** The encoded SignedCertificate, as presented. */
  readonly signed: Uint8Array
}

export interface IssueCertificateInit {
  /** The authority's 32-byte secret key. */
  readonly authorityKey: Uint8Array
  readonly peerId: string
  readonly roles: readonly Role[]
  readonly issuedAtMs: number
  readonly expiresAtMs: number
  /** Default: 16 random bytes as hex. */
  readonly serial?: string
}

/**
 * Issues a certificate: `peerId` holds `roles` from `issuedAtMs` until `expiresAtMs`.
 * @returns the encoded SignedCertificate
 * @throws TypeError, RangeError naming the argument that is wrong
 */
export function issueCertificate(init: IssueCertificateInit): Uint8Array {
  assertBytes('authorityKey', init.authorityKey, 32)
  if (typeof init.peerId !== 'string' || init.peerId.length === 0 || init.peerId.length > MAX_PEER_ID) throw new RangeError(`peerId must be 1..${MAX_PEER_ID} characters`)
  if (!Array.isArray(init.roles) || init.roles.length === 0) throw new RangeError('roles must name at least one role')
  for (const role of init.roles) if (!isRole(role)) throw new RangeError(`roles: unknown role ${JSON.stringify(role)}; expected one of ${ROLES.join(', ')}`)
  assertTime('issuedAtMs', init.issuedAtMs)
  assertTime('expiresAtMs', init.expiresAtMs)
  if (init.expiresAtMs <= init.issuedAtMs) throw new RangeError('expiresAtMs must be after issuedAtMs')
  const serial = init.serial ?? randomSerial()
  if (serial.length === 0 || serial.length > MAX_SERIAL) throw new RangeError(`serial must be 1..${MAX_SERIAL} characters`)
  const certificate = toBinary(
    MemberCertificateSchema,
    create(MemberCertificateSchema, {
      authority: authorityPublicKey(init.authorityKey),
      peerId: init.peerId,
      roles: [...new Set(init.roles)],
      serial,
      issuedAtMs: BigInt(init.issuedAtMs),
      expiresAtMs: BigInt(init.expiresAtMs),
    }),
  )
  const signature = ed25519.sign(prefixed(CERTIFICATE_PREFIX, certificate), init.authorityKey)
  return toBinary(SignedCertificateSchema, create(SignedCertificateSchema, { certificate, signature }))
}

/** Why a certificate was refused. */
export type CertificateRejection =
  | 'too-large'
  | 'malformed'
  | 'wrong-authority'
  | 'bad-signature'
  | 'wrong-peer'
  | 'expired'
  | 'not-yet-valid'
  | 'revoked'

export type CertificateVerdict = { readonly ok: true; readonly certificate: Certificate } | { readonly ok: false; readonly reason: CertificateRejection; readonly detail: string }

/**
 * Verifies an encoded SignedCertificate against an authority: size, decoding, authority, signature, subject and time.
 * Revocations are the registry's (`Membership`).
 * @param bytes - the encoded SignedCertificate as received
 * @param authority - the authority's 32-byte public key
 * @param now - ms since the epoch
 * @param peerId - when known, the peer that presented it; must be the certificate's subject
 */
export function verifyCertificate(bytes: Uint8Array, authority: Uint8Array, now: number, peerId?: string): CertificateVerdict {
  assertBytes('bytes', bytes)
  assertBytes('authority', authority, 32)
  if (bytes.length > MAX_SIGNED_CERTIFICATE_BYTES) return { ok: false, reason: 'too-large', detail: `${bytes.length} bytes > ${MAX_SIGNED_CERTIFICATE_BYTES}` }
  let cert: MemberCertificate
  let signature: Uint8Array
  let body: Uint8Array
  try {
    const signed = fromBinary(SignedCertificateSchema, bytes)
    // Only the canonical encoding: one certificate has one byte string (stored, compared, relayed as it is).
    if (!bytesEqual(toBinary(SignedCertificateSchema, signed), bytes)) throw new Error('not the canonical encoding')
    body = signed.certificate
    signature = signed.signature
    cert = fromBinary(MemberCertificateSchema, body)
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message }
  }
  if (cert.peerId.length === 0 || cert.peerId.length > MAX_PEER_ID) return { ok: false, reason: 'malformed', detail: 'peer id missing or too long' }
  if (cert.serial.length === 0 || cert.serial.length > MAX_SERIAL) return { ok: false, reason: 'malformed', detail: 'serial missing or too long' }
  if (cert.roles.length === 0 || cert.roles.length > MAX_ROLES) return { ok: false, reason: 'malformed', detail: `${cert.roles.length} roles (1..${MAX_ROLES})` }
  if (!bytesEqual(cert.authority, authority)) return { ok: false, reason: 'wrong-authority', detail: 'issued by another authority' }
  let valid = false
  try {
    valid = signature.length === 64 && ed25519.verify(signature, prefixed(CERTIFICATE_PREFIX, body), authority)
  } catch {
    valid = false
  }
  if (!valid) return { ok: false, reason: 'bad-signature', detail: 'signature does not match the authority' }
  if (peerId !== undefined && peerId !== cert.peerId) return { ok: false, reason: 'wrong-peer', detail: `certificate of ${cert.peerId} presented by ${peerId}` }
  const issuedAtMs = Number(cert.issuedAtMs)
  const expiresAtMs = Number(cert.expiresAtMs)
  if (!Number.isSafeInteger(issuedAtMs) || !Number.isSafeInteger(expiresAtMs)) return { ok: false, reason: 'malformed', detail: 'times out of range' }
  if (expiresAtMs <= now) return { ok: false, reason: 'expired', detail: `expired ${now - expiresAtMs} ms ago` }
  if (issuedAtMs > now + MAX_CERTIFICATE_SKEW_MS) return { ok: false, reason: 'not-yet-valid', detail: `issued ${issuedAtMs - now} ms ahead` }
  // Unknown role names (a newer authority's) grant nothing here.
  const roles = [...new Set(cert.roles.filter(isRole))]
  return { ok: true, certificate: { authority: cert.authority, peerId: cert.peerId, roles, serial: cert.serial, issuedAtMs, expiresAtMs, signed: bytes } }
}

/** What a revocation withdraws: one certificate, or every certificate of a peer issued up to the revocation. */
export type RevocationTarget = { readonly serial: string } | { readonly peerId: string }

/** A verified revocation. */
export interface VerifiedRevocation {
  readonly authority: Uint8Array
  readonly target: RevocationTarget
  readonly revokedAtMs: number
  readonly reason: string
  /** The encoded SignedRevocation, as received: what is stored and relayed. */
  readonly signed: Uint8Array
}

export interface SignRevocationInit {
  readonly authorityKey: Uint8Array
  readonly target: RevocationTarget
  readonly revokedAtMs: number
  readonly reason?: string
}

/**
 * Signs a revocation. @returns the encoded SignedRevocation
 * @throws TypeError, RangeError naming the argument that is wrong
 */
export function signRevocation(init: SignRevocationInit): Uint8Array {
  assertBytes('authorityKey', init.authorityKey, 32)
  assertTime('revokedAtMs', init.revokedAtMs)
  const reason = init.reason ?? ''
  if (typeof reason !== 'string' || reason.length > MAX_REVOCATION_REASON) throw new RangeError(`reason must be at most ${MAX_REVOCATION_REASON} characters`)
  const target = init.target
  let oneof: Revocation['target']
  if (typeof target === 'object' && target !== null && 'serial' in target && typeof target.serial === 'string' && target.serial.length > 0 && target.serial.length <= MAX_SERIAL) {
    oneof = { case: 'serial', value: target.serial }
  } else if (typeof target === 'object' && target !== null && 'peerId' in target && typeof target.peerId === 'string' && target.peerId.length > 0 && target.peerId.length <= MAX_PEER_ID) {
    oneof = { case: 'peerId', value: target.peerId }
  } else {
    throw new TypeError('target must be { serial } or { peerId } with a non-empty string')
  }
  const revocation = toBinary(
    RevocationSchema,
    create(RevocationSchema, { authority: authorityPublicKey(init.authorityKey), target: oneof, revokedAtMs: BigInt(init.revokedAtMs), reason }),
  )
  const signature = ed25519.sign(prefixed(REVOCATION_PREFIX, revocation), init.authorityKey)
  return toBinary(SignedRevocationSchema, create(SignedRevocationSchema, { revocation, signature }))
}

export type RevocationRejection = 'too-large' | 'malformed' | 'wrong-authority' | 'bad-signature'
export type RevocationVerdict = { readonly ok: true; readonly revocation: VerifiedRevocation } | { readonly ok: false; readonly reason: RevocationRejection; readonly detail: string }

/**
 * Verifies an encoded SignedRevocation against an authority.
 * @param bytes - the encoded SignedRevocation as received
 * @param authority - the authority's 32-byte public key
 */
export function verifyRevocation(bytes: Uint8Array, authority: Uint8Array): RevocationVerdict {
  assertBytes('bytes', bytes)
  assertBytes('authority', authority, 32)
  if (bytes.length > MAX_SIGNED_REVOCATION_BYTES) return { ok: false, reason: 'too-large', detail: `${bytes.length} bytes > ${MAX_SIGNED_REVOCATION_BYTES}` }
  let body: Uint8Array
  let signature: Uint8Array
  let rev: Revocation
  try {
    const signed = fromBinary(SignedRevocationSchema, bytes)
    if (!bytesEqual(toBinary(SignedRevocationSchema, signed), bytes)) throw new Error('not the canonical encoding')
    body = signed.revocation
    signature = signed.signature
    rev = fromBinary(RevocationSchema, body)
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message }
  }
  if (!bytesEqual(rev.authority, authority)) return { ok: false, reason: 'wrong-authority', detail: 'signed by another authority' }
  let valid = false
  try {
    valid = signature.length === 64 && ed25519.verify(signature, prefixed(REVOCATION_PREFIX, body), authority)
  } catch {
    valid = false
  }
  if (!valid) return { ok: false, reason: 'bad-signature', detail: 'signature does not match the authority' }
  let target: RevocationTarget
  if (rev.target.case === 'serial' && rev.target.value.length > 0 && rev.target.value.length <= MAX_SERIAL) target = { serial: rev.target.value }
  else if (rev.target.case === 'peerId' && rev.target.value.length > 0 && rev.target.value.length <= MAX_PEER_ID) target = { peerId: rev.target.value }
  else return { ok: false, reason: 'malformed', detail: 'names neither a serial nor a peer id' }
  const revokedAtMs = Number(rev.revokedAtMs)
  if (!Number.isSafeInteger(revokedAtMs)) return { ok: false, reason: 'malformed', detail: 'revocation time out of range' }
  return { ok: true, revocation: { authority: rev.authority, target, revokedAtMs, reason: rev.reason.slice(0, MAX_REVOCATION_REASON), signed: bytes } }
}

/** A caller's refusal for a role, or undefined when it holds it. Every protocol handler asks one of these. */
export type Authorize = (peer: string, role: Role) => string | undefined

/** Operator-set allow-lists (peer ids, '*' for anyone): roles granted whatever the certificates say. */
export interface AllowLists {
  /** Peers held to be coordinators (a node's `fl.coordinators`). */
  readonly coordinators: readonly string[]
  /** Peers held to be submitters (a node's `fl.submitters`). */
  readonly submitters: readonly string[]
}

const listed = (list: readonly string[], peer: string): boolean => list.includes('*') || list.includes(peer)

/** Roles granted by allow-lists alone. */
export function allowListedRoles(lists: AllowLists, peer: string): Set<Role> {
  const roles = new Set<Role>()
  if (listed(lists.coordinators, peer)) roles.add('coordinator')
  if (listed(lists.submitters, peer)) roles.add('submitter')
  return roles
}

/** Whether a set of roles satisfies `role` (`admin` satisfies `submitter`). */
export function grants(roles: ReadonlySet<Role>, role: Role): boolean {
  return roles.has(role) || (role === 'submitter' && roles.has('admin'))
}

const LIST_OF: Record<Role, string> = {
  client: 'a client certificate',
  coordinator: 'fl.coordinators',
  submitter: 'fl.submitters',
  admin: 'an admin certificate',
}

/**
 * The role check of a node without an authority (today's rules): coordinators and submitters are the allow-listed
 * peers, and any peer may be a client.
 */
export function allowListAuthorize(lists: AllowLists): Authorize {
  return (peer, role) => {
    if (role === 'client') return undefined
    if (grants(allowListedRoles(lists, peer), role)) return undefined
    return role === 'coordinator' ? `coordinator ${peer} is not in fl.coordinators` : `${peer} is not in ${LIST_OF[role]}`
  }
}

export interface MembershipInit {
  /** The authority's 32-byte public key. */
  readonly authority: Uint8Array
  /** Most peers whose certificates are kept (default 10 000); past it the soonest to expire is dropped. */
  readonly maxCertificates?: number
  /** Most revocations kept (default 100 000); past it new ones are refused. */
  readonly maxRevocations?: number
}

export interface MembershipComponents {
  readonly now: () => number
}

export type AddRevocationResult = { readonly ok: true; readonly revocation: VerifiedRevocation; readonly isNew: boolean } | { readonly ok: false; readonly reason: RevocationRejection | 'full'; readonly detail: string }

/** A mesh's members as one node knows them: verified certificates by peer id, and the authority's revocations. */
export interface Membership {
  readonly authority: Uint8Array
  /** Verifies and keeps a certificate presented by `peer` (when known); refuses a revoked one. */
  addCertificate(bytes: Uint8Array, peer?: string): CertificateVerdict
  /** Verifies and keeps a revocation; `isNew` is false for one already held. */
  addRevocation(bytes: Uint8Array): AddRevocationResult
  /** Whether a certificate has been revoked. */
  isRevoked(certificate: Pick<Certificate, 'peerId' | 'serial' | 'issuedAtMs'>): boolean
  /** The roles of `peer`'s valid (unexpired, unrevoked) certificate; empty without one. */
  rolesOf(peer: string): ReadonlySet<Role>
  /** `peer`'s valid certificate, if one is held. */
  certificateOf(peer: string): Certificate | undefined
  /** Every revocation held, in the order received. */
  revocations(): readonly VerifiedRevocation[]
}

const NO_ROLES: ReadonlySet<Role> = Object.freeze(new Set<Role>())

class DefaultMembership implements Membership {
  readonly authority: Uint8Array
  readonly #now: () => number
  readonly #maxCertificates: number
  readonly #maxRevocations: number
  readonly #certificates = new Map<string, Certificate>()
  readonly #revoked = new Map<string, VerifiedRevocation>()
  readonly #revokedSerials = new Set<string>()
  /** Per peer, the latest revocation time: its certificates issued up to then are void. */
  readonly #revokedPeers = new Map<string, number>()

  constructor(init: MembershipInit, components: MembershipComponents) {
    assertBytes('init.authority', init.authority, 32)
    if (typeof components?.now !== 'function') throw new TypeError('components.now must be a function')
    this.authority = init.authority
    this.#now = components.now
    this.#maxCertificates = init.maxCertificates ?? 10_000
    this.#maxRevocations = init.maxRevocations ?? 100_000
    if (!Number.isSafeInteger(this.#maxCertificates) || this.#maxCertificates < 1) throw new RangeError('init.maxCertificates must be a positive integer')
    if (!Number.isSafeInteger(this.#maxRevocations) || this.#maxRevocations < 1) throw new RangeError('init.maxRevocations must be a positive integer')
  }

  addCertificate(bytes: Uint8Array, peer?: string): CertificateVerdict {
    // A peer presents the same certificate in every ad: one held already, still valid, is not verified again.
    const known = peer === undefined ? undefined : this.#certificates.get(peer)
    if (known !== undefined && bytesEqual(known.signed, bytes) && known.expiresAtMs > this.#now() && !this.isRevoked(known)) return { ok: true, certificate: known }
    const verdict = verifyCertificate(bytes, this.authority, this.#now(), peer)
    if (!verdict.ok) return verdict
    const cert = verdict.certificate
    if (this.isRevoked(cert)) return { ok: false, reason: 'revoked', detail: `certificate ${cert.serial} of ${cert.peerId} is revoked` }
    const held = this.#certificates.get(cert.peerId)
    // The newest certificate of a peer is the one that counts (a renewal, or a changed set of roles).
    if (held !== undefined && held.issuedAtMs > cert.issuedAtMs && !this.isRevoked(held) && held.expiresAtMs > this.#now()) return { ok: true, certificate: held }
    if (held === undefined && this.#certificates.size >= this.#maxCertificates) this.#evict()
    this.#certificates.set(cert.peerId, cert)
    return verdict
  }

  #evict(): void {
    let victim: Certificate | undefined
    for (const c of this.#certificates.values()) if (victim === undefined || c.expiresAtMs < victim.expiresAtMs) victim = c
    if (victim !== undefined) this.#certificates.delete(victim.peerId)
  }

  addRevocation(bytes: Uint8Array): AddRevocationResult {
    const verdict = verifyRevocation(bytes, this.authority)
    if (!verdict.ok) return verdict
    const rev = verdict.revocation
    const key = 'serial' in rev.target ? `s:${rev.target.serial}` : `p:${rev.target.peerId}@${rev.revokedAtMs}`
    if (this.#revoked.has(key)) return { ok: true, revocation: rev, isNew: false }
    if (this.#revoked.size >= this.#maxRevocations) return { ok: false, reason: 'full', detail: `${this.#revoked.size} revocations held` }
    this.#revoked.set(key, rev)
    if ('serial' in rev.target) this.#revokedSerials.add(rev.target.serial)
    else this.#revokedPeers.set(rev.target.peerId, Math.max(this.#revokedPeers.get(rev.target.peerId) ?? 0, rev.revokedAtMs))
    return { ok: true, revocation: rev, isNew: true }
  }

  isRevoked(certificate: Pick<Certificate, 'peerId' | 'serial' | 'issuedAtMs'>): boolean {
    if (this.#revokedSerials.has(certificate.serial)) return true
    const at = this.#revokedPeers.get(certificate.peerId)
    return at !== undefined && certificate.issuedAtMs <= at
  }

  certificateOf(peer: string): Certificate | undefined {
    const cert = this.#certificates.get(peer)
    if (cert === undefined) return undefined
    if (cert.expiresAtMs <= this.#now() || this.isRevoked(cert)) return undefined
    return cert
  }

  rolesOf(peer: string): ReadonlySet<Role> {
    const cert = this.certificateOf(peer)
    return cert === undefined ? NO_ROLES : new Set(cert.roles)
  }

  revocations(): readonly VerifiedRevocation[] {
    return [...this.#revoked.values()]
  }
}

/**
 * A membership registry for one authority.
 * @throws TypeError, RangeError naming a bad argument
 */
export function createMembership(init: MembershipInit, components: MembershipComponents): Membership {
  return new DefaultMembership(init, components)
}

/**
 * The role check of a node with an authority: a peer's roles are its valid certificate's, plus what the operator's
 * allow-lists grant it.
 */
export function membershipAuthorize(membership: Membership, lists: AllowLists): Authorize {
  return (peer, role) => {
    const roles = new Set([...membership.rolesOf(peer), ...allowListedRoles(lists, peer)])
    if (grants(roles, role)) return undefined
    const cert = membership.certificateOf(peer)
    if (cert === undefined) return `${peer} has no valid certificate of the mesh's authority (role ${role} needed)`
    return `${peer}'s certificate grants ${cert.roles.join(', ')}, not ${role}`
  }
}
