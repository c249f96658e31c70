// The block store on a node: the `store` component and the /v1/store routes through @weft/api-client (uploads as
// byte streams, the quota as their limit, CAR export and import, directories, pins and gc, model publishing).
import { createApiClient } from '@weft/api-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode } from './helpers.js'

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(body).arrayBuffer())
}

let node: TestNode
let other: TestNode
beforeAll(async () => {
  ;[node, other] = await Promise.all([startTestNode({ store: { maxBytes: 8 * 1024 * 1024 } }), startTestNode()])
})
afterAll(async () => {
  await Promise.all([node?.stop(), other?.stop()])
  removeTestDirs()
})

describe('the store on a node', () => {
  it('runs as a component before the API', () => {
    expect(node.components.indexOf('store')).toBeGreaterThan(node.components.indexOf('data-dir'))
    expect(node.components.indexOf('store')).toBeLessThan(node.components.indexOf('api'))
    expect(node.store?.usage().maxBytes).toBe(8 * 1024 * 1024)
  })

  it('adds a file streamed as bytes (past the 1 MiB JSON limit), lists it, stats it and serves its bytes', async () => {
    const api = createApiClient({ url: node.apiUrl })
    const bytes = bytesOf(3_000_000, 1)
    const root = await api.storeAddFile(new Blob([bytes]), { name: 'model.weft' })
    expect(root).toMatchObject({ name: 'model.weft', kind: 'file', size: 3_000_000, pinned: true })
    const list = await api.storeList()
    expect(list.roots.map((r) => r.cid)).toContain(root.cid)
    expect(list.usage.usedBytes).toBeGreaterThan(3_000_000)
    expect(await api.storeStat(root.cid)).toMatchObject({ cid: root.cid, missing: 0, blocks: 4 })
    const content = await api.storeContent(root.cid)
    expect(content.size).toBe(3_000_000)
    expect(Buffer.compare(await readAll(content.body), Buffer.from(bytes))).toBe(0)
  })

  it('exports a CAR that another node imports with the same root and bytes', async () => {
    const api = createApiClient({ url: node.apiUrl })
    const bytes = bytesOf(1_500_000, 2)
    const root = await api.storeAddFile(new Blob([bytes]))
    const car = await readAll(await api.storeExportCar(root.cid))
    const theirs = createApiClient({ url: other.apiUrl })
    const imported = await theirs.storeImportCar(new Blob([car]))
    expect(imported.roots.map((r) => r.cid)).toEqual([root.cid])
    expect(Buffer.compare(await readAll((await theirs.storeContent(root.cid)).body), Buffer.from(bytes))).toBe(0)
  })

  it('builds a directory over added roots, and gc keeps only what pinned roots need', async () => {
    const api = createApiClient({ url: other.apiUrl })
    const a = await api.storeAddFile(new Blob([bytesOf(100, 3)]), { pin: false })
    const b = await api.storeAddFile(new Blob([bytesOf(200, 4)]), { pin: false })
    const dir = await api.storeAddDirectory(
      [
        { name: 'a.bin', cid: a.cid },
        { name: 'b.bin', cid: b.cid },
      ],
      { name: 'shards' },
    )
    expect(dir).toMatchObject({ kind: 'directory', size: 300, pinned: true })
    expect((await api.storeStat(dir.cid)).entries?.map((e) => e.name)).toEqual(['a.bin', 'b.bin'])
    await api.storeGc()
    expect(Buffer.from(await readAll((await api.storeContent(a.cid)).body))).toHaveLength(100)
    await api.storeUnpin(dir.cid)
    const gc = await api.storeGc()
    expect(gc.removedBlocks).toBe(3)
    await expect(api.storeStat(dir.cid)).rejects.toMatchObject({ status: 404 })
    await expect(api.storePin(dir.cid)).rejects.toMatchObject({ status: 409, code: 'incomplete' })
  })

  it('refuses an upload past the quota with 413, naming store.maxBytes and what is used', async () => {
    const api = createApiClient({ url: node.apiUrl })
    const err = await api.storeAddFile(new Blob([bytesOf(6_000_000, 5)])).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 413, code: 'store-full', detail: expect.stringMatching(/store\.maxBytes is 8388608 bytes, \d+ are used/) })
  })

  it('refuses uploads of other content types, bad CIDs, and unknown jobs to publish', async () => {
    const res = await fetch(`${node.apiUrl}/v1/store/files`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
    expect(res.status).toBe(415)
    const api = createApiClient({ url: node.apiUrl })
    await expect(api.storeStat('not-a-cid')).rejects.toMatchObject({ status: 400 })
    await expect(api.storeStat('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')).rejects.toMatchObject({ status: 404 })
    await expect(api.storePublishModel('fl-nope', 'last')).rejects.toMatchObject({ status: 404 })
  })
})
