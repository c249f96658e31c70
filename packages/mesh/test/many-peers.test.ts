// Many peers behind one address (a local fabric, a LAN, edge boxes behind a NAT) must all be heard on gossip.
import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import type { MeshNode } from '@weft/mesh/node'
import { afterAll, describe, expect, it } from 'vitest'
import { startNode, until } from './helpers.js'

const nodes: MeshNode[] = []
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
})

describe('gossip with many peers on one IP address', () => {
  it('delivers messages from 15 peers on 127.0.0.1 to the node they all connect to', async () => {
    // Gossipsub's default IP-colocation penalty graylists peers beyond ~13 on one address; this is 15.
    const hub = await startNode({ network: 'loopback' })
    nodes.push(hub)
    const peers = await Promise.all(Array.from({ length: 15 }, () => startNode({ network: 'loopback' })))
    nodes.push(...peers)
    await Promise.all(peers.map((p) => p.dial(hub.addresses()[0] as string)))
    const heard = new Set<string>()
    hub.pubsub.topic('weft/many/1', StringValueSchema).subscribe((_m, from) => heard.add(from))
    const topics = peers.map((p) => p.pubsub.topic('weft/many/1', StringValueSchema))
    for (const t of topics) t.subscribe(() => {})
    await until(() => topics.every((t) => t.subscribers().includes(hub.peerId)), 20_000)
    // Republish until heard: gossipsub forms its mesh and scores peers on its heartbeat.
    let round = 0
    await until(() => {
      if (round++ % 20 === 0) for (const t of topics) void t.publish({ value: `round ${round}` })
      return heard.size === peers.length
    }, 30_000).catch(() => {})
    expect(heard.size).toBe(peers.length)
    // Still heard after several heartbeats, when scores have been applied.
    await new Promise((r) => setTimeout(r, 3_000))
    heard.clear()
    round = 0
    await until(() => {
      if (round++ % 20 === 0) for (const t of topics) void t.publish({ value: `later ${round}` })
      return heard.size === peers.length
    }, 30_000).catch(() => {})
    expect(heard.size).toBe(peers.length)
  }, 90_000)
})
