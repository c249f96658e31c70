// Swarming fetch (issue 16): a node fetching a root it will serve serves the blocks it has stored so far, to the same
// audience (everyone for an announced root, the named peers for a hand-out, nobody for a private fetch), and stops when
// the fetch fails; fetchers use such partial holders next to complete ones.
import { randomBytes } from 'node:crypto'
import { STORE_BLOCKS, STORE_HAVE } from '@weft/protocol'
import { addFile, type CID, dagBlocks, parseCid } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

/** A gate that holds requests until opened. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait: () => opened, open }
}

/**
 * Makes `node` a provider of its (not announced) `root` that serves `limit` blocks to each peer (or as `limit(peer)`
 * says) and then holds every further request of that peer until `open()`: a stalled origin, so a fetcher stays partial
 * as long as the test needs.
 */
async function slowOrigin(node: TestNode, root: CID, limit: number | ((peer: string) => number)): Promise<{ open: () => void }> {
  const held = gate()
  const served = new Map<string, number>()
  const limitOf = (peer: string) => (typeof limit === 'number' ? limit : limit(peer))
  await node.mesh.rpc.unhandle(STORE_BLOCKS)
  await node.mesh.rpc.unhandle(STORE_HAVE)
  await node.mesh.rpc.handle(STORE_HAVE, (req) => ({ complete: req.root === root.toString() }))
  await node.mesh.rpc.handle(STORE_BLOCKS, async (req, ctx) => {
    if ((served.get(ctx.peer) ?? 0) >= limitOf(ctx.peer)) await held.wait()
    const blocks: { cid: string; data: Uint8Array }[] = []
    const missing: string[] = []
    for (const s of req.cids) {
      const data = await node.store!.get(parseCid(s))
      if (data === undefined) missing.push(s)
      else {
        blocks.push({ cid: s, data })
        served.set(ctx.peer, (served.get(ctx.peer) ?? 0) + 1)
      }
    }
    return { blocks, missing }
  })
  return { open: held.open }
}

describe('partial holders (issue 16, swarming)', () => {
  let a: TestNode
  let b: TestNode
  let c: TestNode
  /** A fresh 6 MiB file on A (7 blocks: six 1 MiB leaves and their parent), pinned, not announced. */
  const fresh = async (): Promise<{ root: CID; keys: string[] }> => {
    const root = (await addFile([new Uint8Array(randomBytes(6 * 1024 * 1024 + 777))], a.store!)).cid
    await a.store!.pin(root)
    const keys: string[] = []
    for await (const { cid } of dagBlocks(a.store!, root)) keys.push(cid.toString())
    return { root, keys }
  }
  const have = (from: TestNode, to: TestNode, root: CID) => from.mesh.rpc.call(to.peerId, STORE_HAVE, { root: root.toString() })

  beforeAll(async () => {
    ;[a, b, c] = await Promise.all([startTestNode(), startTestNode(), startTestNode()])
    await connect(b, a)
    await connect(c, a)
    await connect(c, b)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('serves the blocks of an announced root it has stored while fetching, tells it is partial, and is complete after', async () => {
    const { root, keys } = await fresh()
    const origin = await slowOrigin(a, root, 3)
    const fetching = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1 })
    try {
      await until(async () => (await c.mesh.rpc.call(b.peerId, STORE_HAVE, { root: root.toString() })).blocks >= 3, 20_000, 'B holding 3 blocks')
      const have = await c.mesh.rpc.call(b.peerId, STORE_HAVE, { root: root.toString() })
      expect(have).toMatchObject({ complete: false, partial: true, blocks: 3 })
      const answer = await c.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })
      expect(answer.blocks.length).toBe(3)
      expect(answer.missing.length).toBe(keys.length - 3)
      // It lists what it holds, so a fetcher asks it for that.
      expect(new Set(have.held)).toEqual(new Set(answer.blocks.map((block) => block.cid)))
      // It gossiped a hint when it started (the root will be announced), so other nodes know whom to ask.
      await until(() => c.blockExchange!.hinted(root).includes(b.peerId), 10_000, 'B’s hint to reach C')
      for (const block of answer.blocks) expect(Buffer.from(block.data).equals(Buffer.from((await a.store!.get(parseCid(block.cid)))!))).toBe(true)
    } finally {
      origin.open()
    }
    expect((await fetching).ok).toBe(true)
    const after = await c.mesh.rpc.call(b.peerId, STORE_HAVE, { root: root.toString() })
    expect(after).toMatchObject({ complete: true, partial: false, blocks: keys.length })
  }, 60_000)

  it('serves nothing of a private fetch (announce false, no peers named)', async () => {
    const { root, keys } = await fresh()
    const origin = await slowOrigin(a, root, 3)
    const fetching = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1, announce: false })
    try {
      await until(async () => (await Promise.all(keys.map((k) => b.store!.has(parseCid(k))))).filter(Boolean).length >= 3, 20_000, 'B storing 3 blocks')
      expect(await have(c, b, root)).toMatchObject({ complete: false, partial: false, blocks: 0 })
      expect((await c.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })).blocks).toEqual([])
    } finally {
      origin.open()
    }
    expect((await fetching).ok).toBe(true)
    expect(await have(c, b, root)).toMatchObject({ complete: false, partial: false })
  }, 60_000)

  it('serves a hand-out fetch (peers named) to the named peers only', async () => {
    const { root, keys } = await fresh()
    const origin = await slowOrigin(a, root, 3)
    const fetching = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1, announce: false, serveTo: [c.peerId] })
    try {
      await until(async () => (await have(c, b, root)).blocks >= 3, 20_000, 'B holding 3 blocks')
      expect((await c.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })).blocks.length).toBe(3)
      expect(await have(a, b, root)).toMatchObject({ partial: false, blocks: 0 })
      expect((await a.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })).blocks).toEqual([])
    } finally {
      origin.open()
    }
    expect((await fetching).ok).toBe(true)
    expect(await have(c, b, root)).toMatchObject({ complete: true, blocks: keys.length })
    expect((await have(a, b, root)).complete).toBe(false)
    expect(b.blockExchange!.announced(root)).toBe(false)
  }, 60_000)

  it('a fetch started again serves at once the blocks an earlier run of it stored', async () => {
    const { root, keys } = await fresh()
    const origin = await slowOrigin(a, root, 3)
    const abort = new AbortController()
    const first = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1, signal: abort.signal })
    try {
      await until(async () => (await have(c, b, root)).blocks >= 3, 20_000, 'B holding 3 blocks')
      abort.abort(new Error('test abort'))
      await expect(first).rejects.toThrow('test abort')
      expect(await have(c, b, root)).toMatchObject({ partial: false, blocks: 0 })
      // The origin still holds B back: whatever B serves now, it stored in the first run.
      const again = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1 })
      await until(async () => (await have(c, b, root)).blocks >= 3, 20_000, 'B serving its 3 blocks again')
      expect(await have(c, b, root)).toMatchObject({ complete: false, partial: true, blocks: 3 })
      expect((await c.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })).blocks.length).toBe(3)
      origin.open()
      expect((await again).ok).toBe(true)
    } finally {
      origin.open()
    }
  }, 60_000)

  it('stops serving the partial blocks when the fetch is aborted', async () => {
    const { root, keys } = await fresh()
    const origin = await slowOrigin(a, root, 3)
    const abort = new AbortController()
    const fetching = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1, signal: abort.signal })
    try {
      await until(async () => (await have(c, b, root)).blocks >= 3, 20_000, 'B holding 3 blocks')
      abort.abort(new Error('test abort'))
      await expect(fetching).rejects.toThrow('test abort')
      expect(await have(c, b, root)).toMatchObject({ complete: false, partial: false, blocks: 0 })
      expect((await c.mesh.rpc.call(b.peerId, STORE_BLOCKS, { cids: keys })).blocks).toEqual([])
    } finally {
      origin.open()
    }
  }, 60_000)

  it('a third fetcher gets blocks from a partial holder while the origin is stalled, and both complete', async () => {
    const { root, keys } = await fresh()
    // The origin gives B three blocks and C none, then stalls.
    const origin = await slowOrigin(a, root, (peer) => (peer === b.peerId ? 3 : 0))
    const fetchingB = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1 })
    let fetchingC: ReturnType<NonNullable<TestNode['blockExchange']>['fetch']> | undefined
    try {
      await until(async () => (await have(c, b, root)).blocks >= 3, 20_000, 'B holding 3 blocks')
      const atB: string[] = []
      for (const k of keys) if (await b.store!.has(parseCid(k))) atB.push(k)
      expect(atB.length).toBe(3)
      // The origin serves nothing more until C holds every block B had: those can only have come from B, partial.
      fetchingC = c.blockExchange!.fetch(root, { providers: [b.peerId, a.peerId] })
      await until(async () => (await Promise.all(atB.map((k) => c.store!.has(parseCid(k))))).every(Boolean), 20_000, 'C holding what B held')
      expect(await have(c, b, root)).toMatchObject({ complete: false, partial: true })
    } finally {
      origin.open()
    }
    const [rb, rc] = await Promise.all([fetchingB, fetchingC])
    expect(rb.ok).toBe(true)
    expect(rc?.ok).toBe(true)
    expect(rc?.providers[b.peerId]).toBeGreaterThanOrEqual(3)
    expect(rc?.dropped.filter((d) => d.peer === b.peerId)).toEqual([])
    expect((rc?.providers[a.peerId] ?? 0) + (rc?.providers[b.peerId] ?? 0)).toBe(keys.length)
  }, 60_000)

  it('a fetcher that started first picks up a peer that started on the root after it (rediscovery) and gets blocks from it', async () => {
    const { root, keys } = await fresh()
    // The origin gives C the root only and B four blocks, then stalls.
    const origin = await slowOrigin(a, root, (peer) => (peer === c.peerId ? 1 : 4))
    let fetchingC: ReturnType<NonNullable<TestNode['blockExchange']>['fetch']> | undefined
    let fetchingB: ReturnType<NonNullable<TestNode['blockExchange']>['fetch']> | undefined
    try {
      // No providers named: C finds A by store/have.
      fetchingC = c.blockExchange!.fetch(root)
      await until(() => c.store!.has(root), 20_000, 'C holding the root')
      fetchingB = b.blockExchange!.fetch(root, { providers: [a.peerId], window: 1, batch: 1 })
      await until(async () => (await have(c, b, root)).blocks >= 4, 20_000, 'B holding 4 blocks')
      const atB: string[] = []
      for (const k of keys) if (await b.store!.has(parseCid(k))) atB.push(k)
      await until(async () => (await Promise.all(atB.map((k) => c.store!.has(parseCid(k))))).every(Boolean), 20_000, 'C holding what B held')
    } finally {
      origin.open()
    }
    const [rc, rb] = await Promise.all([fetchingC, fetchingB])
    expect(rb?.ok).toBe(true)
    expect(rc?.ok).toBe(true)
    expect(rc?.providers[b.peerId]).toBeGreaterThanOrEqual(3)
  }, 60_000)
})

describe('a swarm (issue 16): four fetchers of one capped origin trade blocks', () => {
  const nodes: TestNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  })

  it('each gets the whole file, and the origin sends fewer blocks than four whole copies', async () => {
    // The origin serves 4 MiB/s: what it sends four fetchers in turn would take 4 s each; they fetch at once.
    const origin = await startTestNode({ store: { serveBytesPerSecond: 4 * 1024 * 1024 } as never })
    nodes.push(origin)
    const fetchers = await Promise.all([0, 1, 2, 3].map(() => startTestNode()))
    nodes.push(...fetchers)
    for (const [i, f] of fetchers.entries()) {
      await connect(f, origin)
      for (const other of fetchers.slice(0, i)) await connect(f, other)
    }
    const bytes = new Uint8Array(randomBytes(16 * 1024 * 1024 + 99))
    const root = (await addFile([bytes], origin.store!)).cid
    await origin.blockExchange!.announce(root)
    let dag = 0
    for await (const _ of dagBlocks(origin.store!, root)) dag++

    const results = await Promise.all(fetchers.map((f) => f.blockExchange!.fetch(root)))
    for (const r of results) expect(r.ok).toBe(true)
    for (const f of fetchers) expect((await f.store!.stat(root))?.size).toBe(bytes.length)
    const fromOrigin = results.reduce((sum, r) => sum + (r.providers[origin.peerId] ?? 0), 0)
    const fromPeers = results.reduce((sum, r) => sum + Object.entries(r.providers).reduce((s, [p, n]) => s + (p === origin.peerId ? 0 : n), 0), 0)
    expect(fromOrigin + fromPeers).toBe(4 * dag)
    expect(fromPeers).toBeGreaterThan(0)
    expect(fromOrigin).toBeLessThan(4 * dag)
  }, 120_000)
})

