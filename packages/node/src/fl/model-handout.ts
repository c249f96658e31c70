// The node's ModelHandout (@weft/fl-mesh): FL models handed out by CID through this node's block store and block
// exchange. A round's model is a pinned root served only to the peers the FL roles name (never announced nor
// provided in the DHT); releasing it unserves and unpins it, so gc takes it. Roots are counted by holder, so a
// model two jobs share (same seed, same model) stays until both release it, and a root pinned before (by a user)
// stays pinned. The coordinator's FL store holds each round model under the same root (a hold, not a pin): a hand-out
// pins it without writing it again, and its release unpins it and leaves the FL store's hold (nor does the FL store
// releasing its hold unpin a hand-out).
import type { HandoutFetch, ModelHandout } from '@weft/fl-mesh'
import { addFile, type CID, parseCid } from '@weft/store'
import type { DiskStore } from '@weft/store/node'
import type { BlockExchange } from '../components/block-exchange.js'
import { readStoredFile } from '../store-read.js'

interface Held {
  holders: number
  /** Every peer any holder asked to serve it to. */
  readonly peers: Set<string>
  /** Pinned before the first hold: left pinned at the last release. */
  readonly pinnedBefore: boolean
}

/** Most roots held for hand-outs at once (a few per job). */
const MAX_HELD = 1000

export function blockStoreHandout(store: DiskStore, exchange: BlockExchange): ModelHandout {
  const held = new Map<string, Held>()

  const hold = async (root: CID, pinnedBefore: boolean): Promise<Held> => {
    const key = root.toString()
    let h = held.get(key)
    if (h === undefined) {
      if (held.size >= MAX_HELD) throw new RangeError(`at most ${MAX_HELD} hand-out roots may be held`)
      h = { holders: 0, peers: new Set(), pinnedBefore }
      held.set(key, h)
    }
    h.holders++
    return h
  }
  const serve = async (root: CID, h: Held, peers: readonly string[]): Promise<void> => {
    for (const p of peers) h.peers.add(p)
    await exchange.serveTo(root, h.peers)
  }

  /** Reads a complete file root's bytes, refusing it past `maxBytes`. */
  const read = async (root: CID, maxBytes: number): Promise<Uint8Array> => {
    const stat = await store.stat(root)
    if (stat === undefined || stat.kind !== 'file') throw new Error(`${root} is not a file`)
    if (stat.size > maxBytes) throw new Error(`${root} is ${stat.size} bytes; a model hand-out may be at most ${maxBytes}`)
    return readStoredFile(store, root, stat.size)
  }

  return {
    async put(bytes, peers, name) {
      const cid = await rootOf(bytes)
      const stat = await store.stat(cid)
      // The coordinator's FL store holds every round model already (the same root): pinned, not written again.
      const row = stat?.kind === 'file' && stat.missing === 0 ? await store.pin(cid, { name }) : await store.addFile([bytes], { name, pin: true })
      const root = parseCid(row.cid)
      await serve(root, await hold(root, stat?.pinned === true), peers)
      return row.cid
    },
    async serve(cid, peers) {
      const h = held.get(cid)
      if (h === undefined) throw new Error(`${cid} is not held for a hand-out here`)
      await serve(parseCid(cid), h, peers)
    },
    async fetch(cid, providers, options): Promise<HandoutFetch> {
      let root: CID
      try {
        root = parseCid(cid)
      } catch (err) {
        return { ok: false, reason: `not a CID: ${(err as Error).message}`, blocks: {} }
      }
      const before = (await store.stat(root))?.pinned === true
      // A DAG that grows past what the task's model can be stops the fetch there: a hostile coordinator naming a huge
      // root costs this node at most the bound, not its store quota.
      const limit = dagBound(options.maxBytes)
      const tooLarge = new AbortController()
      let r: Awaited<ReturnType<BlockExchange['fetch']>>
      try {
        r = await exchange.fetch(root, {
          providers,
          signal: AbortSignal.any([options.signal, tooLarge.signal]),
          announce: false,
          ...(options.serveTo !== undefined ? { serveTo: options.serveTo } : {}),
          onProgress: (p) => {
            if (p.bytes > limit) tooLarge.abort(new RangeError(`${cid} is over ${limit} bytes; a model hand-out may be at most ${options.maxBytes}`))
          },
        })
      } catch (err) {
        if (!tooLarge.signal.aborted) throw err
        return { ok: false, reason: (tooLarge.signal.reason as Error).message, blocks: {} }
      }
      if (!r.ok) return { ok: false, reason: `no provider could serve ${cid}: ${r.detail}`, blocks: r.providers }
      const h = await hold(root, before)
      try {
        return { ok: true, bytes: await read(root, options.maxBytes), blocks: r.providers }
      } catch (err) {
        release(cid, h)
        return { ok: false, reason: (err as Error).message, blocks: r.providers }
      }
    },
    release: (cid) => {
      const h = held.get(cid)
      if (h !== undefined) release(cid, h)
    },
  }

  function release(cid: string, h: Held): void {
    if (--h.holders > 0) return
    held.delete(cid)
    try {
      const root = parseCid(cid)
      exchange.unserve(root)
      if (!h.pinnedBefore && !exchange.announced(root)) store.unpin(root)
    } catch {
      // Unpinned meanwhile (a user's `weft store unpin`): nothing left to do.
    }
  }
}

/** Most bytes a file DAG of `fileBytes` fetches: its leaves plus its intermediate nodes (a link per 1 MiB leaf, generously). */
function dagBound(fileBytes: number): number {
  return fileBytes + Math.ceil(fileBytes / 2 ** 20) * 256 + 64 * 1024
}

/** The CID `bytes` get as a file (hashed, not stored), to tell whether that root was pinned already. */
async function rootOf(bytes: Uint8Array): Promise<CID> {
  return (await addFile([bytes], { put: async () => {} })).cid
}
