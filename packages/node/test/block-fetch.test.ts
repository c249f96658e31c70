// The swarming fetcher alone (no libp2p): providers injected as functions over in-memory stores.
import { addFile, type Blockstore, blockKey, createMemoryBlockstore, type DagLayout, parseCid, readFile } from '@weft/store'
import { describe, expect, it } from 'vitest'
import { type BlocksAnswer, fetchDag } from '../src/block-fetch.js'

const LAYOUT: DagLayout = { chunkSize: 1024, maxChildren: 4, maxDirectoryNodeBytes: 262_144 }

async function source(): Promise<{ store: Blockstore; root: Awaited<ReturnType<typeof addFile>>['cid']; bytes: Uint8Array }> {
  const store = createMemoryBlockstore()
  const bytes = new Uint8Array(40_000).map((_, i) => (i * 7919) % 251)
  const added = await addFile([bytes], store, { layout: LAYOUT })
  return { store, root: added.cid, bytes }
}

const honest =
  (store: Blockstore) =>
  async (cids: readonly string[]): Promise<BlocksAnswer> => {
    const blocks = []
    for (const cid of cids) {
      const data = await store.get(parseCid(cid))
      if (data !== undefined) blocks.push({ cid, data })
    }
    return { blocks, missing: [] }
  }

async function bytesOf(store: Blockstore, root: Parameters<typeof readFile>[1]): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of readFile(store, root)) parts.push(p)
  return Buffer.concat(parts)
}

describe('fetchDag', () => {
  it('drops a provider whose calls fail and completes from the other, each block fetched once', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const result = await fetchDag({ store, request: async (peer, cids) => (peer === 'down' ? Promise.reject(new Error('connection reset')) : serve(cids)) }, src.root, {
      providers: ['down', 'up'],
      batch: 2,
    })
    expect(result.ok).toBe(true)
    expect(result.dropped).toEqual([{ peer: 'down', reason: 'failed', detail: 'connection reset' }])
    expect(result.providers).toEqual({ up: store.size })
    expect((await bytesOf(store, src.root)).equals(Buffer.from(src.bytes))).toBe(true)
  })

  it('gives up with no-providers, keeping what arrived, when no provider holds the rest and discovery finds none', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    let discovered = 0
    const result = await fetchDag(
      {
        store,
        // Serves the root only: everything else is answered missing.
        request: async (_peer, cids) => (cids[0] === blockKey(src.root) ? serve(cids) : { blocks: [], missing: [...cids] }),
        discover: async () => {
          discovered++
          return []
        },
      },
      src.root,
      { providers: ['partial'] },
    )
    expect(result).toMatchObject({ ok: false, reason: 'no-providers', blocks: 1, dropped: [{ peer: 'partial', reason: 'has-nothing' }] })
    expect(discovered).toBeGreaterThan(0)
    expect(await store.has(src.root)).toBe(true)
  })

  it('ends the fetch with the store’s own refusal (a full quota), not a dropped provider', async () => {
    const src = await source()
    const full: Blockstore = { has: async () => false, get: async () => undefined, put: async () => Promise.reject(Object.assign(new Error('quota'), { name: 'StoreFullError' })) }
    await expect(fetchDag({ store: full, request: (_p, cids) => honest(src.store)(cids) }, src.root, { providers: ['up'] })).rejects.toThrow('quota')
  })

  it('keeps a provider\'s whole window of requests in flight, each sized to the bytes one answer carries', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    let inFlight = 0
    let most = 0
    const asked: number[] = []
    const result = await fetchDag(
      {
        store,
        request: async (_peer, cids) => {
          inFlight++
          most = Math.max(most, inFlight)
          asked.push(cids.length)
          // Answers come back only after every request of a wave is out, as over a network.
          await new Promise((r) => setTimeout(r, 5))
          inFlight--
          return serve(cids)
        },
      },
      src.root,
      // 1 KiB leaves: at most 3 fit a 3 KiB answer, whatever the batch allows.
      { providers: ['p'], window: 4, batch: 8, batchBytes: 3 * 1024 },
    )
    expect(result.ok).toBe(true)
    expect(most).toBe(4)
    expect(Math.max(...asked)).toBe(3)
    expect((await bytesOf(store, src.root)).equals(Buffer.from(src.bytes))).toBe(true)
  })
})
