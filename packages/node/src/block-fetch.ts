// Swarming fetch of a DAG from several providers: round-robin batches with a window of requests in flight per
// provider, every block verified by the store's put on arrival, a provider that sends a bad block or fails dropped
// (and replaced from discovery) without restarting. Partial holders (peers fetching the same root, serving what they
// hold so far) are asked again after a growing 'not-yet' wait instead of dropped, and each fetcher asks for blocks in
// its own random order, so fetchers running at once get different blocks first and trade them. Blocks are persisted as
// they arrive, so a fetch started again after an abort or a restart asks only for what is still missing. Knows nothing
// of libp2p: the caller injects `request` and `discover`.
import { MAX_BLOCKS_RESPONSE_BYTES } from '@weft/protocol'
import { type Blockstore, blockKey, type CID, decodeNode, missingBlocks, parseCid } from '@weft/store'

/** What one provider answered. */
export interface BlocksAnswer {
  readonly blocks: readonly { readonly cid: string; readonly data: Uint8Array }[]
  readonly missing: readonly string[]
  /** The provider is at its serve rate: nothing was sent; ask it again after this long (not a sign it lacks them). */
  readonly retryAfterMs?: number
}

/** Longest a fetch honours a provider's "ask again after" (a busy provider's hint is not trusted past it). */
const MAX_RETRY_AFTER_MS = 5_000

/** Why a provider was dropped from a fetch. */
export type DropReason = 'bad-block' | 'unrequested-block' | 'failed' | 'has-nothing'

/** A provider and whether it holds part of the root only (it is fetching it too); a bare peer id is a complete holder. */
export interface Holder {
  readonly peer: string
  readonly partial: boolean
  /** For a partial holder: block keys it said it holds (undefined: not known, so any block may be asked of it). */
  readonly held?: readonly string[]
}

/** Why discovery runs: `inUse` is 0 when the fetch has no provider left (a slow, wide search is worth it then). */
export interface DiscoverContext {
  readonly inUse: number
}

/** What the fetcher needs. */
export interface FetchDagComponents {
  readonly store: Blockstore
  /** Asks `peer` for blocks. @throws when the call fails (the provider is dropped as `failed`) */
  request(peer: string, cids: readonly string[], signal: AbortSignal): Promise<BlocksAnswer>
  /**
   * More providers of the root, not among `exclude`: called at start when none were given, when every provider was
   * dropped, and every `rediscoverMs` while fewer than `maxProviders` are in use (peers that started fetching the root
   * after this fetch did are picked up so).
   */
  discover?(exclude: ReadonlySet<string>, signal: AbortSignal, context: DiscoverContext): Promise<readonly (string | Holder)[]>
  /** A number in [0, 1) (default Math.random): the order this fetcher asks for blocks in. */
  random?(): number
  /**
   * What a partial holder holds now (its `store/have`): asked when it has nothing this fetch wants among what it said
   * it held, at most every 500 ms per provider. `complete` makes it a complete holder from then on.
   */
  holdings?(peer: string, signal: AbortSignal): Promise<{ readonly complete: boolean; readonly held: readonly string[] }>
}

/** How a fetch runs. */
export interface FetchDagInit {
  readonly providers?: readonly (string | Holder)[]
  /**
   * Empty answers in a row after which a partial holder is dropped (`has-nothing`), default 20. A partial holder is
   * one discovery said is partial, or one that delivered blocks earlier in this fetch.
   */
  readonly notYetTries?: number
  /** The first wait before a partial holder that had none of the blocks asked is asked again (default 100 ms); it doubles. */
  readonly notYetMs?: number
  /** The longest such wait (default 2 s). */
  readonly notYetMaxMs?: number
  /**
   * A block asked of one provider that has not answered for this long (default 2 s) may also be asked of another with
   * room in its window (a stalled provider does not hold blocks back from the swarm); the copy that arrives second is
   * ignored. At most two requests for a block are in flight.
   */
  readonly stallMs?: number
  /** How often discovery runs again while fewer than `maxProviders` are in use (default 1.5 s; 0: never). */
  readonly rediscoverMs?: number
  /** Most providers in use at once (default 16); more found are not used. */
  readonly maxProviders?: number
  /** Requests in flight per provider (default 4). */
  readonly window?: number
  /** Most CIDs per request (default 8). */
  readonly batch?: number
  /**
   * Most expected bytes per request (default: what one `store/blocks` answer carries). A block's size is expected
   * from its parent's link (Tsize), so a batch of 1 MiB leaves asks for what one answer can hold, not more.
   */
  readonly batchBytes?: number
  readonly signal?: AbortSignal
  onProgress?(progress: FetchProgress): void
  onDrop?(peer: string, reason: DropReason, detail: string): void
  /** A block was verified and durably stored (its put returned): from now on it may be served on. */
  onStored?(cid: CID): void
}

export interface FetchProgress {
  readonly blocks: number
  readonly bytes: number
  /** Providers the fetch is using now. */
  readonly providers: number
}

/** A finished fetch. */
export type FetchDagResult =
  | {
      readonly ok: true
      /** Blocks and bytes fetched by this run (0 when the DAG was complete already). */
      readonly blocks: number
      readonly bytes: number
      /** Blocks each provider delivered. */
      readonly providers: Readonly<Record<string, number>>
      readonly dropped: readonly { readonly peer: string; readonly reason: DropReason; readonly detail: string }[]
      readonly badBlocks: number
    }
  | {
      readonly ok: false
      readonly reason: 'no-providers'
      readonly detail: string
      readonly blocks: number
      readonly bytes: number
      readonly providers: Readonly<Record<string, number>>
      readonly dropped: readonly { readonly peer: string; readonly reason: DropReason; readonly detail: string }[]
      readonly badBlocks: number
    }

/**
 * Fetches every missing block of `root` into `components.store`.
 * @returns ok, or `no-providers` when every provider was dropped and discovery found no other
 * @throws the signal's reason when aborted (blocks already stored stay)
 */
export async function fetchDag(components: FetchDagComponents, root: CID, init: FetchDagInit = {}): Promise<FetchDagResult> {
  const { store } = components
  const window = init.window ?? 4
  const batch = init.batch ?? 8
  const batchBytes = init.batchBytes ?? MAX_BLOCKS_RESPONSE_BYTES
  /** Bytes received and not yet stored: no new request goes out past this (memory stays bounded). */
  const maxStoring = 4 * window * batchBytes
  let storing = 0
  const signal = init.signal ?? new AbortController().signal
  const random = components.random ?? Math.random
  const notYetTries = init.notYetTries ?? 20
  const notYetMs = init.notYetMs ?? 100
  const notYetMaxMs = init.notYetMaxMs ?? 2000
  const stallMs = init.stallMs ?? 2000
  const rediscoverMs = init.rediscoverMs ?? 1500
  const maxProviders = init.maxProviders ?? 16
  /** Aborted once the DAG is complete: requests still out (copies of stalled ones) are not waited for. */
  const finished = new AbortController()
  const requestSignal = AbortSignal.any([signal, finished.signal])
  const active: string[] = []
  const tried = new Set<string>()
  /** Providers known to hold part of the root only. */
  const partial = new Set<string>()
  /** What partial holders said they hold (block keys), when they said it. */
  const holds = new Map<string, Set<string>>()
  const holdingsAsked = new Map<string, number>()
  /** Partial holders that had none of the blocks asked: not asked again before `until`. */
  const notYet = new Map<string, { until: number; delay: number; tries: number }>()
  const inflightPerPeer = new Map<string, number>()
  const dropped: { peer: string; reason: DropReason; detail: string }[] = []
  const from: Record<string, number> = {}
  /** Per provider, CIDs it said it lacks (not asked of it again). */
  const lacks = new Map<string, Set<string>>()
  let blocks = 0
  let bytes = 0
  let badBlocks = 0

  // The frontier: blocks known to be missing (the walk reveals children as intermediate nodes arrive).
  const wanted = new Map<string, CID>()
  /** Expected sizes of wanted blocks, from their parents' links. */
  const expected = new Map<string, number>()
  /** Blocks asked for: of whom, since when (the first request). */
  const inflight = new Map<string, { peers: Set<string>; since: number }>()
  /** Adds blocks to the frontier in a random order: fetchers running at once ask for different blocks first. */
  const want = (cids: readonly CID[]): void => {
    for (const cid of shuffle([...cids], random)) wanted.set(blockKey(cid), cid)
  }
  want(await missingBlocks(store, root))

  const failed: { failure?: { err: unknown } } = {}
  /** Throws the first task failure, if any. */
  const rethrow = (): void => {
    if (failed.failure !== undefined) throw failed.failure.err
  }

  const drop = (peer: string, reason: DropReason, detail: string): void => {
    const i = active.indexOf(peer)
    if (i < 0) return
    active.splice(i, 1)
    dropped.push({ peer, reason, detail })
    init.onDrop?.(peer, reason, detail)
  }

  /** A block arrived and was stored: its children not held are wanted next. */
  const arrived = async (cid: CID, data: Uint8Array): Promise<void> => {
    wanted.delete(blockKey(cid))
    expected.delete(blockKey(cid))
    const node = decodeNode(cid, data)
    const next: CID[] = []
    for (const link of node.links) {
      const key = blockKey(link.Hash)
      if (wanted.has(key) || inflight.has(key)) continue
      if (!(await store.has(link.Hash))) {
        next.push(link.Hash)
        if (link.Tsize !== undefined) expected.set(key, link.Tsize)
      } else next.push(...(await missingBlocks(store, link.Hash)))
    }
    want(next)
  }

  const isPartial = (peer: string): boolean => partial.has(peer) || (from[peer] ?? 0) > 0
  /** Asks a partial holder what it holds now, in the background (at most every 500 ms); wakes the fetch when it answers. */
  const refreshHoldings = (peer: string): void => {
    const holdings = components.holdings
    const last = holdingsAsked.get(peer)
    if (holdings === undefined || (last !== undefined && (last < 0 || Date.now() - last < 500))) return
    holdingsAsked.set(peer, -1)
    holdings(peer, requestSignal)
      .then((h) => {
        if (h.complete) {
          partial.delete(peer)
          holds.delete(peer)
          notYet.delete(peer)
          lacks.delete(peer)
        } else {
          holds.set(peer, new Set(h.held))
          if (h.held.some((k) => wanted.has(k) && !inflight.has(k))) notYet.delete(peer)
        }
        wake()
      })
      .catch(() => {
        // Not answered: it is asked again later, and its not-yet waits bound how long it is kept.
      })
      .finally(() => holdingsAsked.set(peer, Date.now()))
  }
  /** A partial holder had none of the blocks asked: wait longer each time before asking it again, up to a bound. */
  const notYetFor = (peer: string, counts = true): void => {
    const entry = notYet.get(peer) ?? { until: 0, delay: 0, tries: 0 }
    // Answers to requests sent before this wait began count once.
    if (entry.until > Date.now()) return
    if (counts) entry.tries++
    if (entry.tries > notYetTries) {
      notYet.delete(peer)
      drop(peer, 'has-nothing', `a partial holder answered every block asked as missing ${notYetTries} times in a row`)
      return
    }
    entry.delay = entry.delay === 0 ? notYetMs : Math.min(notYetMaxMs, entry.delay * 2)
    entry.until = Date.now() + entry.delay
    notYet.set(peer, entry)
  }

  /** Requests out, each cancelled once every block it asks for arrived from another provider. */
  const outstanding = new Set<{ readonly keys: readonly string[]; readonly cancel: AbortController }>()
  const cancelAnswered = (): void => {
    for (const r of outstanding) {
      if (r.keys.every((k) => !wanted.has(k))) {
        outstanding.delete(r)
        r.cancel.abort(new Error('every block asked arrived from another provider'))
      }
    }
  }

  const ask = async (peer: string, cids: CID[]): Promise<void> => {
    const keys = cids.map(blockKey)
    const request = { keys, cancel: new AbortController() }
    outstanding.add(request)
    for (const k of keys) {
      const entry = inflight.get(k) ?? { peers: new Set<string>(), since: Date.now() }
      entry.peers.add(peer)
      inflight.set(k, entry)
    }
    inflightPerPeer.set(peer, (inflightPerPeer.get(peer) ?? 0) + 1)
    let local: { err: unknown } | undefined
    let answered = false
    /** The answer is in: the provider's window slot is free for the next request while this one's blocks are stored. */
    const freeSlot = (): void => {
      if (answered) return
      answered = true
      inflightPerPeer.set(peer, (inflightPerPeer.get(peer) ?? 1) - 1)
      wake()
    }
    try {
      const answer = await components.request(peer, keys, AbortSignal.any([requestSignal, request.cancel.signal]))
      let answerBytes = 0
      for (const b of answer.blocks) answerBytes += b.data.byteLength
      storing += answerBytes
      freeSlot()
      try {
        await storeAnswer(peer, keys, cids, answer, (err) => {
          local = { err }
        })
      } finally {
        storing -= answerBytes
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (finished.signal.aborted || request.cancel.signal.aborted) return
      drop(peer, 'failed', (err as Error).message)
    } finally {
      outstanding.delete(request)
      for (const k of keys) {
        const entry = inflight.get(k)
        entry?.peers.delete(peer)
        if (entry?.peers.size === 0) inflight.delete(k)
      }
      if (local !== undefined) failed.failure ??= local
      freeSlot()
    }
  }

  /**
   * Verifies and stores an answer's blocks, all at once (each is hashed, then written and synced on the thread pool);
   * drops the provider for a bad or an unrequested block.
   */
  const storeAnswer = async (peer: string, keys: string[], cids: CID[], answer: BlocksAnswer, refuse: (err: unknown) => void): Promise<void> => {
    const asked = new Map(keys.map((k, i) => [k, cids[i] as CID]))
    const unrequested = answer.blocks.find((block) => !asked.has(block.cid))
    if (unrequested !== undefined) {
      drop(peer, 'unrequested-block', `sent ${unrequested.cid.slice(0, 80)}, which was not asked for`)
      return
    }
    const stored = await Promise.all(
      answer.blocks.map(async (block) => {
        const cid = asked.get(block.cid) as CID
        if (!wanted.has(block.cid)) return undefined
        try {
          await store.put(cid, block.data)
          init.onStored?.(cid)
          return { cid, data: block.data }
        } catch (err) {
          if ((err as Error).name === 'BlockMismatchError' || (err as Error).name === 'BlockTooLargeError') {
            badBlocks++
            drop(peer, 'bad-block', (err as Error).message)
          } else {
            // This node's own refusal (a full quota): not the provider's fault, and it ends the fetch.
            refuse(err)
          }
          return undefined
        }
      }),
    )
    if (stored.some((block) => block !== undefined)) notYet.delete(peer)
    for (const block of stored) {
      if (block === undefined || !wanted.has(blockKey(block.cid))) continue
      blocks++
      bytes += block.data.byteLength
      from[peer] = (from[peer] ?? 0) + 1
      await arrived(block.cid, block.data)
      init.onProgress?.({ blocks, bytes, providers: active.length })
    }
    cancelAnswered()
    if (answer.blocks.length === 0 && (answer.retryAfterMs ?? 0) > 0) {
      // Busy, not lacking: it is not asked again before then (bounded), and this counts toward nothing.
      const entry = notYet.get(peer) ?? { until: 0, delay: 0, tries: 0 }
      entry.until = Math.max(entry.until, Date.now() + Math.min(answer.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS))
      notYet.set(peer, entry)
      return
    }
    if (answer.blocks.length === 0) {
      const set = lacks.get(peer) ?? new Set<string>()
      for (const k of answer.missing) if (asked.has(k)) set.add(k)
      lacks.set(peer, set)
      const lacksAll = [...wanted.keys()].every((k) => set.has(k))
      if (isPartial(peer)) {
        // Not yet: it may hold these later (it is fetching them). Once it lacked every block, all are asked again.
        notYetFor(peer)
        refreshHoldings(peer)
        if (lacksAll) lacks.delete(peer)
      } else if (lacksAll) drop(peer, 'has-nothing', 'answered every wanted block as missing')
    }
  }

  /** Adds providers not tried yet; returns how many. */
  const addProviders = (more: readonly (string | Holder)[]): number => {
    let n = 0
    for (const h of more) {
      const p = typeof h === 'string' ? h : h.peer
      if (tried.has(p) || active.length >= maxProviders) continue
      tried.add(p)
      active.push(p)
      if (typeof h !== 'string' && h.partial) {
        partial.add(p)
        if (h.held !== undefined) holds.set(p, new Set(h.held))
      }
      n++
    }
    return n
  }
  addProviders(init.providers ?? [])
  /**
   * The earliest time a waiting provider may be asked again or a block in flight counts as stalled, if any, as of
   * `now`: the time the scheduling round that skipped them looked. (Judged against a later clock, a wait that ended
   * between that round and this call would be missed, and a fetch whose only provider was waiting would end as if it
   * had none: a busy machine made that happen.)
   */
  const nextWake = (now: number): number | undefined => {
    let next: number | undefined
    const at = (t: number): void => {
      if (next === undefined || t < next) next = t
    }
    for (const peer of active) {
      const until = notYet.get(peer)?.until
      if (until !== undefined && until > now) at(until)
    }
    if (active.length > 1) for (const entry of inflight.values()) if (entry.peers.size === 1 && entry.since + stallMs > now) at(entry.since + stallMs)
    return next
  }

  const running = new Set<Promise<void>>()
  /** Resolved when a provider's window slot frees before its task ends (its answer is being stored). */
  let wake: () => void = () => {}
  let woken = new Promise<void>((resolve) => {
    wake = resolve
  })
  let turn = 0
  const result = (): Omit<FetchDagResult & { ok: true }, 'ok'> => ({ blocks, bytes, providers: { ...from }, dropped: [...dropped], badBlocks })
  /** Discovery running in the background while the fetch goes on (one at a time), and when it last started. */
  let rediscovering: Promise<void> | undefined
  let rediscoveredAt = Date.now()
  const rediscover = (): void => {
    if (components.discover === undefined || rediscoverMs <= 0 || rediscovering !== undefined) return
    if (active.length >= maxProviders || Date.now() - rediscoveredAt < rediscoverMs) return
    rediscoveredAt = Date.now()
    rediscovering = components
      .discover(tried, requestSignal, { inUse: active.length })
      .then((more) => {
        if (!finished.signal.aborted && addProviders(more) > 0) wake()
      })
      .catch(() => {
        // Discovery failing leaves the providers in use; it is tried again later.
      })
      .finally(() => {
        rediscovering = undefined
      })
  }
  try {
    for (;;) {
      signal.throwIfAborted()
      rethrow()
      rediscover()
      if (wanted.size === 0) {
        // The frontier is empty: confirm by walking the DAG (a block dropped as corrupt meanwhile counts again).
        const left = await missingBlocks(store, root)
        if (left.length === 0) return { ok: true, ...result() }
        want(left)
      }
      if (active.length === 0 && running.size === 0) {
        addProviders((await components.discover?.(tried, signal, { inUse: active.length })) ?? [])
        if (active.length === 0) return { ok: false, reason: 'no-providers', detail: `no provider left for ${root} (${dropped.length} dropped)`, ...result() }
      }
      // Round-robin: each provider with room in its window gets the next batch of wanted blocks it does not lack, in
      // turns, until every window is full or no wanted block is left to ask for.
      let scheduled = false
      const now = Date.now()
      for (let progress = true; progress; ) {
        progress = false
        for (let n = 0; n < active.length; n++) {
          const peer = active[(turn + n) % active.length] as string
          if ((inflightPerPeer.get(peer) ?? 0) >= window || storing > maxStoring) continue
          if ((notYet.get(peer)?.until ?? 0) > now) continue
          const lack = lacks.get(peer)
          const cids: CID[] = []
          let batchSize = 0
          const take = (k: string, cid: CID): boolean => {
            const size = expected.get(k) ?? 0
            if (cids.length > 0 && batchSize + size > batchBytes) return false
            cids.push(cid)
            batchSize += size
            return cids.length < batch
          }
          const held = holds.get(peer)
          if (held !== undefined) {
            // A partial holder that said what it holds is asked for that only.
            for (const k of held) {
              const cid = wanted.get(k)
              if (cid === undefined || inflight.has(k) || lack?.has(k)) continue
              if (!take(k, cid)) break
            }
          } else if (!partial.has(peer) && holds.size > 0) {
            // Rarest first: a complete holder is asked first for blocks no partial holder said it has.
            const common = new Set<string>()
            for (const [p, keys] of holds) if (active.includes(p)) for (const k of keys) common.add(k)
            for (const pass of [false, true]) {
              let more = true
              for (const [k, cid] of wanted) {
                if (inflight.has(k) || lack?.has(k) || common.has(k) !== pass) continue
                more = take(k, cid)
                if (!more) break
              }
              if (!more) break
            }
          } else {
            for (const [k, cid] of wanted) {
              if (inflight.has(k) || lack?.has(k)) continue
              if (!take(k, cid)) break
            }
          }
          // Nothing left that nobody was asked for: blocks stalled at one other provider are asked of this one too.
          if (cids.length === 0) {
            for (const [k, entry] of inflight) {
              if (entry.peers.size !== 1 || entry.peers.has(peer) || now - entry.since < stallMs || lack?.has(k) || (held !== undefined && !held.has(k))) continue
              const cid = wanted.get(k)
              if (cid === undefined) continue
              const size = expected.get(k) ?? 0
              if (cids.length > 0 && batchSize + size > batchBytes) break
              cids.push(cid)
              batchSize += size
              if (cids.length >= batch) break
            }
          }
          if (cids.length === 0) {
            // A partial holder with nothing of use is asked what it holds again, and waits as one that had nothing
            // (a wait that counts toward dropping it only while nothing else is in flight: the fetch waits on it).
            if (held !== undefined) {
              refreshHoldings(peer)
              notYetFor(peer, running.size === 0)
            }
            continue
          }
          // A task never rejects: its failure (the abort, a full store, an undecodable DAG) ends the fetch below.
          const task: Promise<void> = ask(peer, cids)
            .catch((err: unknown) => {
              failed.failure ??= { err }
            })
            .finally(() => running.delete(task))
          running.add(task)
          scheduled = true
          progress = true
        }
        turn++
      }
      const waitUntil = nextWake(now)
      if (running.size === 0) {
        if (scheduled) continue
        // Partial holders asked too early: wait for the first of them (nothing else is in flight).
        if (waitUntil !== undefined) {
          await sleep(Math.max(0, waitUntil - Date.now()), signal)
          continue
        }
        // Every remaining block is lacked by every provider: ask discovery for others, else give up.
        if (addProviders((await components.discover?.(tried, signal, { inUse: active.length })) ?? []) === 0) return { ok: false, reason: 'no-providers', detail: `no provider has the ${wanted.size} blocks still missing of ${root}`, ...result() }
        continue
      }
      // Woken by an answer, a freed window slot, or the first waiting partial holder's turn.
      let timer: ReturnType<typeof setTimeout> | undefined
      const rediscoverAt = components.discover !== undefined && rediscoverMs > 0 && active.length < maxProviders ? rediscoveredAt + rediscoverMs : undefined
      const wakeAt = waitUntil === undefined ? rediscoverAt : rediscoverAt === undefined ? waitUntil : Math.min(waitUntil, rediscoverAt)
      const turnOfPartial =
        wakeAt === undefined
          ? []
          : [
              new Promise<void>((resolve) => {
                timer = setTimeout(resolve, Math.max(0, wakeAt - Date.now()))
              }),
            ]
      await Promise.race([...running, woken, ...turnOfPartial])
      clearTimeout(timer)
      woken = new Promise<void>((resolve) => {
        wake = resolve
      })
      rethrow()
    }
  } finally {
    // Requests still out and a discovery in the background are not waited for.
    finished.abort()
  }
}

/** Shuffles `items` in place (Fisher-Yates) and returns them. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Parses CID strings from the wire, skipping malformed ones. */
export function parseWireCids(input: readonly string[]): CID[] {
  const out: CID[] = []
  for (const s of input) {
    try {
      out.push(parseCid(s))
    } catch {
      // Not a CID: answered as missing by the caller.
    }
  }
  return out
}
