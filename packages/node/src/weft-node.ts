// The node daemon: one mesh node plus its identity, state, resource ads, peer table, control API and metrics.
import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { type MeshMetrics, parsePsk, rpcMethod } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import {
  GetAdRequestSchema,
  type ResourceAd,
  ResourceAdSchema,
  type RuntimeOffer,
  SignedResourceAdSchema,
  type DatasetOffer,
} from '@weft/protocol'
import { pino, type Logger } from 'pino'
import { signAd, verifyAd } from './ads.js'
import { startApiServer, type ApiServer, isLoopbackHost } from './api.js'
import type { DatasetConfig, NodeConfig } from './config.js'
import type { InMemoryDataset } from '@weft/data'
import {
  claimDataDir,
  DATA_DIR_FILES,
  ensureDataDir,
  loadOrCreateApiToken,
  loadOrCreateIdentity,
  removeRunningNode,
  writeRunningNode,
} from './data-dir.js'
import { ConfigError } from './errors.js'
import { type FlService, startFlService } from './fl/fl-service.js'
import { describeLocalDatasets, loadLocalDataset } from './local-datasets.js'
import { createNodeMetrics, type NodeMetrics } from './metrics.js'
import { buildMeshView } from './mesh-view.js'
import { createPeerTable, type PeerEntry, type PeerTable } from './peer-table.js'
import { readHostResources } from './resources.js'
import { probeRuntimes } from './runtime-probe.js'
import { type EnginesComponents, type NodeEngines, startEngines } from './engines.js'
import { openNodeState, type NodeState } from './state.js'
import { WEFT_VERSION } from './version.js'
import { Telemetry, TrafficMeter } from './telemetry.js'
import { adView, type NodeView, type PeerView, peerView, type StreamEvent } from './views.js'

/** Gossipsub topic of resource ads. */
export const ADS_TOPIC = 'weft/ads/1'
/** DHT namespace of resource ads: `/weft-ad/<peer id>`. */
export const ADS_DHT_NAMESPACE = 'weft-ad'
/** RPC `node/ad`: fetch a peer's current signed ad directly. */
export const GET_AD = rpcMethod('node', 'ad', GetAdRequestSchema, SignedResourceAdSchema)

/** Most neighbours an ad lists (about 53 bytes each; ads stay far below their 64 KiB limit). */
const MAX_AD_NEIGHBORS = 128
/** Longest a DHT put of this node's ad may take. */
const DHT_PUT_TIMEOUT_MS = 15_000
/** How much telemetry history the node keeps for the dashboard. */
const TELEMETRY_HISTORY_MS = 30 * 60_000
/** The built dashboard (packages/node/dashboard, beside dist/). */
const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url))

/** What a node measures once and offers until it changes: engines and local data sets. */
export interface NodeOffers {
  runtimes: RuntimeOffer[]
  datasets: DatasetOffer[]
}

/** Pluggable measurements, so tests and embedders can replace the slow ones. */
export interface WeftNodeComponents {
  readonly now: () => number
  readonly logger: Logger
  /** Measures the ML engines (about one second); its result is advertised once it resolves. */
  readonly probeRuntimes?: (signal: AbortSignal) => Promise<RuntimeOffer[]>
  /** Describes the configured local data sets (counts, shapes). */
  readonly describeDatasets?: (config: NodeConfig, load: (config: DatasetConfig) => Promise<InMemoryDataset>) => Promise<DatasetOffer[]>
  /** Replacements inside the engines (tests). */
  readonly engines?: EnginesComponents
}

/** A running node. */
export interface WeftNode {
  readonly peerId: string
  readonly config: NodeConfig
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly metrics: NodeMetrics
  readonly logger: Logger
  readonly apiUrl: string
  readonly addrs: string[]
  /** Federated learning: jobs this node coordinates or takes part in. */
  readonly fl: FlService
  /** The node's view, as `GET /v1/node` serves it. */
  view(): NodeView
  /** Publishes a fresh ad now (also done every `ads.intervalMs`). */
  publishAd(): Promise<void>
  /** Stops timers, the API, the mesh and the state database; removes node.json. */
  stop(): Promise<void>
}

function meshMetricsFor(metrics: NodeMetrics, traffic: TrafficMeter): MeshMetrics {
  return {
    onBytes: (protocol, direction, bytes, peer) => {
      metrics.bytes.inc({ protocol, direction }, bytes)
      traffic.record(direction, bytes, peer)
    },
    onRpc: (protocol, method, side, outcome, seconds) => {
      if (side === 'client') metrics.rpcSeconds.observe({ protocol, method, outcome }, seconds)
    },
    onTensorTransfer: (purpose, direction, outcome, bytes, seconds) => {
      if (outcome !== 'ok') return
      metrics.transferBytes.inc({ purpose, direction }, bytes)
      metrics.transferSeconds.observe({ purpose, direction }, seconds)
      if (seconds > 0) metrics.transferThroughput.set({ purpose, direction }, bytes / seconds)
    },
    onBadMessage: (protocol, reason) => metrics.badMessages.inc({ protocol, reason }),
  }
}

function readPsk(config: NodeConfig): Uint8Array | undefined {
  const pn = config.privateNetwork
  if (pn === undefined) return undefined
  const path = isAbsolute(pn.pskFile) ? pn.pskFile : join(config.dataDir, pn.pskFile)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read the private network key ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parsePsk(text)
}

function validPeerIds(ids: readonly string[]): string[] {
  for (const id of ids) {
    try {
      peerIdFromString(id)
    } catch {
      throw new ConfigError(`privateNetwork.allow: '${id}' is not a peer id`)
    }
  }
  return [...ids]
}

/**
 * Starts a node: identity, state, mesh, ads, API. Resolves once the API listens and node.json is written.
 * @throws ConfigError, DataDirError on bad configuration or an unusable data directory
 */
export async function startWeftNode(config: NodeConfig, components: Partial<WeftNodeComponents> = {}): Promise<WeftNode> {
  const now = components.now ?? Date.now
  const logger = components.logger ?? pino({ level: config.log.level, base: { node: undefined } })
  ensureDataDir(config.dataDir)
  claimDataDir(config.dataDir)
  const privateKey = await loadOrCreateIdentity(config.dataDir)
  const psk = readPsk(config)
  const allowList = config.privateNetwork !== undefined && config.privateNetwork.allow.length > 0 ? validPeerIds(config.privateNetwork.allow) : undefined
  const state: NodeState = openNodeState(join(config.dataDir, DATA_DIR_FILES.state))
  const metrics = createNodeMetrics()
  const traffic = new TrafficMeter()
  const startedAt = now()
  // Assigned once the FL service starts; ads issued before that list no activities.
  let fl: FlService | undefined
  // Before the mesh: ads name the engines from the first one on (a PyTorch worker takes seconds to start).
  let engines: NodeEngines
  try {
    engines = await startEngines(config, logger, components.engines)
  } catch (err) {
    state.close()
    throw err
  }

  let mesh: MeshNode
  try {
    mesh = await createMeshNode(
      {
        privateKey,
        listen: config.listen,
        announce: config.announce,
        bootstrap: config.bootstrap,
        mdns: config.mdns,
        network: config.lan ? 'lan' : 'public',
        ...(psk !== undefined ? { psk } : {}),
        ...(allowList !== undefined ? { allowList } : {}),
        dht: {
          namespaces: {
            [ADS_DHT_NAMESPACE]: {
              // Every DHT server stores only ads that verify and belong to the key they are stored under.
              validate: async (key, value) => {
                const result = await verifyAd(value, now())
                if (!result.ok) throw new Error(`resource ad rejected: ${result.reason} (${result.detail})`)
                const id = new TextDecoder().decode(key).split('/')[2]
                if (id !== result.ad.peerId) throw new Error(`ad for ${result.ad.peerId} stored under ${id}`)
              },
              select: (_key, records) => {
                let best = 0
                let bestSeq = -1n
                records.forEach((r, i) => {
                  try {
                    const seq = fromBinary(ResourceAdSchema, fromBinary(SignedResourceAdSchema, r).ad).seq
                    if (seq > bestSeq) {
                      bestSeq = seq
                      best = i
                    }
                  } catch {}
                })
                return best
              },
            },
          },
        },
      },
      { metrics: meshMetricsFor(metrics, traffic), logger: logger.child({ component: 'mesh' }) },
    )
  } catch (err) {
    await engines.close()
    state.close()
    throw err
  }
  const peerId = mesh.peerId
  state.setMeta('peer_id', peerId)
  const peers = createPeerTable(peerId, { state, now })
  const alivePeers = (): number => peers.list().filter((p) => p.status === 'alive').length
  const telemetry = new Telemetry({
    intervalMs: config.telemetry.intervalMs,
    capacity: Math.ceil(TELEMETRY_HISTORY_MS / config.telemetry.intervalMs),
    now,
    traffic,
    connections: () => mesh.connections().length,
    peersAlive: alivePeers,
  })
  const cpuUtilization = (): number => telemetry.latest()?.cpu.host ?? 0

  // A restarted node reconnects to the peers it knew recently: their last signed ads carry their addresses.
  const redialAbort = new AbortController()
  void (async () => {
    const recent = peers.list().filter((p) => now() - p.lastSeen < 3_600_000).slice(0, 64)
    await Promise.allSettled(
      recent.map(async (p) => {
        for (const addr of p.ad.addrs) {
          if (redialAbort.signal.aborted) return
          try {
            await mesh.dial(addr.includes('/p2p/') ? addr : `${addr}/p2p/${p.peerId}`, { signal: AbortSignal.any([redialAbort.signal, AbortSignal.timeout(3_000)]) })
            return
          } catch {}
        }
      }),
    )
  })()

  // Engines are advertised from the first ad; the probe adds their measured throughput.
  const offers: NodeOffers = { runtimes: engines.offers(), datasets: [] }
  let seq = BigInt(state.getMeta('ad_seq') ?? '0')
  let lastSigned: Uint8Array | undefined

  const buildAd = (): ResourceAd => {
    const host = readHostResources()
    seq += 1n
    state.setMeta('ad_seq', seq.toString())
    const issued = now()
    return create(ResourceAdSchema, {
      peerId,
      seq,
      issuedAtMs: BigInt(issued),
      expiresAtMs: BigInt(issued + config.ads.ttlMs),
      startedAtMs: BigInt(startedAt),
      weftVersion: WEFT_VERSION,
      addrs: mesh.addresses(),
      cpu: { ...host.cpu, utilization: cpuUtilization() },
      memory: { totalBytes: BigInt(host.memory.totalBytes), freeBytes: BigInt(host.memory.freeBytes) },
      runtimes: offers.runtimes,
      accelerators: engines.accelerators(),
      datasets: offers.datasets,
      labels: config.labels,
      neighbors: [...new Set(mesh.connections().map((c) => c.peer))].slice(0, MAX_AD_NEIGHBORS),
      activities: fl?.activities() ?? [],
    })
  }

  const adsTopic = mesh.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema)
  const receiveAd = async (bytes: Uint8Array, from: string | undefined, via: string): Promise<void> => {
    const receivedAt = now()
    const result = await verifyAd(bytes, receivedAt, from)
    if (!result.ok) {
      metrics.adsReceived.inc({ outcome: result.reason })
      // A late ad (delivered after its expiry) is ordinary under load; anything else is a broken or hostile peer.
      const level = result.reason === 'expired' ? 'debug' : 'warn'
      logger[level]({ from, via, reason: result.reason, detail: result.detail }, 'dropped a resource ad')
      return
    }
    const accepted = peers.accept(result.ad, bytes, receivedAt)
    metrics.adsReceived.inc({ outcome: accepted.accepted ? 'accepted' : accepted.reason })
    if (accepted.accepted && accepted.isNew) logger.info({ peer: result.ad.peerId, via }, 'peer joined')
  }
  const unsubscribe = adsTopic.subscribe((message, from) => {
    void receiveAd(toBinary(SignedResourceAdSchema, message), from, 'gossip')
  })

  await mesh.rpc.handle(GET_AD, async () => {
    if (lastSigned === undefined) await publishAd()
    return fromBinary(SignedResourceAdSchema, lastSigned!)
  })

  const fetchAdFrom = async (remote: string): Promise<void> => {
    try {
      const signed = await mesh.rpc.call(remote, GET_AD, {}, { timeoutMs: 5_000 })
      await receiveAd(toBinary(SignedResourceAdSchema, signed), remote, 'rpc')
    } catch (err) {
      logger.debug({ peer: remote, err: (err as Error).message }, 'could not fetch ad on connect')
    }
  }
  const onConnect = (evt: CustomEvent<string>) => {
    peers.setConnected(evt.detail, true)
    metrics.connections.set(mesh.connections().length)
    void fetchAdFrom(evt.detail)
  }
  const onDisconnect = (evt: CustomEvent<string>) => {
    peers.setConnected(evt.detail, false)
    metrics.connections.set(mesh.connections().length)
  }
  mesh.addEventListener('peer:connect', onConnect)
  mesh.addEventListener('peer:disconnect', onDisconnect)
  peers.on('peer:gone', (entry) => logger.info({ peer: entry.peerId, reason: entry.goneReason }, 'peer gone'))

  let stopped = false
  let dhtPut: Promise<void> | undefined
  async function publishAd(): Promise<void> {
    if (stopped) return
    const signed = await signAd(buildAd(), privateKey)
    lastSigned = signed
    try {
      await adsTopic.publish(fromBinary(SignedResourceAdSchema, signed))
      metrics.adsPublished.inc()
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'publishing the ad on gossipsub failed')
    }
    // The DHT copy lets any peer look this node up even when it is not in their gossip mesh. One put at a time, each
    // allowed longer than a short ad interval: a busy machine's put takes seconds, and aborting it stores nothing.
    if (dhtPut === undefined) {
      dhtPut = mesh.dht
        .put(ADS_DHT_NAMESPACE, peerId, signed, { signal: AbortSignal.timeout(Math.max(config.ads.intervalMs, DHT_PUT_TIMEOUT_MS)) })
        .catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'storing the ad in the DHT failed'))
        .finally(() => {
          dhtPut = undefined
        })
    }
  }

  const updatePeerGauge = () => {
    let alive = 0
    let gone = 0
    for (const p of peers.list()) p.status === 'alive' ? alive++ : gone++
    metrics.peers.set({ status: 'alive' }, alive)
    metrics.peers.set({ status: 'gone' }, gone)
  }
  peers.on('peer:update', updatePeerGauge)
  peers.on('peer:gone', updatePeerGauge)
  updatePeerGauge()

  const adTimer = setInterval(() => void publishAd(), config.ads.intervalMs)
  const sweepTimer = setInterval(() => peers.sweep(), Math.min(1_000, config.ads.intervalMs))
  adTimer.unref()
  sweepTimer.unref()

  // Each configured data set is loaded once: to describe it in the ad, then to train and evaluate on it.
  const loadedDatasets = new Map<string, Promise<InMemoryDataset>>()
  const loadDataset = (ds: DatasetConfig): Promise<InMemoryDataset> => {
    const key = JSON.stringify(ds)
    let p = loadedDatasets.get(key)
    if (p === undefined) {
      p = loadLocalDataset(ds)
      p.catch(() => loadedDatasets.delete(key))
      loadedDatasets.set(key, p)
    }
    return p
  }
  const probeAbort = new AbortController()
  const describeDatasets = components.describeDatasets ?? describeLocalDatasets
  const runProbe = components.probeRuntimes ?? probeRuntimes
  const measured = (async () => {
    try {
      if (describeDatasets !== undefined) offers.datasets = await describeDatasets(config, loadDataset)
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'could not load a configured data set; advertising none')
    }
    try {
      if (config.runtime.probe) {
        const measuredTfjs = await runProbe(probeAbort.signal)
        const torchGflops = await engines.measureTorch()
        offers.runtimes = engines.offers().map((offer) => {
          if (offer.name === 'torch' && torchGflops !== undefined) return { ...offer, matmulGflops: Math.round(torchGflops * 10) / 10 }
          return measuredTfjs.find((m) => m.name === offer.name) ?? offer
        })
      }
    } catch (err) {
      if (!probeAbort.signal.aborted) logger.warn({ err: (err as Error).message }, 'runtime probe failed')
    }
    if (!stopped && (offers.datasets.length > 0 || offers.runtimes.length > 0)) await publishAd()
  })()

  try {
    fl = await startFlService({ mesh, peers, state, config, metrics, logger, loadDataset, engines })
  } catch (err) {
    clearInterval(adTimer)
    clearInterval(sweepTimer)
    probeAbort.abort()
    await engines.close()
    await mesh.stop()
    state.close()
    throw err
  }

  const flService: FlService = fl
  const authRequired = !isLoopbackHost(config.api.host)
  const token = authRequired ? loadOrCreateApiToken(config.dataDir) : undefined

  const view = (): NodeView => {
    const host = readHostResources()
    const list = peers.list()
    return {
      peerId,
      version: WEFT_VERSION,
      addrs: mesh.addresses(),
      startedAt,
      uptimeMs: now() - startedAt,
      labels: { ...config.labels },
      privateNetwork: psk !== undefined,
      resources: {
        cpu: { ...host.cpu, utilization: cpuUtilization() },
        memory: host.memory,
        runtimes: offers.runtimes.map((r) => ({ name: r.name, backend: r.backend, device: r.device, matmulGflops: r.matmulGflops })),
        datasets: adView(create(ResourceAdSchema, { datasets: offers.datasets })).datasets,
        accelerators: engines.accelerators().map((a) => ({ kind: a.kind, name: a.name, memoryBytes: Number(a.memoryBytes) })),
      },
      engine: {
        requested: engines.requested,
        preferred: engines.preferred,
        available: [...engines.available],
        ...(engines.fallbackReason === undefined ? {} : { fallbackReason: engines.fallbackReason }),
        ...(engines.torch === undefined
          ? {}
          : {
              torch: {
                torch: engines.torch.torch,
                python: engines.torch.python,
                device: engines.torch.device,
                deviceName: engines.torch.deviceName,
                threads: engines.torch.threads,
                pid: engines.torch.pid,
                restarts: engines.torchRestarts,
              },
            }),
      },
      connections: mesh.connections().map((c) => ({ peerId: c.peer, remoteAddr: c.remoteAddr, direction: c.direction, openedAt: c.openedAt })),
      peers: { alive: list.filter((p) => p.status === 'alive').length, gone: list.filter((p) => p.status === 'gone').length },
      api: { url: api?.url ?? '', authRequired },
      traffic: traffic.total(),
      activities: fl?.activities() ?? [],
    }
  }
  const peerViewOf = (entry: PeerEntry): PeerView => peerView(entry, traffic.of(entry.peerId))
  const subscribe = (listener: (event: StreamEvent) => void): (() => void) => {
    const onPeer = (entry: PeerEntry) => listener({ type: 'peer', peer: peerViewOf(entry) })
    const onConnection = (connected: boolean) => (evt: CustomEvent<string>) => listener({ type: 'connection', peerId: evt.detail, connected })
    const onOpen = onConnection(true)
    const onClose = onConnection(false)
    const offSample = telemetry.onSample((sample) => listener({ type: 'sample', sample }))
    const offJob = flService.onJobEvent((jobId, event) => listener({ type: 'job', jobId, event }))
    peers.on('peer:update', onPeer)
    peers.on('peer:gone', onPeer)
    mesh.addEventListener('peer:connect', onOpen)
    mesh.addEventListener('peer:disconnect', onClose)
    return () => {
      offSample()
      offJob()
      peers.off('peer:update', onPeer)
      peers.off('peer:gone', onPeer)
      mesh.removeEventListener('peer:connect', onOpen)
      mesh.removeEventListener('peer:disconnect', onClose)
    }
  }

  let api: ApiServer | undefined
  try {
    api = await startApiServer(
      {
        node: view,
        peers: () => peers.list().map(peerViewOf),
        peer: (id) => {
          const entry = peers.get(id)
          return entry === undefined ? undefined : peerViewOf(entry)
        },
        mesh: () => buildMeshView(view(), peers.list().map(peerViewOf), cpuUtilization(), now()),
        telemetry: (since) => ({ intervalMs: telemetry.intervalMs, samples: telemetry.since(since) }),
        subscribe,
        lookupPeer: async (id, signal) => {
          const known = peers.get(id)
          const bytes = await mesh.dht.get(ADS_DHT_NAMESPACE, id, { signal })
          if (bytes === undefined) return undefined
          const result = await verifyAd(bytes, now())
          if (!result.ok || result.ad.peerId !== id) return undefined
          return {
            peerId: id,
            status: 'alive',
            goneReason: null,
            connected: known?.connected ?? false,
            lastSeen: now(),
            ad: adView(result.ad),
            traffic: traffic.of(id),
          }
        },
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        fl: () => fl,
      },
      {
        host: config.api.host,
        port: config.api.port,
        ...(token !== undefined ? { token } : {}),
        ...(config.api.dashboard ? { dashboardDir: DASHBOARD_DIR } : {}),
      },
    )
  } catch (err) {
    clearInterval(adTimer)
    clearInterval(sweepTimer)
    probeAbort.abort()
    await flService.stop()
    await engines.close()
    await mesh.stop()
    state.close()
    throw err
  }
  const apiUrl = api.url
  telemetry.sample()
  telemetry.start()
  writeRunningNode(config.dataDir, { pid: process.pid, peerId, apiUrl, startedAt })
  await publishAd()
  logger.info({ peerId, api: apiUrl, addrs: mesh.addresses() }, 'node started')

  return {
    peerId,
    config,
    mesh,
    peers,
    metrics,
    logger,
    apiUrl,
    fl: flService,
    get addrs() {
      return mesh.addresses()
    },
    view,
    publishAd,
    async stop() {
      if (stopped) return
      stopped = true
      redialAbort.abort()
      clearInterval(adTimer)
      clearInterval(sweepTimer)
      telemetry.stop()
      probeAbort.abort()
      unsubscribe()
      mesh.removeEventListener('peer:connect', onConnect)
      mesh.removeEventListener('peer:disconnect', onDisconnect)
      await measured.catch(() => {})
      await api?.close()
      await flService.stop()
      await engines.close()
      await mesh.stop()
      state.close()
      removeRunningNode(config.dataDir)
      logger.info({ peerId }, 'node stopped')
    },
  }
}
