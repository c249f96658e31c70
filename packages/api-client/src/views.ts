// Schemas (zod) of the JSON views the control API serves about the node, its peers, the mesh and telemetry; the
// view types are inferred from them, so the node that sends a view and the client that checks it share one definition.
import { z } from 'zod'

const strings = z.array(z.string())
const labels = z.record(z.string(), z.string())

export const resourcesViewSchema = z.object({
  /** utilization: the host's busy CPU share over the node's last sampling interval (0..1). */
  cpu: z.object({ model: z.string(), cores: z.number(), load1: z.number(), load5: z.number(), load15: z.number(), utilization: z.number() }),
  memory: z.object({ totalBytes: z.number(), freeBytes: z.number() }),
  runtimes: z.array(z.object({ name: z.string(), backend: z.string(), device: z.string(), matmulGflops: z.number() })),
  datasets: z.array(
    z.object({ name: z.string(), examples: z.number(), featureShape: z.array(z.number()), numClasses: z.number(), schema: z.string(), bytes: z.number() }),
  ),
  accelerators: z.array(z.object({ kind: z.string(), name: z.string(), memoryBytes: z.number() })),
})
export type ResourcesView = z.infer<typeof resourcesViewSchema>

/** Something a node is busy with, e.g. `{ kind: 'fl-coordinator', jobId, detail: 'round 3/8' }`. */
export const activityViewSchema = z.object({ kind: z.string(), jobId: z.string(), detail: z.string() })
export type ActivityView = z.infer<typeof activityViewSchema>

/** Bytes of Weft protocol traffic (RPC, tensor streams, pubsub payloads) between this node and a peer, or in all. */
export const trafficViewSchema = z.object({ inBytes: z.number(), outBytes: z.number() })
export type TrafficView = z.infer<typeof trafficViewSchema>

export const adViewSchema = resourcesViewSchema.extend({
  peerId: z.string(),
  seq: z.number(),
  issuedAt: z.number(),
  expiresAt: z.number(),
  startedAt: z.number(),
  version: z.string(),
  addrs: strings,
  labels,
  /** Peers the advertiser holds a live connection to. */
  neighbors: strings,
  activities: z.array(activityViewSchema),
  /** Its block store: bytes used, the quota (null: none), whether it takes replicas and up to what size (null: runs none). */
  store: z
    .object({ usedBytes: z.number(), quotaBytes: z.number().nullable(), acceptsReplicas: z.boolean(), maxReplicaBytes: z.number() })
    .nullable()
    .default(null),
})
export type AdView = z.infer<typeof adViewSchema>

export const peerStatusSchema = z.enum(['alive', 'gone'])

export const peerViewSchema = z.object({
  peerId: z.string(),
  status: peerStatusSchema,
  goneReason: z.string().nullable(),
  connected: z.boolean(),
  lastSeen: z.number(),
  ad: adViewSchema,
  /** Traffic between this node and the peer since this node started. */
  traffic: trafficViewSchema,
})
export type PeerView = z.infer<typeof peerViewSchema>

/** GET /v1/peers */
export const peerListSchema = z.object({ peers: z.array(peerViewSchema) })

export const connectionViewSchema = z.object({
  peerId: z.string(),
  remoteAddr: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  openedAt: z.number(),
})
export type ConnectionView = z.infer<typeof connectionViewSchema>

const engineName = z.enum(['tfjs', 'torch'])

/** The ML engines: what was asked for, what trains, and why torch is not used when it was asked for. */
export const engineViewSchema = z.object({
  requested: z.enum(['tfjs', 'torch', 'auto']),
  /** The engine that trains jobs that name none. */
  preferred: engineName,
  available: z.array(engineName),
  fallbackReason: z.string().exactOptional(),
  /** The first PyTorch worker: versions, device, threads, its process id, and how often workers were restarted. */
  torch: z
    .object({
      torch: z.string(),
      python: z.string(),
      device: z.enum(['cpu', 'cuda']),
      deviceName: z.string(),
      threads: z.number(),
      pid: z.number(),
      restarts: z.number(),
    })
    .exactOptional(),
})
export type EngineView = z.infer<typeof engineViewSchema>

/** GET /v1/node */
export const nodeViewSchema = z.object({
  peerId: z.string(),
  version: z.string(),
  addrs: strings,
  startedAt: z.number(),
  uptimeMs: z.number(),
  labels,
  privateNetwork: z.boolean(),
  resources: resourcesViewSchema,
  connections: z.array(connectionViewSchema),
  peers: z.object({ alive: z.number(), gone: z.number() }),
  api: z.object({ url: z.string(), authRequired: z.boolean() }),
  /** All Weft protocol traffic of this node since it started. */
  traffic: trafficViewSchema,
  activities: z.array(activityViewSchema),
  engine: engineViewSchema,
})
export type NodeView = z.infer<typeof nodeViewSchema>

/** One sample of this node's resource use (GET /v1/node/telemetry, SSE event `sample`). */
export const telemetrySampleSchema = z.object({
  /** Epoch ms. */
  at: z.number(),
  /** Busy share of the host's CPU time and this process's CPU time as a share of all cores (0..1), since the previous sample. */
  cpu: z.object({ host: z.number(), process: z.number() }),
  memory: z.object({ totalBytes: z.number(), usedBytes: z.number(), rssBytes: z.number(), heapUsedBytes: z.number() }),
  /** Weft protocol traffic: totals since start and bytes per second since the previous sample. */
  net: z.object({ inBytes: z.number(), outBytes: z.number(), inRate: z.number(), outRate: z.number() }),
  connections: z.number(),
  peersAlive: z.number(),
})
export type TelemetrySample = z.infer<typeof telemetrySampleSchema>

/** GET /v1/node/telemetry */
export const telemetryViewSchema = z.object({ intervalMs: z.number(), samples: z.array(telemetrySampleSchema) })
export type TelemetryView = z.infer<typeof telemetryViewSchema>

/** A node of the mesh graph (GET /v1/mesh). */
export const meshNodeViewSchema = z.object({
  peerId: z.string(),
  self: z.boolean(),
  status: peerStatusSchema,
  /** Whether this node holds a connection to it (always false for self). */
  connected: z.boolean(),
  labels,
  cores: z.number(),
  memoryBytes: z.number(),
  freeMemoryBytes: z.number(),
  /** Sum of the measured matmul throughput of its runtimes. */
  gflops: z.number(),
  cpuUtilization: z.number(),
  startedAt: z.number(),
  version: z.string(),
  runtimes: strings,
  datasets: strings,
  activities: z.array(activityViewSchema),
  traffic: trafficViewSchema,
})
export type MeshNodeView = z.infer<typeof meshNodeViewSchema>

/** A live connection between two nodes, as one of them advertises it (or this node holds it). */
export const meshEdgeViewSchema = z.object({ source: z.string(), target: z.string() })
export type MeshEdgeView = z.infer<typeof meshEdgeViewSchema>

/** Fabric-wide totals over the nodes alive (this one included). */
export const fabricTotalsViewSchema = z.object({
  nodes: z.number(),
  cores: z.number(),
  memoryBytes: z.number(),
  freeMemoryBytes: z.number(),
  gflops: z.number(),
  /** Core-weighted mean CPU utilization (0..1). */
  cpuUtilization: z.number(),
  activities: z.number(),
})
export type FabricTotalsView = z.infer<typeof fabricTotalsViewSchema>

/** GET /v1/mesh */
export const meshViewSchema = z.object({
  self: z.string(),
  at: z.number(),
  nodes: z.array(meshNodeViewSchema),
  edges: z.array(meshEdgeViewSchema),
  totals: fabricTotalsViewSchema,
})
export type MeshView = z.infer<typeof meshViewSchema>
