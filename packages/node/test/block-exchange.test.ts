// The block store on the mesh: swarming fetch from several providers, a hostile provider dropped, a provider that
// leaves replaced, a fetch resumed after an abort, and a server that serves only announced DAGs (issue 16).
import { randomBytes } from 'node:crypto'
import { createApiClient } from '@weft/api-client'
import { STORE_BLOCKS, STORE_HAVE } from '@weft/protocol'
import { addFile, type CID, type DagLayout, dagBlocks, parseCid } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

// Small leaves and a narrow tree so a few MiB make a DAG of many blocks and levels.
const LAYOUT: DagLayout = { chunkSize: 64 * 1024, maxChildren: 8, maxDirectoryNodeBytes: 262_144 }

async function putFile(node: TestNode, bytes: Uint8Array, announce: boolean): Promise<CID> {
  const chunks = function* () {
    for (let i = 0; i < bytes.length; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024)
  }
  const added = await addFile(chunks(), node.store!, { layout: LAYOUT })
  if (announce) await node.blockExchange!.announce(added.cid)
  else await node.store!.pin(added.cid)
  return added.cid
}

async function catAll(node: TestNode, cid: CID): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of node.store!.cat(cid)) parts.push(p)
  return Buffer.concat(parts)
}

async function dagSize(node: TestNode, root: CID): Promise<string[]> {
  const keys: string[] = []
  for await (const { cid } of dagBlocks(node.store!, root)) keys.push(cid.toString())
  return keys
}

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

describe('block exchange (issue 16)', () => {
  let a: TestNode
  let b: TestNode
  const file = new Uint8Array(randomBytes(3 * 1024 * 1024 + 12_345))
  let root: CID
  let blocks: string[]

  beforeAll(async () => {
    a = await startTestNode()
    b = await startTestNode()
    await connect(b, a)
    root = await putFile(a, file, true)
    blocks = await dagSize(a, root)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a, b].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('fetches a file from two providers at once (A put it, B fetched it first), verified and equal', async () => {
    const first = await b.blockExchange!.fetch(root)
    expect(first.ok).toBe(true)
    expect(first.providers).toEqual({ [a.peerId]: blocks.length })
    expect(b.blockExchange!.announced(root)).toBe(true)

    const c = await startTestNode()
    try {
      await connect(c, a)
      await connect(c, b)
      const found = await c.blockExchange!.findProviders(root)
      expect(new Set(found)).toEqual(new Set([a.peerId, b.peerId]))
      const result = await c.blockExchange!.fetch(root, { batch: 2, window: 2 })
      expect(result.ok).toBe(true)
      expect(result.blocks).toBe(blocks.length)
      expect(result.providers[a.peerId]).toBeGreaterThan(0)
      expect(result.providers[b.peerId]).toBeGreaterThan(0)
      expect((result.providers[a.peerId] ?? 0) + (result.providers[b.peerId] ?? 0)).toBe(blocks.length)
      expect(result.badBlocks).toBe(0)
      expect((await catAll(c, root)).equals(Buffer.from(file))).toBe(true)
      expect((await c.store!.stat(root))?.pinned).toBe(true)
    } finally {
      await c.stop()
    }
  }, 60_000)

  it('drops a provider that sends a corrupt block, records it, and completes from an honest one', async () => {
    const attacker = await startTestNode()
    const c = await startTestNode()
    try {
      await attacker.mesh.rpc.unhandle(STORE_BLOCKS)
      await attacker.mesh.rpc.handle(STORE_BLOCKS, (req) => ({ blocks: req.cids.map((cid) => ({ cid, data: new Uint8Array(randomBytes(1000)) })) }))
      await connect(c, attacker)
      await connect(c, a)
      const result = await c.blockExchange!.fetch(root, { providers: [attacker.peerId, a.peerId] })
      expect(result.ok).toBe(true)
      expect(result.badBlocks).toBe(1)
      expect(result.dropped.map((d) => [d.peer, d.reason])).toEqual([[attacker.peerId, 'bad-block']])
      expect(result.providers[attacker.peerId]).toBeUndefined()
      expect(c.blockExchange!.badProviders.map((r) => [r.peer, r.root, r.reason])).toEqual([[attacker.peerId, root.toString(), 'bad-block']])
      expect((await catAll(c, root)).equals(Buffer.from(file))).toBe(true)
    } finally {
      await Promise.all([attacker.stop(), c.stop()])
    }
  }, 60_000)

  it('replaces a provider that leaves mid-fetch without restarting the fetch', async () => {
    const leaver = await startTestNode()
    const c = await startTestNode()
    try {
      await connect(leaver, a)
      expect((await leaver.blockExchange!.fetch(root)).ok).toBe(true)
      await connect(c, leaver)
      await connect(c, a)
      let stopping: Promise<void> | undefined
      const result = await c.blockExchange!.fetch(root, {
        providers: [leaver.peerId],
        batch: 2,
        window: 1,
        onProgress: (p) => {
          if (p.blocks >= 3) stopping ??= leaver.stop()
        },
      })
      await stopping
      expect(result.ok).toBe(true)
      expect(result.dropped.map((d) => [d.peer, d.reason])).toEqual([[leaver.peerId, 'failed']])
      expect(result.providers[leaver.peerId]).toBeGreaterThanOrEqual(3)
      // Blocks are fetched once: what the leaver delivered is not asked again of the replacement.
      expect(Object.values(result.providers).reduce((x, y) => x + y, 0)).toBe(blocks.length)
      expect((await catAll(c, root)).equals(Buffer.from(file))).toBe(true)
    } finally {
      await Promise.all([leaver.stop(), c.stop()])
    }
  }, 60_000)

  it('resumes an aborted fetch after a restart of the fetching node: the second run fetches only the blocks still missing', async () => {
    const first = await startTestNode()
    let c: TestNode | undefined
    try {
      await connect(first, a)
      const abort = new AbortController()
      await expect(
        first.blockExchange!.fetch(root, {
          batch: 1,
          window: 1,
          signal: abort.signal,
          onProgress: (p) => {
            if (p.blocks >= 10) abort.abort(new Error('stopped by the test'))
          },
        }),
      ).rejects.toThrow('stopped by the test')
      await first.stop()
      // The same data directory, a new process life: what was stored is still there.
      c = await startTestNode({ dataDir: first.config.dataDir })
      let held = 0
      for (const key of blocks) if (await c.store!.has(parseCid(key))) held++
      expect(held).toBeGreaterThanOrEqual(10)
      expect(held).toBeLessThan(blocks.length)
      await connect(c, a)
      const result = await c.blockExchange!.fetch(root)
      expect(result.ok).toBe(true)
      expect(result.blocks).toBe(blocks.length - held)
      expect((await catAll(c, root)).equals(Buffer.from(file))).toBe(true)
    } finally {
      await Promise.all([first.stop(), c?.stop()])
    }
  }, 60_000)

  it('POST /v1/store/:cid/fetch fetches over the API with counts; a file added with ?announce=true is served', async () => {
    const c = await startTestNode()
    try {
      await connect(c, a)
      const api = createApiClient({ url: c.apiUrl })
      const view = await api.storeFetch(root.toString(), { providers: [a.peerId] })
      expect(view).toMatchObject({ ok: true, cid: root.toString(), blocks: blocks.length, bytes: expect.any(Number), badBlocks: 0, providers: [{ peer: a.peerId, blocks: blocks.length }] })
      const content = Buffer.from(await new Response((await api.storeContent(root.toString())).body).arrayBuffer())
      expect(content.equals(Buffer.from(file))).toBe(true)
      const small = new Uint8Array(randomBytes(5000))
      const added = await createApiClient({ url: a.apiUrl }).storeAddFile(new Blob([small]), { announce: true })
      const again = await api.storeFetch(added.cid)
      expect(again.blocks).toBe(1)
    } finally {
      await c.stop()
    }
  }, 60_000)

  it('issue 16, deliverable 6: a peer cannot probe blocks of a DAG that was never announced (private artifacts)', async () => {
    const secret = new Uint8Array(randomBytes(200 * 1024))
    const privateRoot = await putFile(a, secret, false)
    const privateBlocks = await dagSize(a, privateRoot)
    expect(privateBlocks.length).toBeGreaterThan(1)
    const prober = await startTestNode()
    try {
      await connect(prober, a)
      const probe = await prober.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: privateBlocks })
      expect(probe.blocks).toEqual([])
      expect(probe.missing).toEqual(privateBlocks)
      expect((await prober.mesh.rpc.call(a.peerId, STORE_HAVE, { root: privateRoot.toString() })).complete).toBe(false)
      // Control: a block of the announced DAG is served.
      const served = await prober.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: [root.toString(), 'not-a-cid'] })
      expect(served.blocks.map((x) => x.cid)).toEqual([root.toString()])
      expect(served.missing).toEqual(['not-a-cid'])
      const fetched = await prober.blockExchange!.fetch(privateRoot, { providers: [a.peerId] })
      expect(fetched.ok).toBe(false)
      expect(await prober.store!.has(privateRoot)).toBe(false)
      // More CIDs than a request may name are refused.
      await expect(prober.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: Array.from({ length: 65 }, () => root.toString()) })).rejects.toThrow()
    } finally {
      await prober.stop()
    }
  }, 60_000)
})
