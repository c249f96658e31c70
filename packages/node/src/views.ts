// JSON shapes the control API serves and the CLI reads: plain numbers and strings, no protobuf types.
import type { ResourceAd } from '@weft/protocol'
import type { PeerEntry } from './peer-table.js'

export interface ResourcesView {
  /** utilization: the host's busy CPU share over the node's last sampling interval (0..1). */
  readonly cpu: { model: string; cores: number; load1: number; load5: number; load15: number; utilization: number }
  readonly memory: { totalBytes: number; freeBytes: number }
  readonly runtimes: Array<{ name: string; backend: string; device: string; matmulGflops: number }>
  readonly datasets: Array<{ name: string; examples: number; featureShape: number[]; numClasses: number; schema: string; bytes: number }>
  readonly accelerators: Array<{ kind: string; name: string; memoryBytes: number }>
}

export interface AdView extends ResourcesView {
  readonly peerId: string
  readonly seq: number
  readonly issuedAt: number
  readonly expiresAt: number
  readonly startedAt: number
  readonly version: string
  readonly addrs: string[]
  readonly labels: Record<string, string>
  /** Peers the advertiser holds a live connection to. */
  readonly neighbors: string[]
  readonly activities: ActivityView[]
}

/** Something a node is busy with, e.g. `{ kind: 'fl-coordinator', jobId, detail: 'round 3/8' }`. */
export interface ActivityView {
  readonly kind: string
  readonly jobId: string
  readonly detail: string
}

/** Bytes of Weft protocol traffic (RPC, tensor streams, pubsub payloads) between this node and a peer, or in all. */
export interface TrafficView {
  readonly inBytes: number
  readonly outBytes: number
}

export interface PeerView {
  readonly peerId: string
  readonly status: 'alive' | 'gone'
  readonly goneReason: string | null
  readonly connected: boolean
  readonly lastSeen: number
  readonly ad: AdView
  /** Traffic between this node and the peer since this node started. */
  readonly traffic: TrafficView
}

export interface ConnectionView {
  readonly peerId: string
  readonly remoteAddr: string
  readonly direction: 'inbound' | 'outbound'
  readonly openedAt: number
}

export interface NodeView {
  readonly peerId: string
  readonly version: string
  readonly addrs: string[]
  readonly startedAt: number
  readonly uptimeMs: number
  readonly labels: Record<string, string>
  readonly privateNetwork: boolean
  readonly resources: ResourcesView
  readonly connections: ConnectionView[]
  readonly peers: { alive: number; gone: number }
  readonly api: { url: string; authRequired: boolean }
  /** All Weft protocol traffic of this node since it started. */
  readonly traffic: TrafficView
  readonly activities: ActivityView[]
  /** The ML engines: what was asked for, what trains, and why torch is not used when it was asked for. */
  readonly engine: EngineView
}

export interface EngineView {
  readonly requested: 'tfjs' | 'torch' | 'auto'
  /** The engine that trains jobs that name none. */
  readonly preferred: 'tfjs' | 'torch'
  readonly available: Array<'tfjs' | 'torch'>
  readonly fallbackReason?: string
  /** The first PyTorch worker: versions, device, threads, its process id, and how often workers were restarted. */
  readonly torch?: { torch: string; python: string; device: 'cpu' | 'cuda'; deviceName: string; threads: number; pid: number; restarts: number }
}

/** One sample of this node's resource use (GET /v1/node/telemetry, SSE event `sample`). */
export interface TelemetrySample {
  /** Epoch ms. */
  readonly at: number
  /** Busy share of the host's CPU time and this process's CPU time as a share of all cores (0..1), since the previous sample. */
  readonly cpu: { readonly host: number; readonly process: number }
  readonly memory: { readonly totalBytes: number; readonly usedBytes: number; readonly rssBytes: number; readonly heapUsedBytes: number }
  /** Weft protocol traffic: totals since start and bytes per second since the previous sample. */
  readonly net: { readonly inBytes: number; readonly outBytes: number; readonly inRate: number; readonly outRate: number }
  readonly connections: number
  readonly peersAlive: number
}

export interface TelemetryView {
  readonly intervalMs: number
  readonly samples: TelemetrySample[]
}

/** A node of the mesh graph (GET /v1/mesh). */
export interface MeshNodeView {
  readonly peerId: string
  readonly self: boolean
  readonly status: 'alive' | 'gone'
  /** Whether this node holds a connection to it (always false for self). */
  readonly connected: boolean
  readonly labels: Record<string, string>
  readonly cores: number
  readonly memoryBytes: number
  readonly freeMemoryBytes: number
  /** Sum of the measured matmul throughput of its runtimes. */
  readonly gflops: number
  readonly cpuUtilization: number
  readonly startedAt: number
  readonly version: string
  readonly runtimes: string[]
  readonly datasets: string[]
  readonly activities: ActivityView[]
  readonly traffic: TrafficView
}

/** A live connection between two nodes, as one of them advertises it (or this node holds it). */
export interface MeshEdgeView {
  readonly source: string
  readonly target: string
}

/** Fabric-wide totals over the nodes alive (this one included). */
export interface FabricTotalsView {
  readonly nodes: number
  readonly cores: number
  readonly memoryBytes: number
  readonly freeMemoryBytes: number
  readonly gflops: number
  /** Core-weighted mean CPU utilization (0..1). */
  readonly cpuUtilization: number
  readonly activities: number
}

export interface MeshView {
  readonly self: string
  readonly at: number
  readonly nodes: MeshNodeView[]
  readonly edges: MeshEdgeView[]
  readonly totals: FabricTotalsView
}

/**
 * What GET /v1/stream sends (server-sent events; the SSE event name is `type`, the data is the JSON of the rest):
 * node samples, peer table changes, connection changes and job events.
 */
export type StreamEvent =
  | { readonly type: 'sample'; readonly sample: TelemetrySample }
  | { readonly type: 'peer'; readonly peer: PeerView }
  | { readonly type: 'connection'; readonly peerId: string; readonly connected: boolean }
  | { readonly type: 'job'; readonly jobId: string; readonly event: { readonly seq: number; readonly at: number; readonly type: string; readonly round?: number; readonly message: string } }

/** Converts a decoded ResourceAd into its JSON view. */
export function adView(ad: ResourceAd): AdView {
  return {
    peerId: ad.peerId,
    seq: Number(ad.seq),
    issuedAt: Number(ad.issuedAtMs),
    expiresAt: Number(ad.expiresAtMs),
    startedAt: Number(ad.startedAtMs),
    version: ad.weftVersion,
    addrs: [...ad.addrs],
    labels: { ...ad.labels },
    cpu: {
      model: ad.cpu?.model ?? '',
      cores: ad.cpu?.cores ?? 0,
      load1: ad.cpu?.load1 ?? 0,
      load5: ad.cpu?.load5 ?? 0,
      load15: ad.cpu?.load15 ?? 0,
      utilization: ad.cpu?.utilization ?? 0,
    },
    memory: { totalBytes: Number(ad.memory?.totalBytes ?? 0n), freeBytes: Number(ad.memory?.freeBytes ?? 0n) },
    runtimes: ad.runtimes.map((r) => ({ name: r.name, backend: r.backend, device: r.device, matmulGflops: r.matmulGflops })),
    datasets: ad.datasets.map((d) => ({
      name: d.name,
      examples: Number(d.examples),
      featureShape: [...d.featureShape],
      numClasses: d.numClasses,
      schema: d.schema,
      bytes: Number(d.bytes),
    })),
    accelerators: ad.accelerators.map((a) => ({ kind: a.kind, name: a.name, memoryBytes: Number(a.memoryBytes) })),
    neighbors: [...ad.neighbors],
    activities: ad.activities.map((a) => ({ kind: a.kind, jobId: a.jobId, detail: a.detail })),
  }
}

export function peerView(entry: PeerEntry, traffic: TrafficView = { inBytes: 0, outBytes: 0 }): PeerView {
  return {
    traffic,
    peerId: entry.peerId,
    status: entry.status,
    goneReason: entry.goneReason,
    connected: entry.connected,
    lastSeen: entry.lastSeen,
    ad: adView(entry.ad),
  }
}
