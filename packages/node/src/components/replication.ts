// Replication and repair of pinned roots, on the block exchange and the store only: durable replication targets
// (`store/replicas.json`), the `store/replicate` RPC by which a holder asks a peer to pull and pin a root (judged by
// the receiver's closed-by-default policy, `store.replicas`), and the repair loop: every `repairIntervalMs` each
// holder of a target counts the live holders, and the lowest-id holder asks eligible candidates when short (only
// peers whose ads say their store takes a replica of that size). When a target has more holders than it needs (a
// holder came back after a repair), the lowest-id holder asks the highest-id extra one to drop its replica (`trim`),
// which it does only for a replica it pulled at a peer's request; `forget` ends a target here and on the holders it
// reaches (`store/replicate` with factor 0).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { ROLES, type Role, RpcError } from '@weft/mesh'
import { MAX_CID_STRING, MAX_REPLICATE_PROVIDERS, STORE_HAVE, STORE_REPLICATE, type StoreOffer, WireErrorCode } from '@weft/protocol'
import { blockKey, type CID, parseCid } from '@weft/store'
import { storeDir } from '@weft/store/node'
import type { NodeComponentFactory } from '../component.js'
import { countTowardFactor, isRepairer, type LabelledPeer, nextCandidate, type ReplicationTarget, targetProblem } from '../replication-plan.js'

/** What one repair round did. */
export interface RepairRound {
  readonly at: number
  /** Peers that pulled and pinned the root. */
  readonly replicated: readonly string[]
  /** Peers that refused or failed, with the reason. */
  readonly refused: readonly { readonly peer: string; readonly reason: string }[]
  /** The factor was still not reached and no eligible candidate was left. */
  readonly exhausted: boolean
  /** Alive peers not asked because their ads say their store cannot take the root (no replicas, too small, full). */
  readonly unfit: number
}

/** A target as this node sees it. */
export interface ReplicationStatus extends ReplicationTarget {
  readonly createdAt: number
  /** Live holders seen at the last check (this node included when it holds the root whole). */
  readonly holders: readonly string[]
  /** Of those, how many count toward the factor (labels, distinct values). */
  readonly counted: number
  readonly checkedAt: number | null
  /** The last round in which this node asked candidates (it does only as the lowest-id holder). */
  readonly lastRepair: RepairRound | null
  /** This node holds the root as a replica it pulled at a peer's request (it drops it when asked to trim an extra holder). */
  readonly requested: boolean
}

/** What `forget` did. */
export interface ForgetResult {
  /** Whether this node kept a target for the root. */
  readonly wasKept: boolean
  /** Holders that dropped the target too (and their replica, where they held it at a peer's request). */
  readonly forgotten: readonly string[]
  /** Holders that refused or could not be reached, with the reason. */
  readonly refused: readonly { readonly peer: string; readonly reason: string }[]
}

/** What the rest of the node asks of replication. */
export interface Replication {
  /**
   * Keeps `root` (complete here) at `factor` holders: pins and announces it here, records the target (kept across
   * restarts) and runs one check and repair round now.
   * @throws RangeError when the target is not valid; BlocksMissingError when the root is not complete here
   */
  replicate(root: CID, target: { factor: number; labels?: readonly string[]; distinct?: string }): Promise<ReplicationStatus>
  /** The target of `root` held here, with what the last check saw. */
  status(root: CID): ReplicationStatus | undefined
  /** Every target held here. */
  targets(): ReplicationStatus[]
  /** Checks (and where short, repairs) every target now; the loop does it every `store.replicas.repairIntervalMs`. */
  check(): Promise<void>
  /**
   * Ends the target of `root` here and asks the holders the last check saw to end theirs; a holder that pulled the
   * root at a peer's request also unpins it. This node's own copy stays pinned (unpin it to let gc take it).
   */
  forget(root: CID): Promise<ForgetResult>
}

/** Most targets one node keeps. */
const MAX_TARGETS = 10_000
/** Replica fetches a node runs at once for others; past it a request is answered RESOURCE_EXHAUSTED. */
const MAX_REPLICA_FETCHES = 2
/** Most candidates one repair round asks per target. */
const MAX_ASKS_PER_ROUND = 8
/** A candidate that refused is not asked again for the same root for this many repair intervals. */
const REFUSED_COOLDOWN_INTERVALS = 10
/** A replica taken at a peer's request is not repaired by this node for this many repair intervals. */
const QUIET_INTERVALS = 3
/** Longest a check looks for providers (connected peers' `have`, then the DHT). */
const FIND_TIMEOUT_MS = 3000
const HAVE_TIMEOUT_MS = 2000
/** How long a holder waits for a candidate to pull a root. */
const REPLICATE_TIMEOUT_MS = 5 * 60_000

interface Kept {
  target: ReplicationTarget
  createdAt: number
  holders: string[]
  counted: number
  checkedAt: number | null
  lastRepair: RepairRound | null
  /** Candidates that refused this root, until when they are not asked again. */
  cooldown: Map<string, number>
  /**
   * A replica taken at a peer's request does not repair before this time (epoch ms): the asker's round may still be
   * running, and a new holder that sees only part of it would ask too.
   */
  quietUntil: number
  /** Consecutive checks that saw the target short of holders: a holder repairs on the second (a missed `have` is not a loss). */
  shortChecks: number
  /** Pulled at a peer's request (kept in replicas.json): a replica this node drops when asked to trim. */
  requested: boolean
  /** Consecutive checks that saw more holders than the target needs: the repairer trims on the second. */
  extraChecks: number
  /** The check in progress, joined by any other. */
  checking?: Promise<void> | undefined
}

const fresh = (target: ReplicationTarget, createdAt: number, requested: boolean): Kept => ({
  target,
  createdAt,
  holders: [],
  counted: 0,
  checkedAt: null,
  lastRepair: null,
  cooldown: new Map(),
  quietUntil: 0,
  shortChecks: 0,
  requested,
  extraChecks: 0,
})

const view = (k: Kept): ReplicationStatus => ({
  ...k.target,
  createdAt: k.createdAt,
  holders: [...k.holders],
  counted: k.counted,
  checkedAt: k.checkedAt,
  lastRepair: k.lastRepair,
  requested: k.requested,
})

const fail = (code: WireErrorCode, message: string): RpcError => new RpcError(code, message)

/** Reads `store/replicas.json`; entries that do not parse are skipped. */
function loadTargets(file: string): { target: ReplicationTarget; createdAt: number; requested: boolean }[] {
  if (!existsSync(file)) return []
  const out: { target: ReplicationTarget; createdAt: number; requested: boolean }[] = []
  for (const e of JSON.parse(readFileSync(file, 'utf8')) as unknown[]) {
    const o = e as { root?: unknown; factor?: unknown; labels?: unknown; distinct?: unknown; createdAt?: unknown; requested?: unknown }
    if (typeof o?.root !== 'string' || typeof o.factor !== 'number' || !Array.isArray(o.labels) || !o.labels.every((l) => typeof l === 'string')) continue
    const distinct = typeof o.distinct === 'string' ? o.distinct : undefined
    const target = { root: o.root, factor: o.factor, labels: o.labels as string[], ...(distinct === undefined ? {} : { distinct }) }
    if (targetProblem(target) !== undefined) continue
    try {
      parseCid(o.root)
    } catch {
      continue
    }
    out.push({ target, createdAt: typeof o.createdAt === 'number' ? o.createdAt : 0, requested: o.requested === true })
  }
  return out
}

export const replicationComponent: NodeComponentFactory = (ctx) => {
  let timer: ReturnType<typeof setInterval> | undefined
  let running: Promise<void> | undefined
  const stopController = new AbortController()
  return {
    name: 'replication',
    dependsOn: ['mesh', 'membership', 'peers', 'store', 'block-exchange'],
    async start() {
      const store = ctx.find('store')
      const exchange = ctx.find('blockExchange')
      if (store === undefined || exchange === undefined) return
      const mesh = ctx.get('mesh')
      const membership = ctx.get('membership')
      const peers = ctx.get('peers')
      const { config, now } = ctx
      const policy = config.store.replicas
      const log = ctx.logger.child({ component: 'replication' })
      const self = mesh.peerId
      const file = join(storeDir(config.dataDir), 'replicas.json')
      const kept = new Map<string, Kept>()
      /** Roots being fetched for other peers now. */
      const fetching = new Set<string>()

      const save = (): void => {
        const rows = [...kept.values()].map((k) => ({ ...k.target, createdAt: k.createdAt, requested: k.requested }))
        writeFileSync(`${file}.tmp`, JSON.stringify(rows), { mode: 0o600 })
        renameSync(`${file}.tmp`, file)
      }
      /** Keeps a target; `requested`: the root was pulled here for a peer (a user's own target or copy clears it). */
      const keep = (target: ReplicationTarget, quietUntil: number, requested: boolean): Kept => {
        const key = blockKey(parseCid(target.root))
        const existing = kept.get(key)
        const k: Kept = existing ?? fresh(target, now(), requested)
        k.target = target
        k.requested &&= requested
        k.quietUntil = Math.max(k.quietUntil, quietUntil)
        kept.set(key, k)
        save()
        return k
      }
      for (const { target, createdAt, requested } of loadTargets(file)) kept.set(blockKey(parseCid(target.root)), fresh(target, createdAt, requested))

      /** Why `peer` may not ask this node for a replica, or undefined when it may. */
      const refusal = (peer: string): string | undefined => {
        switch (policy.accept) {
          case 'none':
            return 'this node accepts no replicas (store.replicas.accept is none)'
          case 'members':
            // Without an authority, every peer that can connect (the private network's key holders) is a member.
            if (membership.mode === 'allow-lists' || ROLES.some((r) => membership.authorize(peer, r) === undefined)) return undefined
            return `${peer} is not a member of the mesh (store.replicas.accept is members)`
          case 'allow-list':
            if (policy.from.includes(peer)) return undefined
            if (policy.from.some((r) => (ROLES as readonly string[]).includes(r) && membership.authorize(peer, r as Role) === undefined)) return undefined
            return `${peer} is not in store.replicas.from`
          default: {
            const never: never = policy.accept
            return `unknown policy ${String(never)}`
          }
        }
      }

      await mesh.rpc.handle(STORE_REPLICATE, async (req, call) => {
        const why = refusal(call.peer)
        if (why !== undefined) throw fail(WireErrorCode.UNAUTHORIZED, why)
        if (req.root.length > MAX_CID_STRING) throw fail(WireErrorCode.BAD_REQUEST, `root must be a CID of at most ${MAX_CID_STRING} characters`)
        let root: CID
        try {
          root = parseCid(req.root)
        } catch (err) {
          throw fail(WireErrorCode.BAD_REQUEST, `root is not a CID: ${(err as Error).message}`)
        }
        if (req.trim) return { pinned: await trimReplica(root, call.peer, AbortSignal.any([call.signal, stopController.signal])) }
        if (req.factor === 0) return { pinned: await dropTarget(root, call.peer) }
        const target: ReplicationTarget = { root: root.toString(), factor: req.factor, labels: req.labels, ...(req.distinct === '' ? {} : { distinct: req.distinct }) }
        const problem = targetProblem(target)
        if (problem !== undefined) throw fail(WireErrorCode.BAD_REQUEST, problem)
        if (req.providers.length > MAX_REPLICATE_PROVIDERS) throw fail(WireErrorCode.BAD_REQUEST, `at most ${MAX_REPLICATE_PROVIDERS} providers, got ${req.providers.length}`)
        const providers = req.providers.filter((p) => {
          if (p.length > 128 || p === self) return false
          try {
            peerIdFromString(p)
            return true
          } catch {
            return false
          }
        })
        if (req.dagSize > BigInt(policy.maxReplicaBytes)) {
          throw fail(WireErrorCode.TOO_LARGE, `a replica of ${req.dagSize} bytes exceeds this node's store.replicas.maxReplicaBytes of ${policy.maxReplicaBytes}`)
        }
        const dagSize = Number(req.dagSize)
        const key = blockKey(root)
        if (!kept.has(key) && kept.size >= MAX_TARGETS) throw fail(WireErrorCode.RESOURCE_EXHAUSTED, `this node keeps at most ${MAX_TARGETS} replication targets`)
        if ((await store.missing(root, 1)).length === 0) {
          // Held whole but never announced: a private artifact. Naming its CID must not make this node serve it.
          if (!exchange.announced(root)) throw fail(WireErrorCode.CONFLICT, `${root} is held here but not served to the mesh; it is not replicated`)
          await exchange.announce(root)
          keep(target, now() + QUIET_INTERVALS * policy.repairIntervalMs, false)
          return { pinned: true }
        }
        try {
          store.checkRoom(dagSize)
        } catch (err) {
          throw fail(WireErrorCode.RESOURCE_EXHAUSTED, (err as Error).message)
        }
        if (fetching.has(key)) throw fail(WireErrorCode.CONFLICT, `${root} is being fetched here already`)
        if (fetching.size >= MAX_REPLICA_FETCHES) throw fail(WireErrorCode.RESOURCE_EXHAUSTED, `this node is fetching ${fetching.size} replicas already; ask later`)
        fetching.add(key)
        try {
          // A DAG larger than the asker said ends the fetch: the bound was judged on the declared size.
          const tooBig = new AbortController()
          const result = await exchange.fetch(root, {
            providers,
            signal: AbortSignal.any([call.signal, tooBig.signal, stopController.signal]),
            onProgress: (p) => {
              if (p.bytes > dagSize) tooBig.abort(fail(WireErrorCode.TOO_LARGE, `${root} is larger than the ${dagSize} bytes the request declared`))
            },
          })
          if (!result.ok) throw fail(WireErrorCode.NOT_FOUND, `no provider gave ${root}: ${result.detail}`)
          await exchange.announce(root)
          keep(target, now() + QUIET_INTERVALS * policy.repairIntervalMs, true)
          log.info({ root: root.toString(), from: call.peer, blocks: result.blocks, bytes: result.bytes }, 'store: pulled and pinned a replica')
          return { pinned: true, blocks: BigInt(result.blocks), bytes: BigInt(result.bytes) }
        } catch (err) {
          if (err instanceof RpcError) throw err
          if ((err as Error).name === 'StoreFullError') throw fail(WireErrorCode.RESOURCE_EXHAUSTED, (err as Error).message)
          throw err
        } finally {
          fetching.delete(key)
        }
      })

      const labelsOf = (peer: string): Readonly<Record<string, string>> => (peer === self ? config.labels : (peers.get(peer)?.ad.labels ?? {}))

      /** Live holders of `root`: this node when complete, connected providers (they answered `have`), others confirmed. */
      const liveHolders = async (root: CID, signal: AbortSignal): Promise<string[]> => {
        const holders = new Set<string>()
        if ((await store.missing(root, 1)).length === 0) holders.add(self)
        // The bound covers the `have` calls to connected peers too: shorter, and a slow answer would read as a holder lost.
        const found = await exchange.findProviders(root, { timeoutMs: FIND_TIMEOUT_MS, signal })
        const connected = new Set(mesh.libp2p.getPeers().map((p) => p.toString()))
        await Promise.all(
          found.map(async (peer) => {
            if (connected.has(peer)) {
              holders.add(peer)
              return
            }
            // A DHT provider record may name a peer that left: ask it.
            try {
              const r = await mesh.rpc.call(peerIdFromString(peer), STORE_HAVE, { root: root.toString() }, { timeoutMs: HAVE_TIMEOUT_MS, signal })
              if (r.complete) holders.add(peer)
            } catch {
              // Gone.
            }
          }),
        )
        return [...holders].sort()
      }

      /** Asks candidates until the target counts `factor` holders, at most MAX_ASKS_PER_ROUND of them. */
      const repair = async (k: Kept, root: CID, holders: LabelledPeer[], signal: AbortSignal): Promise<RepairRound> => {
        const stat = await store.stat(root)
        const dagSize = stat?.dagSize ?? 0
        const t = now()
        for (const [peer, until] of k.cooldown) if (until <= t) k.cooldown.delete(peer)
        const alive = peers.list().filter((e) => e.status === 'alive' && e.peerId !== self)
        // A peer whose ad says its store cannot take the root is not asked (an ad without store facts is).
        const fits = (s: StoreOffer | undefined): boolean =>
          s === undefined || (s.acceptsReplicas && BigInt(dagSize) <= s.maxReplicaBytes && (s.quotaBytes === 0n || s.usedBytes + BigInt(dagSize) <= s.quotaBytes))
        const candidates: LabelledPeer[] = alive
          .filter((e) => fits(e.ad.store))
          .sort((a, b) => Number(b.connected) - Number(a.connected) || (a.peerId < b.peerId ? -1 : 1))
          .map((e) => ({ peer: e.peerId, labels: e.ad.labels }))
        const unfit = alive.length - candidates.length
        const replicated: string[] = []
        const refused: { peer: string; reason: string }[] = []
        const asked = new Set(k.cooldown.keys())
        const providers = holders.map((h) => h.peer).slice(0, MAX_REPLICATE_PROVIDERS)
        const ask = (c: LabelledPeer) =>
          mesh.rpc.call(
            peerIdFromString(c.peer),
            STORE_REPLICATE,
            { root: root.toString(), dagSize: BigInt(dagSize), providers, factor: k.target.factor, labels: [...k.target.labels], distinct: k.target.distinct ?? '' },
            { timeoutMs: REPLICATE_TIMEOUT_MS, signal },
          )
        let counted = countTowardFactor(k.target, holders)
        let asks = 0
        // As many candidates as copies are missing are asked at once (a DAG pulled by several in parallel); those that
        // refuse are replaced by the next eligible ones, at most MAX_ASKS_PER_ROUND in all.
        while (counted < k.target.factor && asks < MAX_ASKS_PER_ROUND && !signal.aborted) {
          const batch: LabelledPeer[] = []
          while (batch.length < k.target.factor - counted && asks + batch.length < MAX_ASKS_PER_ROUND) {
            const c = nextCandidate(k.target, [...holders, ...batch], candidates, asked)
            if (c === undefined) break
            asked.add(c.peer)
            batch.push(c)
          }
          if (batch.length === 0) break
          asks += batch.length
          const answers = await Promise.allSettled(batch.map(ask))
          answers.forEach((answer, i) => {
            const c = batch[i] as LabelledPeer
            if (answer.status === 'fulfilled') {
              replicated.push(c.peer)
              holders.push(c)
            } else {
              refused.push({ peer: c.peer, reason: (answer.reason as Error).message })
              k.cooldown.set(c.peer, now() + REFUSED_COOLDOWN_INTERVALS * policy.repairIntervalMs)
            }
          })
          counted = countTowardFactor(k.target, holders)
        }
        const round = { at: t, replicated, refused, exhausted: counted < k.target.factor, unfit }
        const level = round.exhausted ? 'warn' : 'info'
        log[level]({ root: root.toString(), factor: k.target.factor, counted, replicated, refused, unfit }, round.exhausted ? 'store: a replication target is short of holders and no eligible candidate is left' : 'store: repaired a replication target')
        return round
      }

      /** Checks one target (joining a check of it in progress) and, when short and this node is the repairer, repairs it. */
      const checkOne = (k: Kept, signal: AbortSignal, confirmed = false): Promise<void> => {
        k.checking ??= checkTarget(k, signal, confirmed).finally(() => {
          k.checking = undefined
        })
        return k.checking
      }
      /** `confirmed`: repair on this check's shortfall alone (a user's request), not only on the second in a row. */
      const checkTarget = async (k: Kept, signal: AbortSignal, confirmed: boolean): Promise<void> => {
        const root = parseCid(k.target.root)
        const holders = await liveHolders(root, signal)
        const labelled = holders.map((peer) => ({ peer, labels: labelsOf(peer) }))
        k.holders = holders
        k.counted = countTowardFactor(k.target, labelled)
        k.checkedAt = now()
        // Only a holder repairs or trims, and only the lowest-id one, so that one asks.
        k.shortChecks = k.counted < k.target.factor ? k.shortChecks + 1 : 0
        k.extraChecks = k.counted > k.target.factor ? k.extraChecks + 1 : 0
        if (k.extraChecks >= 2 && holders.includes(self) && isRepairer(self, holders) && now() >= k.quietUntil) {
          await trim(k, root, labelled, signal)
          return
        }
        if (!holders.includes(self) || k.counted >= k.target.factor || !isRepairer(self, holders) || now() < k.quietUntil) return
        if (!confirmed && k.shortChecks < 2) return
        k.lastRepair = await repair(k, root, labelled, signal)
        k.holders = labelled.map((h) => h.peer).sort()
        k.counted = countTowardFactor(k.target, labelled)
        if (k.counted >= k.target.factor) k.shortChecks = 0
      }

      /**
       * One extra holder drops its replica: the highest-id holders whose loss keeps the target met are asked in turn
       * until one that pulled it at a peer's request drops it (the others keep their users' copies). One per check,
       * so two repairers with different views cannot take the target below its factor at once by much.
       */
      const trim = async (k: Kept, root: CID, holders: LabelledPeer[], signal: AbortSignal): Promise<void> => {
        const order = holders.filter((h) => h.peer !== self).sort((a, b) => (a.peer < b.peer ? 1 : -1))
        for (const h of order) {
          const rest = holders.filter((x) => x !== h)
          if (countTowardFactor(k.target, rest) < k.target.factor) continue
          try {
            const r = await mesh.rpc.call(
              peerIdFromString(h.peer),
              STORE_REPLICATE,
              { root: root.toString(), factor: k.target.factor, labels: [...k.target.labels], distinct: k.target.distinct ?? '', trim: true },
              { timeoutMs: HAVE_TIMEOUT_MS * 5, signal },
            )
            if (r.pinned) continue
            k.holders = rest.map((x) => x.peer).sort()
            k.counted = countTowardFactor(k.target, rest)
            k.extraChecks = 0
            log.info({ root: root.toString(), factor: k.target.factor, dropped: h.peer }, 'store: an extra holder dropped its replica')
            return
          } catch (err) {
            log.debug({ root: root.toString(), peer: h.peer, err: (err as Error).message }, 'store: asking an extra holder to drop its replica failed')
          }
        }
      }

      /**
       * Asked to trim: drops a replica pulled here at a peer's request, once this node has seen for itself that the
       * target is met without it (a peer's word alone cannot take a mesh's replicas away).
       * @returns whether the root stays pinned here
       */
      const trimReplica = async (root: CID, asker: string, signal: AbortSignal): Promise<boolean> => {
        const k = kept.get(blockKey(root))
        if (k === undefined || !k.requested) return (await store.stat(root))?.pinned === true
        const others = (await liveHolders(root, signal)).filter((p) => p !== self).map((peer) => ({ peer, labels: labelsOf(peer) }))
        if (countTowardFactor(k.target, others) < k.target.factor) return true
        return dropTarget(root, asker)
      }

      /**
       * Ends the target of `root` here; a replica pulled at a peer's request is unannounced and unpinned too.
       * @returns whether the root is still pinned here
       */
      const dropTarget = async (root: CID, asker: string | undefined): Promise<boolean> => {
        const key = blockKey(root)
        const k = kept.get(key)
        if (k === undefined) return (await store.stat(root))?.pinned === true
        kept.delete(key)
        save()
        if (k.requested) {
          await exchange.unannounce(root)
          store.unpin(root)
        }
        if (asker !== undefined) log.info({ root: root.toString(), asker, dropped: k.requested }, 'store: a peer ended a replication target')
        return !k.requested
      }

      const checkAll = async (): Promise<void> => {
        for (const k of [...kept.values()]) {
          if (stopController.signal.aborted) return
          try {
            await checkOne(k, stopController.signal)
          } catch (err) {
            if (!stopController.signal.aborted) log.warn({ root: k.target.root, err: (err as Error).message }, 'store: checking a replication target failed (retried next interval)')
          }
        }
      }
      /** One pass at a time: a pass still running when the timer fires is joined, not doubled. */
      const check = (): Promise<void> => {
        running ??= checkAll().finally(() => {
          running = undefined
        })
        return running
      }

      const replication: Replication = {
        async replicate(root, options) {
          const target: ReplicationTarget = { root: root.toString(), factor: options.factor, labels: [...(options.labels ?? [])], ...(options.distinct === undefined ? {} : { distinct: options.distinct }) }
          const problem = targetProblem(target)
          if (problem !== undefined) throw new RangeError(problem)
          if (!kept.has(blockKey(root)) && kept.size >= MAX_TARGETS) throw new RangeError(`at most ${MAX_TARGETS} replication targets may be kept`)
          await exchange.announce(root)
          // A user's own target: this node's copy is never dropped as extra.
          const k = keep(target, 0, false)
          k.quietUntil = 0
          await k.checking
          await checkOne(k, stopController.signal, true)
          return view(k)
        },
        status(root) {
          const k = kept.get(blockKey(root))
          return k === undefined ? undefined : view(k)
        },
        targets: () => [...kept.values()].map(view),
        check,
        async forget(root) {
          const k = kept.get(blockKey(root))
          if (k === undefined) return { wasKept: false, forgotten: [], refused: [] }
          kept.delete(blockKey(root))
          save()
          const holders = k.holders.filter((p) => p !== self)
          const forgotten: string[] = []
          const refused: { peer: string; reason: string }[] = []
          await Promise.all(
            holders.map(async (peer) => {
              try {
                await mesh.rpc.call(peerIdFromString(peer), STORE_REPLICATE, { root: root.toString(), factor: 0 }, { timeoutMs: HAVE_TIMEOUT_MS * 5, signal: stopController.signal })
                forgotten.push(peer)
              } catch (err) {
                refused.push({ peer, reason: (err as Error).message })
              }
            }),
          )
          log.info({ root: root.toString(), forgotten, refused }, 'store: ended a replication target')
          return { wasKept: true, forgotten: forgotten.sort(), refused }
        },
      }
      timer = setInterval(() => void check(), policy.repairIntervalMs)
      timer.unref?.()
      ctx.provide('replication', replication)
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer)
      stopController.abort()
      await running?.catch(() => {})
      if (ctx.find('replication') === undefined) return
      ctx.withdraw('replication')
      await ctx
        .get('mesh')
        .rpc.unhandle(STORE_REPLICATE)
        .catch(() => {})
    },
  }
}
