// The block store on the mesh: serves blocks of announced DAGs (`store/blocks`, `store/have`), provides announced
// roots in the DHT (refreshed), finds providers (connected peers first, then the DHT, bounded in time) and fetches
// DAGs from several of them at once (block-fetch.ts). Roots never announced (private artifacts) are never served,
// except a root served to a named set of peers only (an FL round's model to the job's clients), which is neither
// provided in the DHT nor answered to anyone else. A root being fetched to be served is served block by block to the
// same audience while it is fetched (a partial holder); gossip hints on `weft/store/1` name who holds or fetches a
// root, and store/blocks may be capped in bytes per second.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  abortAfter,
  encodeBlocksAnswer,
  MAX_BLOCKS_PER_REQUEST,
  MAX_BLOCKS_RESPONSE_BYTES,
  MAX_CID_STRING,
  MAX_HAVE_HELD,
  MAX_STORE_HINT_BYTES,
  STORE_BLOCKS,
  STORE_HAVE,
  STORE_HINTS_TOPIC,
  StoreHintSchema,
} from '@weft/protocol'
import { BlocksMissingError, blockKey, type CID, dagCids, missingBlocks, parseCid, walkDagStructure } from '@weft/store'
import { storeDir } from '@weft/store/node'
import { type DropReason, type FetchDagResult, type FetchProgress, fetchDag, type Holder, parseWireCids } from '../block-fetch.js'
import type { NodeComponentFactory } from '../component.js'
import { createHintBook } from '../store-hints.js'
import { createTokenBucket } from '../token-bucket.js'

/** What the rest of the node asks of the block exchange. */
export interface BlockExchange {
  /** Serves `root`'s DAG (complete here) to the mesh and provides it in the DHT. @throws BlocksMissingError when incomplete */
  announce(root: CID): Promise<void>
  /**
   * Stops serving `root` to the mesh and providing it (its DHT records are no longer refreshed and expire); it stays
   * in the store as it was (pinned or not). Blocks another announced root reaches are still served.
   * @returns whether it was announced
   */
  unannounce(root: CID): Promise<boolean>
  /** Whether `root` is announced here. */
  announced(root: CID): boolean
  /**
   * Serves `root`'s DAG (complete here) to `peers` only, until `unserve`: not provided in the DHT, not recorded in
   * `announced.json`, answered missing to every other peer. A second call replaces the set.
   * @throws BlocksMissingError when incomplete, RangeError past the bound on such roots
   */
  serveTo(root: CID, peers: Iterable<string>): Promise<void>
  /** Stops serving a root that `serveTo` named (it stays pinned; nothing if it was not served so). */
  unserve(root: CID): void
  /**
   * Providers of `root`: connected peers that hold it, then the DHT (unless its routing table is empty), within
   * `timeoutMs` (default 10 s).
   */
  findProviders(root: CID, options?: { timeoutMs?: number; exclude?: ReadonlySet<string>; signal?: AbortSignal }): Promise<string[]>
  /**
   * Complete and partial holders of `root`: connected peers (at most 64) asked `store/have`, then, when none of them
   * is complete, DHT provider records (at most 8), within `timeoutMs` (default 10 s). At most 16 are returned,
   * complete holders first.
   */
  findHolders(root: CID, options?: { timeoutMs?: number; exclude?: ReadonlySet<string>; signal?: AbortSignal; /** Ask the DHT (default true). */ dht?: boolean }): Promise<Holder[]>
  /**
   * Fetches `root`'s missing blocks from the mesh, pins it and (unless `store.provideFetched` is false) announces it.
   * @throws the signal's reason when aborted (blocks already fetched stay: a later fetch resumes)
   */
  fetch(
    root: CID,
    options?: {
      providers?: readonly string[]
      signal?: AbortSignal
      onProgress?: (p: FetchProgress) => void
      window?: number
      batch?: number
      /** Announce the root once fetched (default: `store.provideFetched`); false only pins it (a private artifact). */
      announce?: boolean
      /**
       * Serve the root to these peers only once fetched (as `serveTo`, merged with any set it has), and its blocks
       * stored so far to them while fetching. Ignored when the root is announced (served to everyone).
       */
      serveTo?: readonly string[]
    },
  ): Promise<FetchDagResult>
  /** Peers whose gossip hints (topic `weft/store/1`) say they hold or are fetching `root`, unchecked, most recent first. */
  hinted(root: CID): string[]
  /** Roots the gossip hints kept here name (bounded). */
  readonly hintedRoots: number
  /** Providers dropped by fetches for a bad block, most recent last (bounded). */
  readonly badProviders: readonly { readonly peer: string; readonly root: string; readonly reason: DropReason; readonly detail: string; readonly at: number }[]
}

const MAX_ANNOUNCED = 100_000
/** Roots served to named peers at once (a few per FL job coordinated or joined here). */
const MAX_SERVED_TO = 1000
const MAX_BAD_RECORDS = 1000
const HAVE_TIMEOUT_MS = 2000
/** Most peers one search for holders asks `store/have`. */
const MAX_PROBED = 64
/** How long a search for holders waits for the other probes once a complete holder answered. */
const PROBE_GRACE_MS = 250
/** Most holders one search returns (and providers one fetch uses). */
const MAX_HOLDERS = 16

export const blockExchangeComponent: NodeComponentFactory = (ctx) => {
  let timer: ReturnType<typeof setInterval> | undefined
  let unsubscribe: (() => void) | undefined
  const stopController = new AbortController()
  return {
    name: 'block-exchange',
    dependsOn: ['mesh', 'store'],
    async start() {
      const store = ctx.find('store')
      if (store === undefined) return
      const mesh = ctx.get('mesh')
      const log = ctx.logger.child({ component: 'block-exchange' })
      const { config } = ctx
      const file = join(storeDir(config.dataDir), 'announced.json')
      const roots = new Map<string, CID>()
      /** Blocks served: every block of an announced root. */
      const served = new Set<string>()
      const badProviders: BlockExchange['badProviders'][number][] = []
      /** Roots served to named peers only: who may fetch them, and their blocks. */
      const servedTo = new Map<string, { peers: ReadonlySet<string>; blocks: ReadonlySet<string> }>()
      const servesTo = (peer: string, key: string, byRoot: boolean): boolean => {
        for (const [root, entry] of servedTo) {
          if (entry.peers.has(peer) && (byRoot ? root === key : entry.blocks.has(key))) return true
        }
        return false
      }
      /** Blocks in each announced root's DAG (what `store/have` reports). */
      const counts = new Map<string, number>()
      /**
       * Roots being fetched to be served once complete (announced, or to named peers): the blocks verified and stored
       * so far, served meanwhile to the same audience. `fetches` counts the fetches of the root in progress here.
       */
      const partials = new Map<string, { blocks: Set<string>; to: ReadonlySet<string> | 'all'; fetches: number }>()
      const partialFor = (peer: string, root: string) => {
        const entry = partials.get(root)
        return entry !== undefined && (entry.to === 'all' || entry.to.has(peer)) ? entry : undefined
      }
      const servesPartial = (peer: string, key: string): boolean => {
        for (const entry of partials.values()) {
          if (entry.blocks.has(key) && (entry.to === 'all' || entry.to.has(peer))) return true
        }
        return false
      }

      // Gossip hints: who announced a root or started fetching one to announce. Kept bounded and expiring; a hint only
      // makes its author a candidate that findHolders asks store/have.
      const hints = createHintBook({ now: ctx.now })
      const hintTopic = mesh.pubsub.topic(STORE_HINTS_TOPIC, StoreHintSchema, {
        maxBytes: MAX_STORE_HINT_BYTES,
        validate: (hint, from) => {
          if (from === undefined) return { ok: false, reason: 'a store hint must be signed (its author is the holder)', penalize: true }
          if (hint.root.length > MAX_CID_STRING || parseWireCids([hint.root]).length === 0) return { ok: false, reason: 'a store hint must name a CID', penalize: true }
          if (hint.size > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: `a store hint's size must be a safe integer, got ${hint.size}`, penalize: true }
          return { ok: true }
        },
      })
      const stopHints = hintTopic.subscribe((hint, from) => {
        if (from === mesh.peerId || from === 'unknown') return
        const [cid] = parseWireCids([hint.root])
        if (cid !== undefined) hints.add(blockKey(cid), from)
      })
      unsubscribe = stopHints
      /** Tells the mesh this node holds `root` (complete) or is fetching it to announce it. */
      const hint = (root: CID, complete: boolean, size = 0): void => {
        hintTopic.publish({ root: root.toString(), size: BigInt(size), complete }).catch((err: Error) => {
          log.debug({ root: root.toString(), err: err.message }, 'store: publishing a hint failed (the DHT record still names this node)')
        })
      }

      const save = (): void => {
        writeFileSync(`${file}.tmp`, JSON.stringify([...roots.keys()]), { mode: 0o600 })
        renameSync(`${file}.tmp`, file)
      }
      const index = async (root: CID): Promise<boolean> => {
        if ((await missingBlocks(store, root, 1)).length > 0) return false
        let n = 0
        for await (const cid of dagCids(store, root)) {
          served.add(blockKey(cid))
          n++
        }
        counts.set(blockKey(root), n)
        return true
      }
      const provide = async (root: CID): Promise<void> => {
        try {
          await mesh.libp2p.contentRouting.provide(root, { signal: abortAfter(30_000, stopController.signal) })
        } catch (err) {
          log.debug({ root: root.toString(), err: (err as Error).message }, 'store: providing a root in the DHT failed (retried at the next refresh)')
        }
      }

      if (existsSync(file)) {
        for (const s of JSON.parse(readFileSync(file, 'utf8')) as unknown[]) {
          if (typeof s !== 'string') continue
          try {
            const cid = parseCid(s)
            if (await index(cid)) roots.set(blockKey(cid), cid)
          } catch {
            // An unreadable entry: not served.
          }
        }
      }

      // store.serveBytesPerSecond: every answer waits for its bytes, whoever asks; past the longest wait, the caller is
      // told to come back later (nothing sent), so the rate holds however many ask at once.
      const serveRate = config.store.serveBytesPerSecond > 0 ? createTokenBucket({ ratePerSecond: config.store.serveBytesPerSecond, now: ctx.now }) : undefined
      await mesh.rpc.handle(STORE_BLOCKS, async (req, rpcCtx) => {
        if (req.cids.length > MAX_BLOCKS_PER_REQUEST) throw new RangeError(`at most ${MAX_BLOCKS_PER_REQUEST} CIDs per request, got ${req.cids.length}`)
        const blocks: { cid: string; data: Uint8Array }[] = []
        const missing: string[] = []
        let budget = MAX_BLOCKS_RESPONSE_BYTES
        for (const s of req.cids) {
          const [cid] = s.length <= MAX_CID_STRING ? parseWireCids([s]) : []
          const key = cid === undefined ? undefined : blockKey(cid)
          // A block past the answer's budget is left for a later call before its file is read.
          const allowed = key !== undefined && (served.has(key) || servesTo(rpcCtx.peer, key, false) || servesPartial(rpcCtx.peer, key))
          const size = allowed ? store.blockSize(key) : undefined
          const data = cid !== undefined && size !== undefined && size <= budget ? await store.get(cid) : undefined
          if (data === undefined || data.byteLength > budget) {
            missing.push(s.slice(0, MAX_CID_STRING))
            continue
          }
          budget -= data.byteLength
          blocks.push({ cid: s, data })
        }
        const turn = serveRate?.take(MAX_BLOCKS_RESPONSE_BYTES - budget) ?? { waitMs: 0 }
        if ('retryAfterMs' in turn) {
          ctx.metrics.store.busyAnswers.inc()
          return { blocks: [], missing: req.cids.map((s) => s.slice(0, MAX_CID_STRING)), retryAfterMs: Math.max(1, Math.ceil(turn.retryAfterMs)) }
        }
        const { waitMs } = turn
        if (waitMs > 0) {
          const sent = await new Promise<boolean>((resolve) => {
            if (rpcCtx.signal.aborted) {
              resolve(false)
              return
            }
            let timer: ReturnType<typeof setTimeout> | undefined
            const onCancel = (): void => {
              clearTimeout(timer)
              resolve(false)
            }
            timer = setTimeout(() => {
              rpcCtx.signal.removeEventListener('abort', onCancel)
              resolve(true)
            }, waitMs)
            rpcCtx.signal.addEventListener('abort', onCancel, { once: true })
          })
          // The caller left while this answer waited (its blocks came from another provider): its bytes are not spent.
          if (!sent) {
            serveRate?.refund(MAX_BLOCKS_RESPONSE_BYTES - budget)
            throw rpcCtx.signal.reason
          }
        }
        ctx.metrics.store.servedBlocks.inc(blocks.length)
        ctx.metrics.store.servedBytes.inc(MAX_BLOCKS_RESPONSE_BYTES - budget)
        return { blocks, missing }
      }, {
        // The blocks go out as the buffers they were read into: no copy of an answer's 3.5 MiB on the way out.
        encode: (o) =>
          encodeBlocksAnswer({
            blocks: (o.blocks ?? []).map((b) => ({ cid: b.cid ?? '', data: b.data ?? new Uint8Array(0) })),
            missing: o.missing ?? [],
            retryAfterMs: o.retryAfterMs ?? 0,
          }),
      })
      await mesh.rpc.handle(STORE_HAVE, async (req, rpcCtx) => {
        if (req.root.length > MAX_CID_STRING) return { complete: false }
        const [cid] = parseWireCids([req.root])
        if (cid === undefined) return { complete: false }
        const key = blockKey(cid)
        const allowed = roots.has(key) || servesTo(rpcCtx.peer, key, true)
        if (allowed && (await missingBlocks(store, cid, 1)).length === 0) return { complete: true, blocks: counts.get(key) ?? servedTo.get(key)?.blocks.size ?? 0 }
        const partial = partialFor(rpcCtx.peer, key)
        if (partial !== undefined && partial.blocks.size > 0) {
          const held = [...partial.blocks].slice(-MAX_HAVE_HELD).reverse()
          return { complete: false, partial: true, blocks: partial.blocks.size, held }
        }
        return { complete: false }
      })

      const exchange: BlockExchange = {
        badProviders,
        hinted: (root) => hints.peers(blockKey(root)),
        get hintedRoots() {
          return hints.roots
        },
        announced: (root) => roots.has(blockKey(root)),
        async unannounce(root) {
          if (!roots.delete(blockKey(root))) return false
          counts.delete(blockKey(root))
          save()
          // The blocks the other announced roots reach, gathered before the swap so none of theirs goes unserved.
          const still = new Set<string>()
          for (const other of roots.values()) for await (const cid of dagCids(store, other)) still.add(blockKey(cid))
          served.clear()
          for (const key of still) served.add(key)
          return true
        },
        async serveTo(root, peers) {
          const key = blockKey(root)
          if (!servedTo.has(key) && servedTo.size >= MAX_SERVED_TO) throw new RangeError(`at most ${MAX_SERVED_TO} roots may be served to named peers`)
          const missing = await missingBlocks(store, root, 1)
          if (missing.length > 0) throw new BlocksMissingError(root.toString(), missing.map(String))
          const blocks = new Set<string>()
          for await (const cid of dagCids(store, root)) blocks.add(blockKey(cid))
          servedTo.set(key, { peers: new Set(peers), blocks })
        },
        unserve(root) {
          servedTo.delete(blockKey(root))
        },
        async announce(root) {
          const key = blockKey(root)
          if (!roots.has(key) && roots.size >= MAX_ANNOUNCED) throw new RangeError(`at most ${MAX_ANNOUNCED} roots may be announced`)
          await store.pin(root)
          await index(root)
          const fresh = !roots.has(key)
          roots.set(key, root)
          save()
          void provide(root)
          if (fresh) hint(root, true, (await store.stat(root).catch(() => undefined))?.size ?? 0)
        },
        async findProviders(root, options = {}) {
          return (await exchange.findHolders(root, options)).filter((h) => !h.partial).map((h) => h.peer)
        },
        async findHolders(root, options = {}) {
          const exclude = options.exclude ?? new Set<string>()
          const signal = abortAfter(options.timeoutMs ?? 10_000, stopController.signal, options.signal)
          const complete = new Set<string>()
          const partial = new Map<string, string[]>()
          // Peers that hinted the root first (the freshest fetchers), then connected peers.
          const candidates = [...new Set([...hints.peers(blockKey(root)), ...mesh.libp2p.getPeers().map((p) => p.toString())])]
            .filter((p) => p !== mesh.peerId && !exclude.has(p))
            .slice(0, MAX_PROBED)
          // Once one complete holder answered, the others get a short grace, not the whole probe timeout: a peer that
          // hinted a root and never answers does not hold the fetch back.
          let sawComplete: () => void = () => {}
          const completeSeen = new Promise<void>((resolve) => {
            sawComplete = resolve
          })
          const probes = Promise.all(
            candidates.map(async (peer) => {
              try {
                const r = await mesh.rpc.call(peer, STORE_HAVE, { root: root.toString() }, { timeoutMs: HAVE_TIMEOUT_MS, signal })
                if (r.complete) {
                  complete.add(peer)
                  sawComplete()
                } else if (r.partial && r.blocks > 0) partial.set(peer, r.held.slice(0, MAX_HAVE_HELD).filter((k) => k.length <= MAX_CID_STRING))
              } catch {
                // Not a holder (or gone).
              }
            }),
          )
          let grace: ReturnType<typeof setTimeout> | undefined
          await Promise.race([probes, completeSeen.then(() => new Promise<void>((resolve) => (grace = setTimeout(resolve, PROBE_GRACE_MS))))])
          clearTimeout(grace)
          // With no peer in its routing table the DHT has no one to ask: a lookup would only wait out its timeout.
          if (complete.size === 0 && options.dht !== false && mesh.libp2p.services.dht.routingTable.size > 0) {
            try {
              let n = 0
              for await (const p of mesh.libp2p.contentRouting.findProviders(root, { signal })) {
                const id = p.id.toString()
                if (id !== mesh.peerId && !exclude.has(id)) {
                  complete.add(id)
                  partial.delete(id)
                }
                if (++n >= 8 || complete.size >= 8) break
              }
            } catch (err) {
              log.debug({ root: root.toString(), err: (err as Error).message }, 'store: finding providers in the DHT ended')
            }
          }
          return [...[...complete].map((peer) => ({ peer, partial: false })), ...[...partial].map(([peer, held]) => ({ peer, partial: true, held }))].slice(0, MAX_HOLDERS)
        },
        async fetch(root, options = {}) {
          const signal = AbortSignal.any([stopController.signal, ...(options.signal ? [options.signal] : [])])
          const key = blockKey(root)
          const announce = options.announce ?? config.store.provideFetched
          const serveTo = options.serveTo ?? []
          // A root that will be served once complete is served block by block while it is fetched, to the same
          // audience (a private fetch serves nothing); the entry goes when the last fetch of it here ends.
          const audience = announce ? 'all' : serveTo.length > 0 ? new Set(serveTo) : undefined
          const partial = audience === undefined ? undefined : (partials.get(key) ?? { blocks: new Set<string>(), to: audience, fetches: 0 })
          if (partial !== undefined && audience !== undefined) {
            if (partial.to !== 'all') partial.to = audience === 'all' ? 'all' : new Set([...partial.to, ...audience])
            if (partial.fetches++ === 0 && audience === 'all') hint(root, false)
            partials.set(key, partial)
          }
          const done = (): void => {
            if (partial !== undefined && --partial.fetches === 0) partials.delete(key)
          }
          // The DAG's blocks (fetched, or here already) are held from gc until the root is pinned.
          const held = store.holding()
          // Blocks an earlier run of this fetch stored (aborted, or before a restart) are served from the start.
          if (partial !== undefined) {
            for await (const block of walkDagStructure(held, root)) if (block.held) partial.blocks.add(blockKey(block.cid))
          }
          const result = await fetchDag(
            {
              store: held,
              request: async (peer, cids, s) => {
                const r = await mesh.rpc.call(peerIdFromString(peer), STORE_BLOCKS, { cids: [...cids] }, { timeoutMs: 30_000, signal: s })
                return r
              },
              // With providers in use, a quick look for peers that started on the root since: no DHT walk.
              holdings: async (peer, s) => {
                const r = await mesh.rpc.call(peer, STORE_HAVE, { root: root.toString() }, { timeoutMs: HAVE_TIMEOUT_MS, signal: s })
                return { complete: r.complete, held: r.held.slice(0, MAX_HAVE_HELD).filter((k) => k.length <= MAX_CID_STRING) }
              },
              discover: (exclude, s, { inUse }) => exchange.findHolders(root, { exclude, signal: s, ...(inUse > 0 ? { dht: false, timeoutMs: HAVE_TIMEOUT_MS } : {}) }),
            },
            root,
            {
              ...(options.providers !== undefined ? { providers: options.providers } : {}),
              ...(options.window !== undefined ? { window: options.window } : {}),
              ...(options.batch !== undefined ? { batch: options.batch } : {}),
              signal,
              maxProviders: MAX_HOLDERS,
              ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
              ...(partial !== undefined ? { onStored: (cid: CID) => partial.blocks.add(blockKey(cid)) } : {}),
              onDrop: (peer, reason, detail) => {
                log.warn({ peer, root: root.toString(), reason, detail }, 'store: a provider was dropped from a fetch')
                if (reason === 'bad-block' || reason === 'unrequested-block') {
                  badProviders.push({ peer, root: root.toString(), reason, detail, at: ctx.now() })
                  if (badProviders.length > MAX_BAD_RECORDS) badProviders.shift()
                }
              },
            },
          ).catch((err: unknown) => {
            held.release()
            done()
            throw err
          })
          ctx.metrics.store.fetchedBlocks.inc(result.blocks)
          ctx.metrics.store.fetchedBytes.inc(result.bytes)
          ctx.metrics.store.badBlocks.inc({ source: 'peer' }, result.badBlocks)
          try {
            if (result.ok) {
              if (announce) await exchange.announce(root)
              else {
                await store.pin(root)
                if (serveTo.length > 0) await exchange.serveTo(root, [...(servedTo.get(key)?.peers ?? []), ...serveTo])
              }
            }
          } finally {
            held.release()
            done()
          }
          return result
        },
      }
      for (const root of roots.values()) void provide(root)
      timer = setInterval(() => {
        for (const root of roots.values()) void provide(root)
      }, config.store.provideIntervalMs)
      timer.unref?.()
      ctx.provide('blockExchange', exchange)
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer)
      unsubscribe?.()
      stopController.abort()
      if (ctx.find('blockExchange') === undefined) return
      ctx.withdraw('blockExchange')
      const mesh = ctx.get('mesh')
      for (const m of [STORE_BLOCKS, STORE_HAVE]) await mesh.rpc.unhandle(m).catch(() => {})
    },
  }
}
