// JSON shapes the control API serves and the CLI reads: plain numbers and strings, no protobuf types.
import type { ResourceAd } from '@weft/protocol'
import type { PeerEntry } from './peer-table.js'

export interface ResourcesView {
  readonly cpu: { model: string; cores: number; load1: number; load5: number; load15: number }
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
}

export interface PeerView {
  readonly peerId: string
  readonly status: 'alive' | 'gone'
  readonly goneReason: string | null
  readonly connected: boolean
  readonly lastSeen: number
  readonly ad: AdView
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
}

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
  }
}

export function peerView(entry: PeerEntry): PeerView {
  return {
    peerId: entry.peerId,
    status: entry.status,
    goneReason: entry.goneReason,
    connected: entry.connected,
    lastSeen: entry.lastSeen,
    ad: adView(entry.ad),
  }
}
