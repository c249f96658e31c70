// Mesh membership as a component: the role check every protocol handler asks (allow-lists, or with an authority its
// certificates plus the allow-lists), this node's own certificate, peers' certificates learned from their ads and the
// `membership/certificate` RPC, and the authority's revocations: gossiped on `weft/revocations/1`, stored in SQLite.
import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  type AddRevocationResult,
  allowListAuthorize,
  type Authorize,
  type Certificate,
  type CertificateVerdict,
  createMembership,
  type Membership,
  membershipAuthorize,
  parseAuthorityKey,
  type VerifiedRevocation,
  verifyCertificate,
} from '@weft/mesh'
import { MAX_REVOCATIONS_PER_ANSWER, MEMBERSHIP_CERTIFICATE, MEMBERSHIP_REVOCATIONS, REVOCATIONS_TOPIC, SignedCertificateSchema, SignedRevocationSchema } from '@weft/protocol'
import type { NodeComponentFactory } from '../component.js'
import type { NodeConfig } from '../config.js'
import { ConfigError } from '../errors.js'

/** A revocation the node was given could not be taken. */
export type RevokeResult = AddRevocationResult | { readonly ok: false; readonly reason: 'no-authority'; readonly detail: string }

/** What the rest of the node asks of membership. */
export interface NodeMembership {
  /** `authority` when the node's config names a mesh authority, else `allow-lists`. */
  readonly mode: 'authority' | 'allow-lists'
  /** The role check: why `peer` may not act as `role`, or undefined when it may. */
  readonly authorize: Authorize
  /**
   * Why `peer` is not a member of this mesh, or undefined when it is: with an authority, a member holds a valid
   * certificate (any role); without one, every peer the network lets in is.
   */
  member(peer: string): string | undefined
  /** The authority's public key as configured (`ed25519:…`), when there is one. */
  readonly authorityKey: string | undefined
  /** This node's certificate (an encoded SignedCertificate), when its mesh has an authority and it holds one. */
  readonly certificate: Uint8Array | undefined
  /** This node's certificate, decoded, while it is valid. */
  ownCertificate(): Certificate | undefined
  /**
   * Checks the certificate a peer presents (in its ad, or answering `membership/certificate`) and keeps it when valid.
   * Without an authority every peer passes.
   */
  checkPeer(peer: string, certificate: Uint8Array): CertificateVerdict | { readonly ok: true }
  /** Verifies, stores and gossips a revocation (`POST /v1/mesh/revocations`); one held already is gossiped again. */
  revoke(signed: Uint8Array): Promise<RevokeResult>
  /** The revocations held. */
  revocations(): readonly VerifiedRevocation[]
}

const fromSigned = (bytes: Uint8Array) => fromBinary(SignedCertificateSchema, bytes)
const fromSignedRevocation = (bytes: Uint8Array) => fromBinary(SignedRevocationSchema, bytes)

const certificatePath = (config: NodeConfig, path: string): string => (isAbsolute(path) ? path : join(config.dataDir, path))

/** This node's own certificate: read, checked against the authority and this peer id, or undefined when there is none. */
function loadOwnCertificate(config: NodeConfig, authority: Uint8Array, peerId: string, now: number): Uint8Array | undefined {
  const path = certificatePath(config, config.authority?.certificate ?? 'member.cert')
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(readFileSync(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ConfigError(`cannot read this node's certificate ${path}: ${(err as Error).message}`, { cause: err })
  }
  const verdict = verifyCertificate(bytes, authority, now, peerId)
  if (!verdict.ok) throw new ConfigError(`this node's certificate ${path} is not valid (${verdict.reason}: ${verdict.detail}); ask the authority for a new one (weft mesh admit ${peerId})`)
  return bytes
}

export const membershipComponent: NodeComponentFactory = (ctx) => {
  let release: (() => Promise<void>) | undefined
  return {
    name: 'membership',
    dependsOn: ['state', 'mesh'],
    async start() {
      const { config, logger, now } = ctx
      const log = logger.child({ component: 'membership' })
      const mesh = ctx.get('mesh')
      const lists = { coordinators: config.fl.coordinators, submitters: config.fl.submitters }
      if (config.authority === undefined) {
        await mesh.rpc.handle(MEMBERSHIP_CERTIFICATE, () => ({}))
        await mesh.rpc.handle(MEMBERSHIP_REVOCATIONS, () => ({}))
        ctx.provide('membership', {
          mode: 'allow-lists',
          authorize: allowListAuthorize(lists),
          member: () => undefined,
          authorityKey: undefined,
          certificate: undefined,
          ownCertificate: () => undefined,
          checkPeer: () => ({ ok: true }),
          revoke: async () => ({ ok: false, reason: 'no-authority', detail: 'this node has no mesh authority (config authority.publicKey)' }),
          revocations: () => [],
        })
        release = async () => {
          for (const m of [MEMBERSHIP_CERTIFICATE, MEMBERSHIP_REVOCATIONS]) await mesh.rpc.unhandle(m).catch(() => {})
        }
        return
      }
      const state = ctx.get('state')
      const authority = parseAuthorityKey(config.authority.publicKey)
      const membership: Membership = createMembership({ authority }, { now })
      for (const signed of state.listRevocations()) membership.addRevocation(signed)
      const certificate = loadOwnCertificate(config, authority, mesh.peerId, now())
      if (certificate === undefined) {
        log.warn({ path: certificatePath(config, config.authority.certificate) }, 'this node has no certificate of the mesh authority: its peers will ignore it (weft mesh admit <peer id>)')
      } else {
        membership.addCertificate(certificate, mesh.peerId)
      }

      /** Takes a verified revocation: stored once, and logged when new. */
      const take = (signed: Uint8Array): AddRevocationResult => {
        const result = membership.addRevocation(signed)
        if (result.ok && result.isNew) {
          state.addRevocation(signed, now())
          log.warn({ target: result.revocation.target, reason: result.revocation.reason }, 'a certificate was revoked by the mesh authority')
        }
        return result
      }
      const topic = mesh.pubsub.topic(REVOCATIONS_TOPIC, SignedRevocationSchema, {
        maxBytes: 4096,
        // Only revocations the authority signed are delivered or relayed, whoever relays them.
        validate: (message) => {
          const result = take(toBinary(SignedRevocationSchema, message))
          if (result.ok) return { ok: true }
          return { ok: false, reason: `revocation ${result.reason}: ${result.detail}`, penalize: result.reason !== 'full' }
        },
      })
      const unsubscribe = topic.subscribe(() => {})

      await mesh.rpc.handle(MEMBERSHIP_CERTIFICATE, () => (certificate === undefined ? {} : { certificate: fromSigned(certificate) }))
      await mesh.rpc.handle(MEMBERSHIP_REVOCATIONS, () => ({ revocations: membership.revocations().slice(-MAX_REVOCATIONS_PER_ANSWER).map((r) => r.signed) }))
      // A peer's certificate is asked for on first contact, so its role is known before its first ad arrives; and its
      // revocations, since gossip does not replay those published while this node was away.
      const onConnect = (evt: CustomEvent<string>): void => {
        const peer = evt.detail
        void mesh.rpc
          .call(peer, MEMBERSHIP_REVOCATIONS, {}, { timeoutMs: 10_000 })
          .then((r) => {
            let refused = 0
            for (const signed of r.revocations.slice(0, MAX_REVOCATIONS_PER_ANSWER)) if (!take(signed).ok) refused++
            if (refused > 0) log.info({ peer, refused }, 'a peer sent revocations that do not verify')
          })
          .catch((err: Error) => log.debug({ peer, err: err.message }, 'could not fetch the revocations of a new peer'))
        if (membership.certificateOf(peer) !== undefined) return
        void mesh.rpc
          .call(peer, MEMBERSHIP_CERTIFICATE, {}, { timeoutMs: 5_000 })
          .then((r) => {
            if (r.certificate === undefined) return
            const verdict = membership.addCertificate(toBinary(SignedCertificateSchema, r.certificate), peer)
            if (!verdict.ok) log.info({ peer, reason: verdict.reason, detail: verdict.detail }, 'a peer presented a certificate that is not valid')
          })
          .catch((err: Error) => log.debug({ peer, err: err.message }, 'could not fetch the certificate of a new peer'))
      }
      mesh.addEventListener('peer:connect', onConnect)

      ctx.provide('membership', {
        mode: 'authority',
        authorize: membershipAuthorize(membership, lists),
        member: (peer) => (membership.certificateOf(peer) === undefined ? `${peer} has no valid certificate of the mesh's authority` : undefined),
        authorityKey: config.authority.publicKey,
        certificate,
        ownCertificate: () => membership.certificateOf(mesh.peerId),
        checkPeer: (peer, bytes) => {
          if (bytes.length === 0) return { ok: false, reason: 'malformed', detail: 'no certificate' }
          return membership.addCertificate(bytes, peer)
        },
        async revoke(signed) {
          const result = take(signed)
          if (!result.ok) return result
          try {
            const { recipients } = await topic.publish(fromSignedRevocation(signed))
            log.info({ recipients, target: result.revocation.target }, 'gossiped a revocation')
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'could not gossip a revocation (kept here; post it again to gossip it)')
          }
          return result
        },
        revocations: () => membership.revocations(),
      })
      release = async () => {
        mesh.removeEventListener('peer:connect', onConnect)
        unsubscribe()
        for (const m of [MEMBERSHIP_CERTIFICATE, MEMBERSHIP_REVOCATIONS]) await mesh.rpc.unhandle(m).catch(() => {})
      }
    },
    async stop() {
      ctx.withdraw('membership')
      await release?.()
    },
  }
}
