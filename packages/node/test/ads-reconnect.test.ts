// A peer that drops and reconnects is known again at once, not at its next periodic ad: on a new connection a node
// fetches the peer's ad over `node/ad`, and the answer must be signed after the drop (the ad published before it
// carries a sequence number the node already holds, and was refused as stale; the peer then stayed out of new FL
// rounds until its next ad, seen as a browser tab missing a round after a reconnect).
import { fromBinary } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { GET_AD } from '@weft/node'
import { ResourceAdSchema } from '@weft/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

describe('ads after a reconnect', () => {
  const nodes: TestNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  })

  it('a peer whose connection dropped is alive again as soon as it reconnects, well before its next ad', { timeout: 60_000 }, async () => {
    // Ads once a minute: anything sooner than that came over node/ad on the new connection.
    const ads = { intervalMs: 60_000, ttlMs: 120_000 }
    // No data sets or engines to describe: nothing republishes the ad once they are measured.
    const quiet = { describeDatasets: async () => [] }
    const published = async (node: TestNode) => (await node.metrics.adsPublished.get()).values[0]?.value ?? 0
    const a = await startTestNode({ ads }, quiet)
    const b = await startTestNode({ ads }, quiet)
    nodes.push(a, b)
    await b.mesh.dial(a.addrs[0] as string)
    await until(() => a.peers.get(b.peerId)?.status === 'alive', 10_000, 'a to know b')
    // Past b's start-up ads (its first complete ad, then the job meter's first reservation a second later).
    await until(async () => (await published(b)) >= 3, 10_000, "b's start-up ads")
    const before = a.peers.get(b.peerId)?.ad.seq as bigint
    const publishedBefore = await published(b)

    await a.mesh.libp2p.hangUp(peerIdFromString(b.peerId))
    await until(() => a.peers.get(b.peerId)?.status === 'gone', 10_000, 'a to mark b gone')
    expect(a.peers.get(b.peerId)?.goneReason).toBe('disconnected')

    await until(() => b.mesh.connections().length === 0, 10_000, 'b to see the connection close')
    const redialled = Date.now()
    await b.mesh.dial(a.addrs[0] as string)
    await until(() => a.peers.get(b.peerId)?.status === 'alive', 15_000, 'b alive again on a after the reconnect')
    expect(Date.now() - redialled).toBeLessThan(ads.intervalMs / 2)
    // A newer ad than the one a held, signed for node/ad's answer: b published none meanwhile.
    expect(a.peers.get(b.peerId)?.ad.seq as bigint).toBeGreaterThan(before)
    expect(await published(b)).toBe(publishedBefore)

    // Asked again on the same connection (a peer asking in a loop), b answers with that same ad: no signature each time.
    const asked = await Promise.all([1, 2, 3].map(() => a.mesh.rpc.call(b.peerId, GET_AD, {}, { timeoutMs: 5_000 })))
    const seqs = asked.map((signed) => fromBinary(ResourceAdSchema, signed.ad).seq)
    expect(seqs).toEqual([seqs[0], seqs[0], seqs[0]])
    expect(seqs[0]).toBe(a.peers.get(b.peerId)?.ad.seq)
  })
})
