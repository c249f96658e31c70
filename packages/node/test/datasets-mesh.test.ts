// Data sets by CID (issue 16): FASHION_MNIST_CID rebuilt from the package; a node without the bundled package
// (WEFT_DATA_SEARCH=mesh) gets Fashion-MNIST from a peer that published it, checked, and loads it; with no provider
// the error names every source tried; a peer that publishes other bytes under the file names gets nothing written.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { createApiClient } from '@weft/api-client'
import { FASHION_MNIST_CID } from '@weft/data'
import { dir as bundledDir, files as bundledFiles } from '@weft/dataset-fashion-mnist'
import { addDirectory, addFile, createMemoryBlockstore, parseCid } from '@weft/store'
import { addPath } from '@weft/store/node'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { NodeContext } from '@weft/node'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

/** A node whose context the test can reach (to load data sets as the FL client does). */
async function startWithContext(): Promise<{ node: TestNode; ctx: NodeContext }> {
  let ctx: NodeContext | undefined
  const probe = (c: NodeContext) => {
    ctx = c
    return { name: 'test-probe', start() {}, stop() {} }
  }
  const node = await startTestNode({}, { extraComponents: [probe] })
  return { node, ctx: ctx as unknown as NodeContext }
}

describe('data sets by CID (issue 16)', () => {
  let publisher: TestNode
  let fetcher: { node: TestNode; ctx: NodeContext }

  beforeAll(async () => {
    vi.stubEnv('WEFT_DATA_SEARCH', 'mesh')
    publisher = await startTestNode()
    fetcher = await startWithContext()
  }, 60_000)
  afterAll(async () => {
    vi.unstubAllEnvs()
    await Promise.all([publisher, fetcher?.node].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('FASHION_MNIST_CID is the root of the package folder built with the default layout', async () => {
    const sink = createMemoryBlockstore()
    const entries = []
    for (const name of Object.keys(bundledFiles).sort()) {
      const added = await addFile([readFileSync(join(bundledDir, name))], sink)
      entries.push({ name, cid: added.cid, size: added.size, dagSize: added.dagSize })
    }
    expect((await addDirectory(entries, sink)).cid.toString()).toBe(FASHION_MNIST_CID)
  })

  it('with no provider, loading fails naming every source tried, the mesh among them', async () => {
    const config = { name: 'fm', source: 'fashion-mnist', split: 'test' as const }
    const err = (await fetcher.ctx
      .get('datasets')
      .load(config)
      .catch((e: unknown) => e)) as Error & { searched: string[] }
    expect(err.name).toBe('DatasetNotFoundError')
    const text = err.searched.join('\n')
    expect(text).toContain('the @weft/dataset-fashion-mnist package: skipped by WEFT_DATA_SEARCH')
    expect(text).toMatch(/datasets\/fashion-mnist: no files/)
    expect(text).toMatch(/fetch from the mesh into .*: no peer provides bafy/)
    expect(text).toContain('skipped by WEFT_DATA_SEARCH')
  }, 30_000)

  it('a node without the package gets Fashion-MNIST from a peer that published it, checked, and loads it', async () => {
    const root = await addPath(publisher.store!, bundledDir, { recursive: true, name: 'fashion-mnist' })
    expect(root.cid).toBe(FASHION_MNIST_CID)
    await publisher.blockExchange!.announce(parseCid(root.cid))
    await connect(fetcher.node, publisher)

    const started = Date.now()
    const data = await fetcher.ctx.get('datasets').load({ name: 'fm', source: 'fashion-mnist', split: 'test' })
    const ms = Date.now() - started
    expect(data.size).toBe(10_000)
    expect(data.featureShape).toEqual([28, 28, 1])
    const dir = join(fetcher.node.config.dataDir, 'datasets', 'fashion-mnist')
    expect(readdirSync(dir).sort()).toEqual(Object.keys(bundledFiles).sort())
    for (const [name, f] of Object.entries(bundledFiles)) expect(readFileSync(join(dir, name)).length).toBe(f.size)
    // The fetcher now holds and serves the set too (edge caching).
    expect(fetcher.node.blockExchange!.announced(parseCid(FASHION_MNIST_CID))).toBe(true)
    console.log(`Fashion-MNIST (30.9 MB, 4 files) fetched from one peer and the test split loaded in ${ms} ms`)

    // The API route (weft data get) answers from the store now: nothing more is fetched.
    const api = createApiClient({ url: fetcher.node.apiUrl })
    const again = await api.datasetFetch('fashion-mnist')
    expect(again).toMatchObject({ name: 'fashion-mnist', cid: FASHION_MNIST_CID, dir, fetched: null })
    expect(again.files.map((f) => f.name).sort()).toEqual(Object.keys(bundledFiles).sort())
  }, 60_000)

  it('attacker: a folder published under the file names with other content is refused and nothing is written', async () => {
    const fake = []
    for (const name of Object.keys(bundledFiles).sort()) {
      const added = await addFile([gzipSync(Buffer.from(`not ${name}`))], publisher.store!)
      fake.push({ name, cid: added.cid })
    }
    const root = await publisher.store!.addDirectory(fake, { name: 'fake-fashion-mnist' })
    await publisher.blockExchange!.announce(parseCid(root.cid))
    const victim = await startTestNode()
    try {
      await connect(victim, publisher)
      const api = createApiClient({ url: victim.apiUrl })
      const err = (await api.datasetFetch('fashion-mnist', { cid: root.cid }).catch((e: unknown) => e)) as Error & { status: number; code: string }
      expect(err).toMatchObject({ name: 'ApiError', status: 502, code: 'bad-content' })
      expect(err.message).toMatch(/SHA-256 mismatch|bytes/)
      expect(existsSync(join(victim.config.dataDir, 'datasets', 'fashion-mnist'))).toBe(false)
      const unknown = (await api.datasetFetch('imagenet').catch((e: unknown) => e)) as { status: number }
      expect(unknown.status).toBe(404)
    } finally {
      await victim.stop()
    }
  }, 60_000)
})
