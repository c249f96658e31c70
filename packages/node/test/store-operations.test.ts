// Store operations (issue 16): a fetch's progress streamed as NDJSON over the API, a fetch's blocks held from gc
// until it pins, unannounce (and unpin implying it) with a peer that asks for what is no longer served.
import { randomBytes } from 'node:crypto'
import { createApiClient, type StoreFetchProgressView } from '@weft/api-client'
import { STORE_BLOCKS, STORE_HAVE } from '@weft/protocol'
import { addFile, type CID, type DagLayout, dagBlocks } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const LAYOUT: DagLayout = { chunkSize: 64 * 1024, maxChildren: 8, maxDirectoryNodeBytes: 262_144 }

async function putAnnounced(node: TestNode, length: number): Promise<{ root: CID; blocks: string[] }> {
  const bytes = new Uint8Array(randomBytes(length))
  const added = await addFile([bytes], node.store!, { layout: LAYOUT })
  await node.blockExchange!.announce(added.cid)
  const blocks: string[] = []
  for await (const { cid } of dagBlocks(node.store!, added.cid)) blocks.push(cid.toString())
  return { root: added.cid, blocks }
}

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

describe('store operations (issue 16)', () => {
  let a: TestNode
  let b: TestNode

  beforeAll(async () => {
    ;[a, b] = await Promise.all([startTestNode(), startTestNode()])
    await connect(b, a)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([a, b].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('POST /v1/store/:cid/fetch with Accept: application/x-ndjson streams progress lines, then the result', async () => {
    const { root, blocks } = await putAnnounced(a, 2 * 1024 * 1024 + 777)
    const res = await fetch(`${b.apiUrl}/v1/store/${root}/fetch`, {
      method: 'POST',
      headers: { accept: 'application/x-ndjson', 'content-type': 'application/json', 'x-weft-request': '1' },
      body: '{}',
    })
    expect(res.headers.get('content-type')).toBe('application/x-ndjson')
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; blocks: number; bytes: number; providers: unknown })
    const progress = lines.filter((l) => l.type === 'progress')
    expect(progress.length).toBeGreaterThan(1)
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.blocks).toBeGreaterThan(progress[i - 1]!.blocks)
    expect(progress.at(-1)).toMatchObject({ blocks: blocks.length, providers: 1 })
    expect(lines.at(-1)).toMatchObject({ type: 'done', ok: true, cid: root.toString(), blocks: blocks.length, providers: [{ peer: a.peerId, blocks: blocks.length }] })
  }, 30_000)

  it('the api-client reads the stream: onProgress per line, the last line as the result; a failure as ApiError', async () => {
    const { root, blocks } = await putAnnounced(a, 1024 * 1024)
    const api = createApiClient({ url: b.apiUrl })
    const seen: StoreFetchProgressView[] = []
    const result = await api.storeFetch(root.toString(), { onProgress: (p) => seen.push(p) })
    expect(result).toMatchObject({ ok: true, blocks: blocks.length })
    expect(seen.at(-1)).toMatchObject({ type: 'progress', blocks: blocks.length, bytes: result.bytes })
    // A root nobody has: the stream's last line says so, and the client throws as the JSON answer would.
    const nobody = (await addFile([new Uint8Array(randomBytes(2000))], { put: async () => {} })).cid
    const err = (await api.storeFetch(nobody.toString(), { providers: [a.peerId], onProgress: () => {} }).catch((e: unknown) => e)) as { name: string; status: number; code: string }
    expect(err).toMatchObject({ name: 'ApiError', status: 404, code: 'no-providers' })
  }, 30_000)

  it('Prometheus: weft_store_* count blocks and bytes stored, served, fetched, and the quota used', async () => {
    const metric = async (node: TestNode, name: string): Promise<number> => {
      const text = await createApiClient({ url: node.apiUrl }).metrics()
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    const before = { served: await metric(a, 'weft_store_served_blocks_total'), fetched: await metric(b, 'weft_store_fetched_blocks_total') }
    const { root, blocks } = await putAnnounced(a, 700_000)
    const result = await b.blockExchange!.fetch(root)
    expect(result.ok).toBe(true)
    expect((await metric(b, 'weft_store_fetched_blocks_total')) - before.fetched).toBe(blocks.length)
    expect(await metric(b, 'weft_store_fetched_bytes_total')).toBeGreaterThanOrEqual(result.bytes)
    expect((await metric(a, 'weft_store_served_blocks_total')) - before.served).toBe(blocks.length)
    expect(await metric(a, 'weft_store_served_bytes_total')).toBeGreaterThanOrEqual(700_000)
    const usage = b.store!.usage()
    expect(await metric(b, 'weft_store_bytes')).toBe(usage.usedBytes)
    expect(await metric(b, 'weft_store_blocks')).toBe(usage.blocks)
    expect(await metric(b, 'weft_store_quota_bytes')).toBe(usage.maxBytes)
    expect(await metric(b, 'weft_store_quota_used_ratio')).toBeCloseTo(usage.usedBytes / (usage.maxBytes as number), 9)
    expect(await metric(b, 'weft_store_pinned_roots')).toBe(usage.pinned)
  }, 30_000)

  it('a fetch holds its blocks from gc until it pins: a gc run mid-fetch takes nothing of it', async () => {
    const { root, blocks } = await putAnnounced(a, 2 * 1024 * 1024)
    let gcRuns = 0
    let removed = 0
    const result = await b.blockExchange!.fetch(root, {
      batch: 2,
      window: 1,
      onProgress: () => {
        // Everything fetched so far is unpinned and no root reaches it yet: only the hold keeps it.
        removed += b.store!.gc().removedBlocks
        gcRuns++
      },
    })
    expect(result.ok).toBe(true)
    expect(gcRuns).toBeGreaterThan(3)
    expect(removed).toBe(0)
    expect(await b.store!.stat(root)).toMatchObject({ pinned: true, missing: 0, blocks: blocks.length })
    // Released at the end: unpinned and gc'd, the blocks go.
    await b.blockExchange!.unannounce(root)
    b.store!.unpin(root)
    expect(b.store!.gc().removedBlocks).toBe(blocks.length)
  }, 30_000)

  it('holding(): blocks read or written through it stay through gc until release', async () => {
    const bytes = new Uint8Array(randomBytes(300_000))
    const held = b.store!.holding()
    const added = await addFile([bytes], held, { layout: LAYOUT })
    expect(b.store!.gc().removedBlocks).toBe(0)
    held.release()
    held.release()
    expect(b.store!.gc().removedBlocks).toBeGreaterThan(0)
    expect(await b.store!.has(added.cid)).toBe(false)
  })

  it('attacker: after unannounce, a peer asking for the root or its blocks is answered missing; unpin implies unannounce', async () => {
    const { root, blocks } = await putAnnounced(a, 500_000)
    expect((await b.mesh.rpc.call(a.peerId, STORE_HAVE, { root: root.toString() })).complete).toBe(true)
    const api = createApiClient({ url: a.apiUrl })
    expect(await api.storeUnannounce(root.toString())).toEqual({ cid: root.toString(), announced: false })
    expect(a.blockExchange!.announced(root)).toBe(false)
    expect((await b.mesh.rpc.call(a.peerId, STORE_HAVE, { root: root.toString() })).complete).toBe(false)
    const probe = await b.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: blocks.slice(0, 8) })
    expect(probe.blocks).toEqual([])
    expect(probe.missing).toHaveLength(Math.min(8, blocks.length))
    // Still in the store, still pinned; a second unannounce is a 404.
    expect(await a.store!.stat(root)).toMatchObject({ pinned: true, missing: 0 })
    await expect(api.storeUnannounce(root.toString())).rejects.toMatchObject({ status: 404 })

    // Another root announced again, then unpinned: no longer served either; blocks of other announced roots still are.
    const other = await putAnnounced(a, 400_000)
    const kept = await putAnnounced(a, 300_000)
    await api.storeUnpin(other.root.toString())
    expect(a.blockExchange!.announced(other.root)).toBe(false)
    expect((await b.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: other.blocks.slice(0, 4) })).blocks).toEqual([])
    expect((await b.mesh.rpc.call(a.peerId, STORE_BLOCKS, { cids: kept.blocks.slice(0, 4) })).blocks).toHaveLength(Math.min(4, kept.blocks.length))
  }, 30_000)
})
