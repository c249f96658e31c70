// A node under hostile input: forged ads over gossip, garbage on its RPC protocol, outsiders of a private mesh.
import { writeFileSync } from 'node:fs'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generatePsk } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { ADS_TOPIC, GET_AD, signAd } from '@weft/node'
import { ResourceAdSchema, SignedResourceAdSchema, encodeFrame } from '@weft/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const nodes: TestNode[] = []
const rogues: MeshNode[] = []
afterAll(async () => {
  await Promise.all([...nodes.map((n) => n.stop()), ...rogues.map((r) => r.stop())])
  removeTestDirs()
})

async function counter(node: TestNode, outcome: string): Promise<number> {
  const metric = await node.metrics.adsReceived.get()
  return metric.values.find((v) => v.labels['outcome'] === outcome)?.value ?? 0
}

async function rogueNode(privateKey?: Parameters<typeof signAd>[1], allowList?: string[]): Promise<MeshNode> {
  const rogue = await createMeshNode({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    network: 'loopback',
    ...(allowList === undefined ? {} : { allowList }),
  })
  rogues.push(rogue)
  return rogue
}

describe('a node under hostile input', () => {
  it('ignores forged ads published on gossip and keeps working', async () => {
    const node = await startTestNode()
    nodes.push(node)
    const rogue = await rogueNode()
    await rogue.dial(node.addrs[0]!)
    const topic = rogue.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema)
    topic.subscribe(() => {})
    await until(() => topic.subscribers().includes(node.peerId), 10_000, 'the node to join the ads topic')

    const now = Date.now()
    const ad = (peerId: string) =>
      create(ResourceAdSchema, { peerId, seq: 1n, issuedAtMs: BigInt(now), expiresAtMs: BigInt(now + 60_000), labels: { tier: 'evil' } })
    // 1. The rogue's own peer id, signed with some other key: a bad signature.
    const otherKey = await generateKeyPair('Ed25519')
    const forged = await signAd(ad(rogue.peerId), otherKey)
    // 2. An ad for a third peer, validly signed by that peer's key, but published by the rogue: a replayed identity.
    const thirdKey = await generateKeyPair('Ed25519')
    const relayed = await signAd(ad(peerIdFromPrivateKey(thirdKey).toString()), thirdKey)
    // Gossipsub forms its mesh on heartbeats: publish until the node has judged both.
    await until(
      async () => {
        await topic.publish(fromBinary(SignedResourceAdSchema, forged))
        await topic.publish(fromBinary(SignedResourceAdSchema, relayed))
        return (await counter(node, 'bad-signature')) > 0 && (await counter(node, 'sender-mismatch')) > 0
      },
      15_000,
      'the node to drop both forged ads',
    )
    expect(node.peers.list().map((p) => p.peerId)).not.toContain(rogue.peerId)
    expect(node.peers.list().some((p) => p.ad.labels['tier'] === 'evil')).toBe(false)
    expect(node.logs.some((l) => l['msg'] === 'dropped a resource ad' && l['reason'] === 'bad-signature')).toBe(true)
    // Its genuine ad is still served.
    const signed = await rogue.rpc.call(node.peerId, GET_AD, {})
    expect(signed.signature.length).toBe(64)
  })

  it('resets streams of garbage and oversized frames on its RPC protocol, logs why, and keeps answering', async () => {
    const node = nodes[0]!
    const rogue = rogues[0]!
    const cases = [new Uint8Array(64).fill(0xff), new Uint8Array([0x80, 0x80, 0x80, 0x40]), encodeFrame(new Uint8Array([0x0a, 0x50, 0x01]))]
    for (const bytes of cases) {
      const stream = await rogue.libp2p.dialProtocol(node.mesh.libp2p.peerId, GET_AD.protocol)
      const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
      stream.send(bytes)
      expect(await ended).toBe('reset')
    }
    const bad = await node.metrics.badMessages.get()
    expect(bad.values.reduce((sum, v) => sum + v.value, 0)).toBeGreaterThanOrEqual(3)
    expect(node.logs.some((l) => String(l['msg']).includes('resetting RPC stream'))).toBe(true)
    expect((await rogue.rpc.call(node.peerId, GET_AD, {})).ad.length).toBeGreaterThan(0)
  })

  it('keeps outsiders out of a private mesh: no connection, no ads, no RPC', async () => {
    const pskText = new TextDecoder().decode(generatePsk())
    const a0 = await startTestNode()
    nodes.push(a0)
    const pskFile = `${a0.config.dataDir}/swarm.key`
    writeFileSync(pskFile, pskText, { mode: 0o600 })
    await a0.stop()
    nodes.pop()
    const a = await startTestNode({ privateNetwork: { pskFile } })
    nodes.push(a)
    const b = await startTestNode({ privateNetwork: { pskFile }, bootstrap: [a.addrs[0]!] })
    nodes.push(b)
    await until(() => a.peers.get(b.peerId)?.status === 'alive', 10_000, 'members to see each other')
    expect((await a.mesh.rpc.call(b.peerId, GET_AD, {})).ad.length).toBeGreaterThan(0)

    // An outsider with no key, bootstrapping to a member, never gets in.
    const outsider = await startTestNode({ bootstrap: [a.addrs[0]!] })
    nodes.push(outsider)
    await expect(outsider.mesh.rpc.call(a.addrs[0]!, GET_AD, {}, { timeoutMs: 3_000 })).rejects.toMatchObject({ name: 'RpcError' })
    // A member knows exactly one peer after the outsider has published ads for several rounds.
    await until(async () => ((await outsider.metrics.adsPublished.get()).values[0]?.value ?? 0) >= 4, 10_000, 'outsider ads')
    expect(a.peers.list().map((p) => p.peerId)).toEqual([b.peerId])
    expect(outsider.peers.list()).toEqual([])
    expect(a.mesh.connections().map((c) => c.peer)).not.toContain(outsider.peerId)

    // A holder of the key who is not on the allow-list is refused too.
    const allowed = await startTestNode({ privateNetwork: { pskFile, allow: [b.peerId] } })
    nodes.push(allowed)
    const stranger = await startTestNode({ privateNetwork: { pskFile } })
    nodes.push(stranger)
    await stranger.mesh.dial(allowed.addrs[0]!).catch(() => {})
    await expect(stranger.mesh.rpc.call(allowed.peerId, GET_AD, {}, { timeoutMs: 3_000 })).rejects.toMatchObject({ name: 'RpcError' })
    expect(allowed.peers.list()).toEqual([])
    expect(toBinary(SignedResourceAdSchema, await b.mesh.rpc.call(allowed.addrs[0]!, GET_AD, {})).length).toBeGreaterThan(0)
  })
})

describe('issue 15, finding 7: ads are verified before they are relayed', () => {
  it('a forged ad published to one node is not relayed to a third node; the publisher’s genuine ad is', async () => {
    const a = await startTestNode()
    nodes.push(a)
    const c = await startTestNode({ bootstrap: [a.addrs[0]!] })
    nodes.push(c)
    await until(() => a.peers.get(c.peerId)?.status === 'alive', 10_000, 'a and c to see each other')
    const rogueKey = await generateKeyPair('Ed25519')
    // The rogue talks to a only, so whatever of it reaches c was relayed by a.
    const rogue = await rogueNode(rogueKey, [a.peerId])
    await rogue.dial(a.addrs[0]!)
    const topic = rogue.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema)
    topic.subscribe(() => {})
    await until(() => topic.subscribers().includes(a.peerId), 10_000, 'a to join the ads topic')

    const now = Date.now()
    const ad = (peerId: string, seq: bigint) =>
      create(ResourceAdSchema, { peerId, seq, issuedAtMs: BigInt(now), expiresAtMs: BigInt(now + 60_000), labels: { tier: 'evil' } })
    // A victim's identity signed with another key, published by the rogue: a forgery that decodes.
    const victim = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const forgerKey = await generateKeyPair('Ed25519')
    let seq = 1n
    await until(
      async () => {
        seq++
        await topic.publish(fromBinary(SignedResourceAdSchema, await signAd(ad(victim, seq), forgerKey)))
        // The rogue's own ad, genuinely signed: gossip relays it, so a relay path from the rogue to c exists.
        await topic.publish(fromBinary(SignedResourceAdSchema, await signAd(ad(rogue.peerId, seq), rogueKey)))
        return (await counter(a, 'sender-mismatch')) >= 3 && c.peers.get(rogue.peerId)?.status === 'alive'
      },
      20_000,
      'a to drop forged ads and c to hear the genuine one through a',
    )
    // The rogue's gater refuses every peer but a before a connection is up (c may try, and see its attempt briefly).
    expect(rogue.connections().map((x) => x.peer)).not.toContain(c.peerId)
    expect(await counter(c, 'sender-mismatch')).toBe(0)
    expect(a.peers.get(victim)).toBeUndefined()
    expect(c.peers.get(victim)).toBeUndefined()
  })

  it('with privateNetwork.allow set, ads of peers outside it are dropped, even relayed by an allowed peer', async () => {
    const pskDir = await startTestNode()
    nodes.push(pskDir)
    const pskFile = `${pskDir.config.dataDir}/swarm.key`
    writeFileSync(pskFile, new TextDecoder().decode(generatePsk()), { mode: 0o600 })
    const b = await startTestNode({ privateNetwork: { pskFile } })
    nodes.push(b)
    const a = await startTestNode({ privateNetwork: { pskFile, allow: [b.peerId] }, bootstrap: [b.addrs[0]!] })
    nodes.push(a)
    const stranger = await startTestNode({ privateNetwork: { pskFile }, bootstrap: [b.addrs[0]!] })
    nodes.push(stranger)
    await until(() => b.peers.get(stranger.peerId)?.status === 'alive' && a.peers.get(b.peerId)?.status === 'alive', 10_000, 'the mesh to form')
    await until(async () => (await counter(a, 'not-allowed')) > 0, 10_000, 'a to drop the stranger’s relayed ad')
    expect(a.peers.get(stranger.peerId)).toBeUndefined()
    expect(a.peers.list().map((p) => p.peerId)).toEqual([b.peerId])
  })
})
