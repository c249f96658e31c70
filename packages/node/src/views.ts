// JSON views the control API serves, built from the node's state: their types and schemas live in
// @weft/api-client (one definition for the node that sends them and the clients that check them).
import type { AdView, PeerView, TrafficView } from '@weft/api-client'
import type { ResourceAd } from '@weft/protocol'
import type { PeerEntry } from './peer-table.js'

export type {
  ActivityView,
  AdView,
  ConnectionView,
  EngineView,
  FabricTotalsView,
  MeshEdgeView,
  MeshNodeView,
  MeshView,
  NodeView,
  PeerView,
  ResourcesView,
  StreamEvent,
  TelemetrySample,
  TelemetryView,
  TrafficView,
} from '@weft/api-client'

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
    store:
      ad.store === undefined
        ? null
        : {
            usedBytes: Number(ad.store.usedBytes),
            quotaBytes: ad.store.quotaBytes === 0n ? null : Number(ad.store.quotaBytes),
            acceptsReplicas: ad.store.acceptsReplicas,
            maxReplicaBytes: Number(ad.store.maxReplicaBytes),
          },
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
