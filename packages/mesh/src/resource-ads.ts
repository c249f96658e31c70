// Signed resource ads: built by each peer (a node from what it measured, a browser tab from what it offers), signed by
// its key, verified on receipt. Browser-safe.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  GetAdRequestSchema,
  type ResourceAd,
  ResourceAdSchema,
  type SignedResourceAd,
  SignedResourceAdSchema,
} from '@weft/protocol'
import { rpcMethod } from './rpc.js'

/** Gossipsub topic of resource ads. */
export const ADS_TOPIC = 'weft/ads/1'
/** RPC `node/ad`: fetch a peer's current signed ad directly. */
export const GET_AD = rpcMethod('node', 'ad', GetAdRequestSchema, SignedResourceAdSchema)
/**
 * Whether `node/ad` should answer with a newly signed ad rather than the last one: when the last was signed before the
 * caller's newest connection opened (or never). A peer asking as it reconnects holds the ad published before the drop,
 * and refuses that one as stale; a caller asking again on the same connection gets the same ad (one signature per
 * connection, not per request).
 */
export function adNeedsSigning(lastSignedAtMs: number | undefined, callerConnectionsOpenedAtMs: readonly number[]): boolean {
  return lastSignedAtMs === undefined || callerConnectionsOpenedAtMs.some((opened) => opened >= lastSignedAtMs)
}

/** Domain separation: a signature over an ad can never be replayed as a signature over anything else. */
const AD_SIGNING_PREFIX = new TextEncoder().encode('weft-resource-ad/v1')
/** An encoded signed ad larger than this is dropped without decoding further. */
export const MAX_SIGNED_AD_BYTES = 64 * 1024
/** Ads issued further than this in the future (clock skew) are refused. */
export const MAX_CLOCK_SKEW_MS = 60_000
/**
 * Longest an ad may stay valid from now (ads.ttlMs is at most this). An ad is a claim that its peer is alive: an
 * attacker choosing its own lifetime could fill a peer table with identities that never expire.
 */
export const MAX_AD_LIFETIME_MS = 10 * 60_000

function signingBytes(adBytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(AD_SIGNING_PREFIX.length + adBytes.length)
  out.set(AD_SIGNING_PREFIX, 0)
  out.set(adBytes, AD_SIGNING_PREFIX.length)
  return out
}

/** Signs an ad with the node's key; the ad's peer id must be that key's. */
export async function signAd(ad: ResourceAd, key: PrivateKey): Promise<Uint8Array> {
  const adBytes = toBinary(ResourceAdSchema, ad)
  const signature = await key.sign(signingBytes(adBytes))
  return toBinary(SignedResourceAdSchema, create(SignedResourceAdSchema, { ad: adBytes, signature }))
}

/** Why an ad was dropped. */
export type AdRejection =
  | 'too-large'
  | 'malformed'
  | 'bad-peer-id'
  | 'bad-signature'
  | 'expired'
  | 'from-the-future'
  /** It claims to stay valid longer than MAX_AD_LIFETIME_MS. */
  | 'overlong'
  | 'sender-mismatch'
  /** The node has a private network's allow-list, and the ad's peer is not on it. */
  | 'not-allowed'
  /** The node's mesh has an authority, and the ad carries no valid certificate of it for its peer. */
  | 'uncertified'

export type VerifiedAd = { ok: true; ad: ResourceAd; signed: SignedResourceAd } | { ok: false; reason: AdRejection; detail: string }

/**
 * Verifies an encoded SignedResourceAd: size, decoding, the signature by the key of the ad's peer id,
 * expiry and clock skew. Staleness by sequence number is the peer table's job.
 * @param bytes - the encoded SignedResourceAd as received
 * @param now - current time, ms since the epoch
 * @param from - when known, the peer that published it (gossipsub's signed `from`); must match the ad
 */
export async function verifyAd(bytes: Uint8Array, now: number, from?: string): Promise<VerifiedAd> {
  if (bytes.length > MAX_SIGNED_AD_BYTES) {
    return { ok: false, reason: 'too-large', detail: `${bytes.length} bytes > ${MAX_SIGNED_AD_BYTES}` }
  }
  let signed: SignedResourceAd
  let ad: ResourceAd
  try {
    signed = fromBinary(SignedResourceAdSchema, bytes)
    ad = fromBinary(ResourceAdSchema, signed.ad)
  } catch (err) {
    return { ok: false, reason: 'malformed', detail: (err as Error).message }
  }
  let publicKey: ReturnType<typeof peerIdFromString>['publicKey']
  try {
    publicKey = peerIdFromString(ad.peerId).publicKey
  } catch (err) {
    return { ok: false, reason: 'bad-peer-id', detail: (err as Error).message }
  }
  if (publicKey === undefined) return { ok: false, reason: 'bad-peer-id', detail: 'peer id does not embed a public key' }
  if (from !== undefined && from !== ad.peerId) {
    return { ok: false, reason: 'sender-mismatch', detail: `ad for ${ad.peerId} published by ${from}` }
  }
  const valid = await publicKey.verify(signingBytes(signed.ad), signed.signature)
  if (!valid) return { ok: false, reason: 'bad-signature', detail: `signature does not match ${ad.peerId}` }
  if (Number(ad.expiresAtMs) <= now) {
    return { ok: false, reason: 'expired', detail: `expired ${now - Number(ad.expiresAtMs)} ms ago` }
  }
  if (Number(ad.issuedAtMs) > now + MAX_CLOCK_SKEW_MS) {
    return { ok: false, reason: 'from-the-future', detail: `issued ${Number(ad.issuedAtMs) - now} ms ahead` }
  }
  if (Number(ad.expiresAtMs) > now + MAX_AD_LIFETIME_MS) {
    return { ok: false, reason: 'overlong', detail: `valid for ${Number(ad.expiresAtMs) - now} ms; ads may claim at most ${MAX_AD_LIFETIME_MS}` }
  }
  return { ok: true, ad, signed }
}

