// Hostile peers against the gossip hints for fresh artifacts (issue 16, topic weft/store/1): a flood of hints for
// thousands of roots, a hint for a root the hinter does not hold, malformed and oversized hints. Real in-process nodes
// over the real gossipsub and store protocols.
import { randomBytes } from 'node:crypto'
import { create, toBinary } from '@bufbuild/protobuf'
import { MAX_STORE_HINT_BYTES, STORE_HAVE, STORE_HINTS_TOPIC, StoreHintSchema } from '@weft/protocol'
import { addFile, type CID } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from '../../packages/node/test/helpers.js'

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

/** The CID some bytes get as a file, without storing them: a root nobody holds. */
async function someRoot(i: number): Promise<CID> {
  return (await addFile([new TextEncoder().encode(`root ${i}`)], { put: async () => {} })).cid
}

describe('issue 16: gossip hints are bounded and never trusted', () => {
  let victim: TestNode
  let holder: TestNode
  let attacker: TestNode
  let root: CID
  const hintTopic = (node: TestNode) => node.mesh.pubsub.topic(STORE_HINTS_TOPIC, StoreHintSchema)

  beforeAll(async () => {
    ;[victim, holder, attacker] = await Promise.all([startTestNode(), startTestNode(), startTestNode()])
    await connect(holder, victim)
    await connect(attacker, victim)
    await until(() => hintTopic(attacker).subscribers().includes(victim.peerId) && hintTopic(holder).subscribers().includes(victim.peerId), 20_000, 'the hint topic mesh')
    root = (await addFile([new Uint8Array(randomBytes(2 * 1024 * 1024 + 5))], holder.store!)).cid
  }, 60_000)
  afterAll(async () => {
    await Promise.all([victim, holder, attacker].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('a peer flooding hints for thousands of roots fills a bounded share; an honest hint published after still counts', async () => {
    const flood: CID[] = []
    for (let i = 0; i < 3000; i++) flood.push(await someRoot(i))
    const topic = hintTopic(attacker)
    for (const r of flood) await topic.publish({ root: r.toString(), size: 1n, complete: true })
    const last = flood.at(-1) as CID
    await until(() => victim.blockExchange!.hinted(last).includes(attacker.peerId), 30_000, 'the flood to arrive')
    expect(victim.blockExchange!.hintedRoots).toBeLessThanOrEqual(1000)
    // The attacker's own oldest hints went first.
    expect(victim.blockExchange!.hinted(flood[0] as CID)).toEqual([])

    await holder.blockExchange!.announce(root)
    await until(() => victim.blockExchange!.hinted(root).includes(holder.peerId), 20_000, 'the honest hint')
    const holders = await victim.blockExchange!.findHolders(root, { dht: false })
    expect(holders).toContainEqual({ peer: holder.peerId, partial: false })
    expect(victim.blockExchange!.hintedRoots).toBeLessThanOrEqual(1000)
  }, 120_000)

  it('a hint for a root the hinter does not hold: its store/have is asked, it is not used, the fetch completes from the holder', async () => {
    // The liar hints the holder's root and never answers store/have.
    let probed = 0
    await attacker.mesh.rpc.unhandle(STORE_HAVE)
    await attacker.mesh.rpc.handle(STORE_HAVE, async () => {
      probed++
      return new Promise<never>(() => {})
    })
    await hintTopic(attacker).publish({ root: root.toString(), size: 1n, complete: true })
    await until(() => victim.blockExchange!.hinted(root).includes(attacker.peerId), 20_000, 'the lying hint')
    const result = await victim.blockExchange!.fetch(root)
    expect(result.ok).toBe(true)
    expect(Object.keys(result.providers)).toEqual([holder.peerId])
    expect(probed).toBeGreaterThan(0)
    expect(result.dropped).toEqual([])
  }, 60_000)

  it('drops malformed and oversized hints before they reach the book or anyone else', async () => {
    const topic = hintTopic(victim)
    const dropped = topic.dropped
    const roots = victim.blockExchange!.hintedRoots
    const gossip = attacker.mesh.libp2p.services.pubsub
    // The attacker's own checks are off, so its node sends what it is told to.
    gossip.topicValidators.delete(STORE_HINTS_TOPIC)
    const oversized = toBinary(StoreHintSchema, create(StoreHintSchema, { root: 'b'.repeat(MAX_STORE_HINT_BYTES * 2), size: 1n }))
    const notProtobuf = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])
    const notACid = toBinary(StoreHintSchema, create(StoreHintSchema, { root: 'not-a-cid', size: 1n }))
    const unsafeSize = toBinary(StoreHintSchema, create(StoreHintSchema, { root: (await someRoot(-1)).toString(), size: 2n ** 60n }))
    for (const bytes of [oversized, notProtobuf, notACid, unsafeSize]) await gossip.publish(STORE_HINTS_TOPIC, bytes)
    await until(() => topic.dropped >= dropped + 4, 20_000, 'the four hints to be dropped')
    expect(victim.blockExchange!.hintedRoots).toBe(roots)
    expect(victim.blockExchange!.hinted(await someRoot(-1))).toEqual([])
  }, 60_000)
})
