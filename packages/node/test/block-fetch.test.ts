// The swarming fetcher alone (no libp2p): providers injected as functions over in-memory stores.
import { addFile, type Blockstore, blockKey, createMemoryBlockstore, type DagLayout, dagBlocks, parseCid, readFile } from '@weft/store'
import { describe, expect, it } from 'vitest'
import { type BlocksAnswer, fetchDag } from '../src/block-fetch.js'

/** A seeded generator in [0, 1) (mulberry32): deterministic block orders. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

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
  it('waits as told by a provider at its serve rate (busy, not lacking): not dropped, asked again after the wait', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const asked: number[] = []
    let busy = 3
    const result = await fetchDag(
      {
        store,
        request: async (_peer, cids) => {
          asked.push(Date.now())
          if (busy > 0) {
            busy--
            return { blocks: [], missing: [...cids], retryAfterMs: 60 }
          }
          return serve(cids)
        },
      },
      src.root,
      { providers: ['capped'], batch: 2, notYetTries: 1 },
    )
    // A complete holder answering "all missing" three times would have been dropped at once; busy answers count for nothing.
    expect(result.ok, JSON.stringify({ ...result, providers: result.providers })).toBe(true)
    expect(result.dropped).toEqual([])
    expect(result.providers).toEqual({ capped: store.size })
    for (let i = 1; i <= 3; i++) expect((asked[i] as number) - (asked[i - 1] as number)).toBeGreaterThanOrEqual(55)
    expect((await bytesOf(store, src.root)).equals(Buffer.from(src.bytes))).toBe(true)
  })

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
    const emptyAt: number[] = []
    const result = await fetchDag(
      {
        store,
        // Serves the root only: everything else is answered missing.
        request: async (_peer, cids) => {
          if (cids[0] === blockKey(src.root)) return serve(cids)
          emptyAt.push(performance.now())
          return { blocks: [], missing: [...cids] }
        },
        discover: async () => {
          discovered++
          return []
        },
      },
      src.root,
      // It delivered the root, so it counts as a partial holder: asked again (3 times, 5 ms apart) before it is dropped.
      { providers: ['partial'], notYetTries: 3, notYetMs: 5 },
    )
    expect(result).toMatchObject({ ok: false, reason: 'no-providers', blocks: 1, dropped: [{ peer: 'partial', reason: 'has-nothing' }] })
    // Asked again after waits of 5 and 10 ms at least (a lower bound only).
    expect((emptyAt.at(-1) ?? 0) - (emptyAt[0] ?? 0)).toBeGreaterThanOrEqual(14)
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

  it('asks a partial holder again after a wait instead of dropping it, and gets the blocks it fetched meanwhile', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    let calls = 0
    const result = await fetchDag(
      {
        store,
        // Holds nothing for its first three calls (it is fetching too), then everything.
        request: async (_peer, cids) => (++calls <= 3 ? { blocks: [], missing: [...cids] } : serve(cids)),
      },
      src.root,
      { providers: [{ peer: 'p', partial: true }], window: 1, notYetMs: 5 },
    )
    expect(result).toMatchObject({ ok: true, dropped: [], providers: { p: store.size } })
    expect(calls).toBeGreaterThan(3)
    expect((await bytesOf(store, src.root)).equals(Buffer.from(src.bytes))).toBe(true)
  })

  it('still drops a complete holder that has none of the blocks (has-nothing) and completes from another', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const result = await fetchDag(
      { store, request: async (peer, cids) => (peer === 'empty' ? { blocks: [], missing: [...cids] } : serve(cids)) },
      src.root,
      { providers: ['empty', 'up'], window: 1, batch: 64 },
    )
    expect(result).toMatchObject({ ok: true, dropped: [{ peer: 'empty', reason: 'has-nothing' }], providers: { up: store.size } })
  })

  it('asks for blocks in its own random order, so fetchers running at once start on different blocks', async () => {
    const src = await source()
    const firstLeaves = async (seed: number): Promise<string[]> => {
      const serve = honest(src.store)
      const asked: string[] = []
      await fetchDag(
        {
          store: createMemoryBlockstore(),
          random: seeded(seed),
          request: async (_peer, cids) => {
            asked.push(...cids)
            return serve(cids)
          },
        },
        src.root,
        { providers: ['p'], window: 1, batch: 1 },
      )
      return asked
    }
    const [one, two, again] = [await firstLeaves(1), await firstLeaves(2), await firstLeaves(1)]
    // Every block asked once in each, in another order for another seed, the same for the same seed.
    expect(new Set(one).size).toBe(one.length)
    expect([...one].sort()).toEqual([...two].sort())
    expect(one).not.toEqual(two)
    expect(one).toEqual(again)
  })

  it('asks another provider for blocks stalled at one that does not answer, and ends without waiting for it', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    let stuck = 0
    const cancelled: string[] = []
    const result = await fetchDag(
      {
        store,
        random: seeded(3),
        // 'stuck' never answers (until the fetch no longer needs it); 'up' serves everything.
        request: (peer, cids, signal) => {
          if (peer === 'up') return serve(cids)
          stuck++
          return new Promise((_resolve, reject) =>
            signal.addEventListener(
              'abort',
              () => {
                cancelled.push(String((signal.reason as Error).message))
                reject(signal.reason)
              },
              { once: true },
            ),
          )
        },
      },
      src.root,
      { providers: ['up', 'stuck'], window: 1, batch: 4, stallMs: 20 },
    )
    expect(stuck).toBeGreaterThan(0)
    // A request whose blocks all came from 'up' is cancelled as soon as they did (not only when the fetch ends).
    expect(cancelled.some((m) => m.includes('arrived from another provider'))).toBe(true)
    expect(result).toMatchObject({ ok: true, dropped: [], providers: { up: store.size } })
    expect((await bytesOf(store, src.root)).equals(Buffer.from(src.bytes))).toBe(true)
  })

  it('runs discovery again while it fetches and uses a partial holder that turned up after it started', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const contexts: number[] = []
    let late = false
    const result = await fetchDag(
      {
        store,
        // 'slow' holds everything but answers after 30 ms; 'late' is found by the second discovery, partial.
        request: async (peer, cids) => {
          if (peer === 'late') return serve(cids)
          await new Promise((r) => setTimeout(r, 30))
          return serve(cids)
        },
        discover: async (exclude, _signal, { inUse }) => {
          contexts.push(inUse)
          if (contexts.length < 2 || exclude.has('late')) return []
          late = true
          return [{ peer: 'late', partial: true }]
        },
      },
      src.root,
      { providers: ['slow'], window: 1, batch: 1, rediscoverMs: 20 },
    )
    expect(late).toBe(true)
    // Discovery ran with a provider in use (a quick look, not a wide search).
    expect(contexts.every((n) => n > 0)).toBe(true)
    expect(result.ok).toBe(true)
    expect(result.providers.late).toBeGreaterThan(0)
    expect((result.providers.late ?? 0) + (result.providers.slow ?? 0)).toBe(store.size)
  })

  it('uses at most maxProviders at once, whatever discovery returns', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const asked = new Set<string>()
    const result = await fetchDag(
      {
        store,
        request: async (peer, cids) => {
          asked.add(peer)
          return serve(cids)
        },
        discover: async () => Array.from({ length: 50 }, (_, i) => `p${i}`),
      },
      src.root,
      { maxProviders: 3, batch: 1 },
    )
    expect(result.ok).toBe(true)
    expect(asked.size).toBe(3)
  })

  it('asks a partial holder only for what it said it holds, and a complete one first for what no partial holder has', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    const all: string[] = []
    for await (const { cid } of dagBlocks(src.store, src.root)) all.push(blockKey(cid))
    // The partial holder has every other block below the root.
    const held = new Set(all.slice(1).filter((_, i) => i % 2 === 0))
    const asked: Record<string, string[]> = { origin: [], p: [] }
    const result = await fetchDag(
      {
        store,
        random: seeded(5),
        request: async (peer, cids) => {
          asked[peer]?.push(...cids)
          if (peer === 'p') return serve(cids.filter((k) => held.has(k)))
          // The origin is the slower one (as a source many fetch from is).
          await new Promise((r) => setTimeout(r, 5))
          return serve(cids)
        },
      },
      src.root,
      // The partial holder has nothing of use until the root's children are known: its waits are kept short.
      { providers: ['origin', { peer: 'p', partial: true, held: [...held] }], window: 1, batch: 2, notYetMs: 1, notYetMaxMs: 2 },
    )
    expect(result.ok).toBe(true)
    expect(result.dropped).toEqual([])
    expect(asked.p?.length).toBeGreaterThan(0)
    expect(asked.p?.every((k) => held.has(k))).toBe(true)
    // Rarest first: the origin's first blocks below the root are ones the partial holder does not have.
    const originBelowRoot = (asked.origin ?? []).filter((k) => k !== blockKey(src.root))
    expect(originBelowRoot.length).toBeGreaterThan(0)
    expect(held.has(originBelowRoot[0] as string)).toBe(false)
    expect((result.providers.origin ?? 0) + (result.providers.p ?? 0)).toBe(store.size)
  })

  it('asks a partial holder what it holds again when it has nothing of use, and uses what it got since', async () => {
    const src = await source()
    const store = createMemoryBlockstore()
    const serve = honest(src.store)
    let holdingsAsked = 0
    const result = await fetchDag(
      {
        store,
        request: async (_peer, cids) => serve(cids),
        // At first it says it holds nothing; asked again, it holds everything.
        holdings: async () => {
          holdingsAsked++
          const all: string[] = []
          for await (const { cid } of dagBlocks(src.store, src.root)) all.push(blockKey(cid))
          return { complete: false, held: all }
        },
      },
      src.root,
      { providers: [{ peer: 'p', partial: true, held: [] }], notYetMs: 5 },
    )
    expect(holdingsAsked).toBeGreaterThan(0)
    expect(result).toMatchObject({ ok: true, dropped: [], providers: { p: store.size } })
  })
})
