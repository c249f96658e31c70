// joinFabric: a browser tab joins a Weft fabric as an FL client. It connects to the nodes given (WebSockets),
// advertises its data sets in a signed ad, accepts invitations its privacy policy allows, trains in a Web Worker and
// sends each round's update (clipped, noised or masked as the job asks) to the coordinator. Data never leaves the
// tab. A dropped connection (network change, a laptop waking up) is dialled again with backoff; a round in flight
// keeps its retries, and the coordinator's next task reaches the tab once it is back.
import { toBinary } from '@bufbuild/protobuf'
import type { Connection, PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { InMemoryDataset } from '@weft/data'
import type { ClientPrivacyPolicy } from '@weft/fl'
import { type Participant, type ParticipantEvent, peerIdSecAggIdentity, startParticipant } from '@weft/fl-mesh'
import { GET_AD, verifyAd } from '@weft/mesh'
import { SignedResourceAdSchema } from '@weft/protocol'
import type { TrainProgress } from '@weft/runtime'
import type { WasmOptions } from '@weft/runtime-tfjs'
import { type BrowserAds, startBrowserAds } from './ads.js'
import { type DatasetSummary, type StoredDataset, storedDatasets, summarize, toInMemory } from './datasets.js'
import { type KeyValueStore, memoryStore, openIndexedDb } from './idb.js'
import { loadOrCreateKey } from './identity.js'
import { type BrowserMesh, createBrowserMesh } from './peer.js'
import { type BrowserPool, browserTrainingPool } from './worker-pool.js'

export interface JoinOptions {
  /** Nodes to connect to: WebSocket multiaddrs ending in `/p2p/<peer id>` (a node's `/join/info` lists its own). */
  readonly bootstrap: readonly string[]
  /** Where the tfjs wasm binaries are served (see WasmOptions.wasmPaths); nothing is fetched from a CDN. */
  readonly wasmPaths: NonNullable<WasmOptions['wasmPaths']>
  /** Wasm threads (a cross-origin isolated page only; default 1: see the note where it is read). */
  readonly threads?: number
  /**
   * 'wasm' (default), 'webgpu' (the GPU where the browser offers WebGPU, in the worker; wasm where it does not, the
   * engine event saying why) or 'cpu'.
   */
  readonly backend?: 'wasm' | 'cpu' | 'webgpu'
  /** What a job must promise before this tab trains on its data (defaults as a node's: batches ≥ 4, ≥ 32 examples). */
  readonly privacy?: Partial<ClientPrivacyPolicy>
  /** Coordinators whose invitations are accepted: peer ids, or '*' (default) for any. */
  readonly coordinators?: readonly string[]
  /** Labels in the ad besides tier=browser (e.g. a site). */
  readonly labels?: Readonly<Record<string, string>>
  /** Keep the key and data sets in IndexedDB under this database name (default 'weft'), or nothing kept ('memory'). */
  readonly storage?: string | 'memory'
  /** How often the ad is re-signed and gossiped (ms; default 10 000) and how long each stays valid (default 30 000). */
  readonly adIntervalMs?: number
  readonly adTtlMs?: number
  /** Largest global model accepted (bytes; default 64 MiB). */
  readonly maxModelBytes?: number
  /** Most jobs at once (default 2). */
  readonly maxJobs?: number
  /** Redial backoff after a drop (ms; default 500 rising to 10 000). */
  readonly reconnect?: { readonly minMs?: number; readonly maxMs?: number }
  /**
   * STUN/TURN servers for WebRTC between browser peers (`connect`). Default none, so the tab contacts no third party:
   * tabs that can reach each other's host addresses connect directly; behind different NATs they need a STUN server.
   */
  readonly iceServers?: readonly RTCIceServer[]
}

/** One of the tab's connections, and how it travels. */
export interface FabricConnection {
  readonly peerId: string
  /** 'webrtc' (direct to another browser), 'websockets' (to a node) or 'relay' (through a node's relay slot). */
  readonly transport: 'webrtc' | 'websockets' | 'relay' | 'other'
  readonly address: string
}

/** A peer reached with `connect`: how, and what its signed ad says (fetched and verified over that connection). */
export interface ConnectedPeer extends FabricConnection {
  readonly ad: { readonly tier: string; readonly labels: Readonly<Record<string, string>>; readonly datasets: readonly string[] }
}

/** What the tab is doing: the peer's own events and the participant's. */
export type FabricEvent =
  | ParticipantEvent
  | { readonly type: 'engine'; readonly backend: string; readonly threads: number; readonly fallbackReason?: string }
  | { readonly type: 'connection'; readonly connected: boolean; readonly peers: readonly string[] }
  | { readonly type: 'progress'; readonly progress: TrainProgress }
  | { readonly type: 'datasets'; readonly datasets: readonly DatasetSummary[] }

export interface FabricStatus {
  readonly peerId: string
  readonly connected: readonly string[]
  /** Every open connection with its transport. */
  readonly connections: readonly FabricConnection[]
  /** The addresses other peers reach this tab at: relayed through a node, and `/webrtc` ones for other tabs. */
  readonly addresses: readonly string[]
  readonly jobs: ReturnType<Participant['jobs']>
  readonly datasets: readonly DatasetSummary[]
  readonly crossOriginIsolated: boolean
}

export interface Fabric {
  readonly peerId: string
  /** Subscribes to events; returns the unsubscribe. */
  on(listener: (event: FabricEvent) => void): () => void
  status(): FabricStatus
  datasets(): DatasetSummary[]
  /**
   * Connects to another peer, typically a browser tab at its `/p2p-circuit/webrtc` address (WebRTC, signalled through
   * the node that relays for it), and fetches and verifies its signed ad over the new connection. A dial that fails
   * is tried once more (a WebRTC offer can time out on a busy machine, or its ICE fail once) unless `signal` aborted.
   * @throws Error when the address is not a multiaddr naming a peer, the dial fails, or the peer's ad does not verify
   */
  connect(address: string, signal?: AbortSignal): Promise<ConnectedPeer>
  /** Adds (or replaces) a data set and advertises it; kept in IndexedDB unless storage is 'memory'. */
  addDataset(dataset: StoredDataset): Promise<DatasetSummary>
  removeDataset(name: string): Promise<void>
  /** What the worker's engine started as. */
  readonly engine: Promise<{ backend: string; threads: number; fallbackReason?: string }>
  /** Leaves every job, closes the connections and the worker. */
  leave(): Promise<void>
}

const DEFAULT_PRIVACY: ClientPrivacyPolicy = { minBatchSize: 4, minExamplesPerUpdate: 32, requireSecureAggregation: false }

/**
 * Joins the fabric: loads (or makes) this tab's identity, starts the training worker, connects to `bootstrap`.
 * @throws Error when no bootstrap address is given or none is a valid multiaddr
 */
export async function joinFabric(options: JoinOptions): Promise<Fabric> {
  if (options.bootstrap.length === 0) throw new Error('joinFabric needs at least one node address (bootstrap)')
  const targets = options.bootstrap.map((a) => multiaddr(a))
  const store: KeyValueStore = options.storage === 'memory' ? memoryStore() : await openIndexedDb(options.storage ?? 'weft')
  const key: PrivateKey = await loadOrCreateKey(store)
  const listeners = new Set<(e: FabricEvent) => void>()
  const emit = (e: FabricEvent): void => {
    for (const l of listeners) {
      try {
        l(e)
      } catch {
        // A listener's bug is not the fabric's.
      }
    }
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
  // tfjs 4.22's threaded wasm starts its pthreads from blob: scripts that fail inside a module Web Worker (seen in
  // Chromium 156: "e is not defined"), so one thread unless asked for.
  const threads = options.threads ?? 1
  const pool: BrowserPool = browserTrainingPool({
    backend: options.backend ?? 'wasm',
    wasm: { wasmPaths: options.wasmPaths, threads },
    onProgress: (progress) => emit({ type: 'progress', progress }),
  })
  let backend = options.backend ?? 'wasm'
  pool.started.then(
    (s) => {
      backend = s.backend as 'wasm' | 'cpu' | 'webgpu'
      emit({ type: 'engine', ...s })
    },
    () => {},
  )

  const stored = new Map<string, StoredDataset>()
  const loaded = new Map<string, InMemoryDataset>()
  for (const ds of await storedDatasets(store)) stored.set(ds.name, ds)
  const summaries = (): DatasetSummary[] => [...stored.values()].map(summarize)

  const mesh: BrowserMesh = await createBrowserMesh(key, options.iceServers === undefined ? {} : { iceServers: options.iceServers })
  const participant = await startParticipant({
    mesh,
    policy: {
      participate: true,
      coordinators: [...(options.coordinators ?? ['*'])],
      privacy: { ...DEFAULT_PRIVACY, ...options.privacy },
      maxJobs: options.maxJobs ?? 2,
      maxModelBytes: options.maxModelBytes ?? 64 * 1024 * 1024,
      sendRetries: 8,
    },
    engines: { pool: () => pool, has: (e) => e === 'tfjs', available: ['tfjs'], preferred: 'tfjs' },
    loadDataset: (name) => {
      const ds = stored.get(name)
      if (ds === undefined) return undefined
      let mem = loaded.get(name)
      if (mem === undefined) {
        mem = pool.portable(toInMemory(ds), ds)
        loaded.set(name, mem)
      }
      return Promise.resolve(mem)
    },
    identity: peerIdSecAggIdentity(key),
    onEvent: (event) => {
      emit(event)
      // What the tab is doing shows in its ad at once (the coordinator's dashboard reads it).
      if (event.type === 'joined' || event.type === 'left') void ads?.publish()
    },
  })

  let ads: BrowserAds | undefined
  ads = await startBrowserAds(
    mesh,
    key,
    {
      datasets: () =>
        summaries().map((d) => ({ name: d.name, examples: BigInt(d.examples), featureShape: [...d.featureShape], numClasses: d.numClasses, schema: `browser: ${d.source}`, bytes: BigInt(d.bytes) })),
      labels: () => ({ ...options.labels }),
      activities: () =>
        participant
          .jobs()
          .filter((j) => j.secretSampling || j.activeRounds.length > 0)
          .map((j) => ({ kind: 'fl-client', jobId: j.id, detail: j.secretSampling ? 'member' : `training round ${j.activeRounds.join(', ')}` })),
      backend: () => backend,
    },
    { intervalMs: options.adIntervalMs ?? 10_000, ttlMs: options.adTtlMs ?? 30_000 },
  )

  // Connections: every bootstrap node is kept connected, redialled with backoff after a drop.
  let leaving = false
  const minMs = options.reconnect?.minMs ?? 500
  const maxMs = options.reconnect?.maxMs ?? 10_000
  const connectedPeers = (): string[] => [...new Set(mesh.libp2p.getConnections().map((c) => c.remotePeer.toString()))]
  const keep = async (target: (typeof targets)[number]): Promise<void> => {
    for (let wait = minMs; !leaving; wait = Math.min(wait * 2, maxMs)) {
      try {
        await mesh.libp2p.dial(target, { signal: AbortSignal.timeout(10_000) })
        return
      } catch {
        await new Promise((r) => setTimeout(r, wait))
      }
    }
  }
  const targetPeers = new Set(targets.map((t) => t.getComponents().find((c) => c.name === 'p2p')?.value).filter((p): p is string => p !== undefined))
  const onConnection = (): void => emit({ type: 'connection', connected: connectedPeers().length > 0, peers: connectedPeers() })
  const onDisconnect = (evt: CustomEvent<{ toString(): string }>): void => {
    onConnection()
    const peer = evt.detail.toString()
    if (leaving || !targetPeers.has(peer)) return
    const target = targets.find((t) => t.toString().endsWith(`/p2p/${peer}`))
    if (target !== undefined) void keep(target).then(() => ads?.publish())
  }
  mesh.libp2p.addEventListener('peer:connect', onConnection)
  mesh.libp2p.addEventListener('peer:disconnect', onDisconnect)
  // The browser's 'online' event after a network change or sleep: dial at once rather than at the next backoff step.
  const onOnline = (): void => {
    for (const t of targets) void keep(t)
  }
  globalThis.addEventListener?.('online', onOnline)
  await Promise.race([Promise.all(targets.map((t) => keep(t))), new Promise((r) => setTimeout(r, 15_000))])
  await ads.publish()

  return {
    peerId: mesh.peerId,
    engine: pool.started,
    on(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    status: () => ({
      peerId: mesh.peerId,
      connected: connectedPeers(),
      connections: mesh.libp2p.getConnections().map(describeConnection),
      addresses: mesh.libp2p.getMultiaddrs().map((a) => a.toString()),
      jobs: participant.jobs(),
      datasets: summaries(),
      crossOriginIsolated: isolated,
    }),
    datasets: summaries,
    async connect(address, signal) {
      const target = multiaddr(address)
      const peerId = target.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (peerId === undefined) throw new Error(`${address} names no peer (/p2p/<peer id>)`)
      const connection = await dialTwice(mesh.libp2p, target, signal)
      const signed = await mesh.rpc.call(peerId, GET_AD, {}, { timeoutMs: 10_000 })
      const verified = await verifyAd(toBinary(SignedResourceAdSchema, signed), Date.now(), peerId)
      if (!verified.ok) throw new Error(`${peerId}'s ad does not verify: ${verified.reason}: ${verified.detail}`)
      const { labels, datasets } = verified.ad
      onConnection()
      return { ...describeConnection(connection), ad: { tier: labels['tier'] ?? '', labels, datasets: datasets.map((d) => d.name) } }
    },
    async addDataset(dataset) {
      stored.set(dataset.name, dataset)
      loaded.delete(dataset.name)
      await store.put('datasets', dataset.name, dataset)
      emit({ type: 'datasets', datasets: summaries() })
      await ads?.publish()
      return summarize(dataset)
    },
    async removeDataset(name) {
      stored.delete(name)
      loaded.delete(name)
      await store.delete('datasets', name)
      emit({ type: 'datasets', datasets: summaries() })
      await ads?.publish()
    },
    async leave() {
      leaving = true
      globalThis.removeEventListener?.('online', onOnline)
      mesh.libp2p.removeEventListener('peer:connect', onConnection)
      mesh.libp2p.removeEventListener('peer:disconnect', onDisconnect)
      await participant.stop()
      await ads?.stop()
      await pool.close()
      await mesh.stop()
      store.close()
    },
  }
}

/**
 * Dials `target`, and once more if the first dial failed and `signal` has not aborted: each try is bounded by the
 * mesh's per-address dial timeout, and both together by `signal` (by default, 80 s).
 */
async function dialTwice(libp2p: BrowserMesh['libp2p'], target: ReturnType<typeof multiaddr>, signal = AbortSignal.timeout(80_000)): Promise<Connection> {
  // The last step a dial reached (a WebRTC dial reports each: the relay, the signalling stream, the offer, the answer,
  // ICE) goes into its error: "signal timed out" alone does not say where.
  let step = 'dial'
  const dial = () => libp2p.dial(target, { signal, onProgress: (event: { type: string }) => {
    step = event.type
  } })
  const failed = (err: unknown) => new Error(`${(err as Error).message} (the last step the dial reached: ${step})`, { cause: err })
  try {
    return await dial()
  } catch (err) {
    if (signal.aborted) throw failed(err)
    step = 'dial'
    return await dial().catch((again: unknown) => {
      throw failed(again)
    })
  }
}

/** A connection as the status shows it: a WebRTC one is direct even though its address names the relay it was signalled through. */
function describeConnection(c: Connection): FabricConnection {
  const names = c.remoteAddr.getComponents().map((p) => p.name)
  const transport = names.includes('webrtc') ? 'webrtc' : names.includes('p2p-circuit') ? 'relay' : names.includes('ws') || names.includes('wss') ? 'websockets' : 'other'
  return { peerId: c.remotePeer.toString(), transport, address: c.remoteAddr.toString() }
}
