// Signed resource ads and the peer table: forged, tampered, expired and stale ads are dropped; peers expire.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createPeerTable, MAX_SIGNED_AD_BYTES, openNodeState, signAd, verifyAd } from '@weft/node'
import { ResourceAdSchema, SignedResourceAdSchema } from '@weft/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const NOW = 1_800_000_000_000

async function makeAd(seq = 1n, overrides: { issued?: number; ttl?: number } = {}) {
  const key = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(key).toString()
  const issued = overrides.issued ?? NOW
  const ad = create(ResourceAdSchema, {
    peerId,
    seq,
    issuedAtMs: BigInt(issued),
    expiresAtMs: BigInt(issued + (overrides.ttl ?? 30_000)),
    weftVersion: '0.1.0',
    cpu: { model: 'test cpu', cores: 2 },
    labels: { tier: 'edge' },
  })
  return { key, peerId, ad, bytes: await signAd(ad, key) }
}

describe('signed resource ads', () => {
  it('verify a genuine ad', async () => {
    const { peerId, bytes } = await makeAd()
    const result = await verifyAd(bytes, NOW + 1, peerId)
    expect(result.ok).toBe(true)
    if (result.ok) expect(result.ad.labels).toEqual({ tier: 'edge' })
  })

  it('drop an ad signed by a key other than its peer id’s (forged)', async () => {
    const victim = await makeAd()
    const forger = await generateKeyPair('Ed25519')
    const forged = await signAd(victim.ad, forger)
    expect(await verifyAd(forged, NOW + 1)).toMatchObject({ ok: false, reason: 'bad-signature' })
  })

  it('drop an ad whose content was changed after signing', async () => {
    const { bytes } = await makeAd()
    const signed = fromBinary(SignedResourceAdSchema, bytes)
    const ad = fromBinary(ResourceAdSchema, signed.ad)
    ad.labels['tier'] = 'dc'
    const tampered = toBinary(SignedResourceAdSchema, create(SignedResourceAdSchema, { ad: toBinary(ResourceAdSchema, ad), signature: signed.signature }))
    expect(await verifyAd(tampered, NOW + 1)).toMatchObject({ ok: false, reason: 'bad-signature' })
  })

  it('drop expired ads, ads from the future, ads relayed under another publisher, and oversized ones', async () => {
    const { peerId, bytes } = await makeAd(1n, { ttl: 1_000 })
    expect(await verifyAd(bytes, NOW + 1_000)).toMatchObject({ ok: false, reason: 'expired' })
    const future = await makeAd(1n, { issued: NOW + 120_000 })
    expect(await verifyAd(future.bytes, NOW)).toMatchObject({ ok: false, reason: 'from-the-future' })
    const other = await makeAd()
    expect(await verifyAd(bytes, NOW, other.peerId)).toMatchObject({ ok: false, reason: 'sender-mismatch' })
    expect(await verifyAd(new Uint8Array(MAX_SIGNED_AD_BYTES + 1), NOW, peerId)).toMatchObject({ ok: false, reason: 'too-large' })
  })

  it('issue 15, finding 7: drop an ad that claims to stay valid for days, so forged identities cannot outlive their flood', async () => {
    const forever = await makeAd(1n, { ttl: 3 * 24 * 3_600_000 })
    expect(await verifyAd(forever.bytes, NOW + 1)).toMatchObject({ ok: false, reason: 'overlong' })
    const tenMinutes = await makeAd(1n, { ttl: 10 * 60_000 })
    expect((await verifyAd(tenMinutes.bytes, NOW + 1)).ok).toBe(true)
  })

  it('never accept arbitrary bytes as an ad', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        expect((await verifyAd(bytes, NOW)).ok).toBe(false)
      }),
      { numRuns: 200 },
    )
  })
})

describe('the peer table', () => {
  it('keeps the newest ad, refuses stale ones, expires peers and remembers them across restarts', async () => {
    let now = NOW
    const state = openNodeState(':memory:')
    const table = createPeerTable('self', { state, now: () => now })
    const gone: string[] = []
    table.on('peer:gone', (p) => gone.push(`${p.peerId}:${p.goneReason}`))

    const first = await makeAd(5n)
    expect(table.accept(first.ad, first.bytes)).toEqual({ accepted: true, isNew: true })
    const older = create(ResourceAdSchema, { ...first.ad, seq: 4n })
    expect(table.accept(older, first.bytes)).toEqual({ accepted: false, reason: 'stale' })
    expect(table.accept(first.ad, first.bytes)).toEqual({ accepted: false, reason: 'stale' })
    expect(table.get(first.peerId)?.status).toBe('alive')

    now = Number(first.ad.expiresAtMs)
    expect(table.sweep().map((p) => p.peerId)).toEqual([first.peerId])
    expect(gone).toEqual([`${first.peerId}:expired`])

    const newer = create(ResourceAdSchema, { ...first.ad, seq: 6n, expiresAtMs: BigInt(now + 10_000) })
    const newerBytes = await signAd(newer, first.key)
    expect(table.accept(newer, newerBytes)).toEqual({ accepted: true, isNew: true })
    table.setConnected(first.peerId, true)
    expect(table.get(first.peerId)?.connected).toBe(true)
    table.setConnected(first.peerId, false)
    expect(table.get(first.peerId)).toMatchObject({ status: 'gone', goneReason: 'disconnected' })

    // A new table over the same state knows the peer, as gone until it advertises again.
    const restored = createPeerTable('self', { state, now: () => now })
    expect(restored.get(first.peerId)).toMatchObject({ status: 'gone', goneReason: 'disconnected' })
    expect(restored.accept(newer, newerBytes)).toEqual({ accepted: false, reason: 'stale' })
    state.close()
  })

  it('does not revive a peer that expired before its connection dropped on an ad it issued before the drop', async () => {
    let now = NOW
    const table = createPeerTable('self', { state: openNodeState(':memory:'), now: () => now })
    const { key, peerId, ad } = await makeAd(1n, { issued: NOW })
    const adAt = async (seq: bigint, issued: number) => {
      const next = create(ResourceAdSchema, { ...ad, seq, issuedAtMs: BigInt(issued), expiresAtMs: BigInt(issued + 2_000) })
      return { ad: next, bytes: await signAd(next, key) }
    }
    const first = await adAt(1n, NOW)
    now = NOW + 10
    expect(table.accept(first.ad, first.bytes)).toEqual({ accepted: true, isNew: true })
    table.setConnected(peerId, true)
    // A busy node sees the ad expire while the connection still stands, then the connection drops (the peer died).
    now = NOW + 2_100
    expect(table.sweep().map((e) => e.goneReason)).toEqual(['expired'])
    now = NOW + 2_200
    table.setConnected(peerId, false)
    // An ad the dead peer issued before the drop, still valid, reaches us late through a relay: the peer stays gone.
    const relayed = await adAt(2n, NOW + 1_500)
    now = NOW + 2_400
    expect(table.accept(relayed.ad, relayed.bytes)).toEqual({ accepted: false, reason: 'predates-disconnect' })
    expect(table.get(peerId)).toMatchObject({ status: 'gone', goneReason: 'expired' })
  })

  it('does not revive a disconnected peer on an ad it issued before it went, but does on a later one', async () => {
    let now = NOW
    const table = createPeerTable('self', { state: openNodeState(':memory:'), now: () => now })
    // The peer's clock runs 5 s behind ours; its ads take 20-40 ms to arrive.
    const skew = -5_000
    const { key, peerId, ad } = await makeAd(1n, { issued: NOW + skew })
    const adAt = async (seq: bigint, issued: number) => {
      const next = create(ResourceAdSchema, { ...ad, seq, issuedAtMs: BigInt(issued + skew), expiresAtMs: BigInt(issued + skew + 30_000) })
      return { ad: next, bytes: await signAd(next, key) }
    }
    const first = await adAt(1n, NOW)
    now = NOW + 20
    expect(table.accept(first.ad, first.bytes)).toEqual({ accepted: true, isNew: true })
    table.setConnected(peerId, true)

    // Issued at +1000, the peer dies at +1300; the ad is relayed to us late, at +1400.
    const relayed = await adAt(2n, NOW + 1_000)
    now = NOW + 1_300
    table.setConnected(peerId, false)
    now = NOW + 1_400
    expect(table.accept(relayed.ad, relayed.bytes)).toEqual({ accepted: false, reason: 'predates-disconnect' })
    // One that arrived before the disconnect but finished its signature check after it is refused too.
    expect(table.accept(relayed.ad, relayed.bytes, NOW + 1_250)).toEqual({ accepted: false, reason: 'predates-disconnect' })
    expect(table.get(peerId)).toMatchObject({ status: 'gone', goneReason: 'disconnected' })

    // Its next ad, issued after the disconnect and arriving by gossip (no direct connection), brings it back.
    const later = await adAt(3n, NOW + 2_000)
    now = NOW + 2_040
    expect(table.accept(later.ad, later.bytes)).toEqual({ accepted: true, isNew: true })
    expect(table.get(peerId)).toMatchObject({ status: 'alive', goneReason: null })

    // After a second disconnect, a reconnection lets any fresh ad in.
    now = NOW + 3_000
    table.setConnected(peerId, false)
    table.setConnected(peerId, true)
    const reconnected = await adAt(4n, NOW + 2_500)
    expect(table.accept(reconnected.ad, reconnected.bytes)).toEqual({ accepted: true, isNew: true })
  })

  it('never enters the node itself', async () => {
    const { ad, bytes, peerId } = await makeAd()
    const table = createPeerTable(peerId, { state: openNodeState(':memory:'), now: () => NOW })
    expect(table.accept(ad, bytes)).toEqual({ accepted: false, reason: 'self' })
  })
})

describe('issue 15, finding 7: the peer table is bounded against a flood of fresh identities', () => {
  const adOf = (peerId: string, issued: number, ttl = 30_000) =>
    create(ResourceAdSchema, { peerId, seq: 1n, issuedAtMs: BigInt(issued), expiresAtMs: BigInt(issued + ttl), weftVersion: '0.1.0' })
  /** The table keeps the signed bytes it is given (checked before, by verifyAd): here an unsigned envelope. */
  const bytesOf = (ad: ReturnType<typeof adOf>) => toBinary(SignedResourceAdSchema, create(SignedResourceAdSchema, { ad: toBinary(ResourceAdSchema, ad) }))
  const offer = (table: ReturnType<typeof createPeerTable>, ad: ReturnType<typeof adOf>) => table.accept(ad, bytesOf(ad))

  it('5,000 fresh identities fill it to maxPeers and no further; the honest peers stay; gone peers are evicted oldest first', () => {
    let now = NOW
    const state = openNodeState(':memory:')
    const table = createPeerTable('self', { state, now: () => now }, { maxPeers: 100 })
    for (const id of ['honest-1', 'honest-2', 'honest-3']) expect(offer(table, adOf(id, now, 3_600_000)).accepted).toBe(true)
    const outcomes = { accepted: 0, full: 0 }
    for (let i = 0; i < 5_000; i++) {
      const r = offer(table, adOf(`sybil-${i}`, now))
      if (r.accepted) outcomes.accepted++
      else if (r.reason === 'full') outcomes.full++
    }
    expect(outcomes).toEqual({ accepted: 97, full: 4_903 })
    expect(table.list()).toHaveLength(100)
    expect(state.listPeers()).toHaveLength(100)
    for (const id of ['honest-1', 'honest-2', 'honest-3']) expect(table.get(id)?.status).toBe('alive')
    expect(table.counts()).toEqual({ alive: 100, gone: 0 })

    // The sybils' ads expire: new peers now take the place of the peers gone longest, never of the honest ones.
    now += 60_000
    expect(table.sweep()).toHaveLength(97)
    const early = table.get('sybil-0')
    expect(early?.status).toBe('gone')
    expect(offer(table, adOf('newcomer', now)).accepted).toBe(true)
    expect(table.list()).toHaveLength(100)
    expect(table.counts()).toEqual({ alive: 4, gone: 96 })
    for (const id of ['honest-1', 'honest-2', 'honest-3', 'newcomer']) expect(table.get(id)?.status).toBe('alive')
    expect(state.listPeers()).toHaveLength(100)

    // A restart with a smaller bound keeps the most recently seen.
    const restarted = createPeerTable('self', { state, now: () => now }, { maxPeers: 10 })
    expect(restarted.list()).toHaveLength(10)
    expect(restarted.get('newcomer')).toBeDefined()
    expect(state.listPeers()).toHaveLength(10)
  })
})
