// JSON shapes of the node's control API (/v1), as the dashboard reads them.

/** Something a node is busy with, e.g. `{ kind: 'fl-coordinator', jobId, detail: 'round 3/8' }`. */
export interface Activity {
  readonly kind: string
  readonly jobId: string
  readonly detail: string
}

/** Bytes of Weft protocol traffic. */
export interface Traffic {
  readonly inBytes: number
  readonly outBytes: number
}

export interface CpuInfo {
  readonly model: string
  readonly cores: number
  readonly load1: number
  readonly load5: number
  readonly load15: number
  /** Busy share of the host's CPU (0..1). */
  readonly utilization: number
}

export interface MemoryInfo {
  readonly totalBytes: number
  readonly freeBytes: number
}

export interface RuntimeInfo {
  readonly name: string
  readonly backend: string
  readonly device: string
  readonly matmulGflops: number
}

export interface DatasetInfo {
  readonly name: string
  readonly examples: number
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly schema: string
  readonly bytes: number
}

export interface AcceleratorInfo {
  readonly kind: string
  readonly name: string
  readonly memoryBytes: number
}

export interface Resources {
  readonly cpu: CpuInfo
  readonly memory: MemoryInfo
  readonly runtimes: readonly RuntimeInfo[]
  readonly datasets: readonly DatasetInfo[]
  readonly accelerators: readonly AcceleratorInfo[]
}

export interface Connection {
  readonly peerId: string
  readonly remoteAddr: string
  readonly direction: 'inbound' | 'outbound'
  readonly openedAt: number
}

/** GET /v1/node */
export interface NodeView {
  readonly peerId: string
  readonly version: string
  readonly addrs: readonly string[]
  readonly startedAt: number
  readonly uptimeMs: number
  readonly labels: Readonly<Record<string, string>>
  readonly privateNetwork: boolean
  readonly resources: Resources
  readonly connections: readonly Connection[]
  readonly peers: { readonly alive: number; readonly gone: number }
  readonly api: { readonly url: string; readonly authRequired: boolean }
  readonly traffic: Traffic
  readonly activities: readonly Activity[]
}

/** One sample of the node's resource use (telemetry endpoint and SSE `sample`). */
export interface TelemetrySample {
  /** Epoch ms. */
  readonly at: number
  /** Host busy share and this process's share of all cores (0..1). */
  readonly cpu: { readonly host: number; readonly process: number }
  readonly memory: { readonly totalBytes: number; readonly usedBytes: number; readonly rssBytes: number; readonly heapUsedBytes: number }
  /** Totals since start, and bytes per second since the previous sample. */
  readonly net: { readonly inBytes: number; readonly outBytes: number; readonly inRate: number; readonly outRate: number }
  readonly connections: number
  readonly peersAlive: number
}

/** GET /v1/node/telemetry */
export interface TelemetryView {
  readonly intervalMs: number
  readonly samples: readonly TelemetrySample[]
}

export type PeerStatus = 'alive' | 'gone'

export interface MeshNode {
  readonly peerId: string
  readonly self: boolean
  readonly status: PeerStatus
  /** Whether this node holds a connection to it (always false for self). */
  readonly connected: boolean
  readonly labels: Readonly<Record<string, string>>
  readonly cores: number
  readonly memoryBytes: number
  readonly freeMemoryBytes: number
  readonly gflops: number
  readonly cpuUtilization: number
  readonly startedAt: number
  readonly version: string
  readonly runtimes: readonly string[]
  readonly datasets: readonly string[]
  readonly activities: readonly Activity[]
  readonly traffic: Traffic
}

export interface MeshEdge {
  readonly source: string
  readonly target: string
}

/** Fabric-wide totals over the nodes alive. */
export interface FabricTotals {
  readonly nodes: number
  readonly cores: number
  readonly memoryBytes: number
  readonly freeMemoryBytes: number
  readonly gflops: number
  /** Core-weighted mean CPU utilization (0..1). */
  readonly cpuUtilization: number
  readonly activities: number
}

/** GET /v1/mesh */
export interface MeshView {
  readonly self: string
  readonly at: number
  readonly nodes: readonly MeshNode[]
  readonly edges: readonly MeshEdge[]
  readonly totals: FabricTotals
}

/** A peer's signed resource advertisement. */
export interface Ad extends Resources {
  readonly peerId: string
  readonly seq: number
  readonly issuedAt: number
  readonly expiresAt: number
  readonly startedAt: number
  readonly version: string
  readonly addrs: readonly string[]
  readonly labels: Readonly<Record<string, string>>
  /** Peers the advertiser holds a live connection to. */
  readonly neighbors: readonly string[]
  readonly activities: readonly Activity[]
}

/** GET /v1/peers/<peerId> */
export interface PeerView {
  readonly peerId: string
  readonly status: PeerStatus
  readonly goneReason: string | null
  readonly connected: boolean
  readonly lastSeen: number
  readonly ad: Ad
  readonly traffic: Traffic
}

export type JobStatus = 'running' | 'done' | 'failed' | 'cancelled'

/** Live state of a running job beyond what is stored. */
export interface JobLive {
  readonly members: number
  readonly available: number
  readonly round?: {
    readonly round: number
    readonly participants: number
    readonly pending: number
    readonly delivered: number
    readonly dropped: number
    readonly startedAt: number
  }
}

/** A job as GET /v1/fl/jobs lists it. */
export interface JobSummary {
  readonly id: string
  readonly name: string
  readonly status: JobStatus
  readonly coordinator: string
  readonly submitter: string
  readonly completedRounds: number
  readonly rounds: number
  readonly strategy: string
  readonly dataset: string
  readonly model: { readonly architecture: string; readonly params: number }
  readonly modelHash: string
  readonly createdAt: number
  readonly updatedAt: number
  readonly error?: string
  readonly live?: JobLive
  readonly latest?: { readonly round: number; readonly accuracy?: number; readonly loss?: number; readonly trainLoss: number }
  /** Rounds whose output model can be downloaded (0 = the initial model). */
  readonly models: readonly number[]
}

/** GET /v1/fl/jobs */
export interface JobList {
  readonly jobs: readonly JobSummary[]
  /** Jobs this node takes part in as a client. */
  readonly client: readonly unknown[]
}

export interface Evaluation {
  readonly centralized?: { readonly loss: number; readonly accuracy: number; readonly examples: number; readonly seconds: number }
  readonly federated?: { readonly loss: number; readonly accuracy: number; readonly examples: number; readonly clients: number }
}

/** Per-round measurements; seconds are wall-clock. */
export interface RoundMetrics {
  readonly sampled: number
  readonly results: number
  readonly dropped: number
  readonly refused: number
  readonly examples: number
  readonly trainLoss: number
  readonly bytesDown: number
  readonly bytesUp: number
  readonly seconds: {
    readonly total: number
    readonly broadcast: number
    readonly training: number
    readonly upload: number
    readonly aggregation: number
  }
  readonly overheadSeconds: number
  readonly staleness?: number
  readonly evaluation?: Evaluation
  /** Differential-privacy budget spent so far. */
  readonly privacy?: { readonly epsilon: number; readonly delta: number }
}

export interface RoundView {
  /** Starts at 1. */
  readonly round: number
  readonly status: 'open' | 'closed'
  readonly participants: number
  readonly clients: readonly string[]
  /** Clients whose update was accepted. */
  readonly delivered: readonly string[]
  readonly startedAt: number
  readonly endedAt?: number
  readonly metrics?: RoundMetrics
}

/** GET /v1/fl/jobs/<id> */
export interface JobView extends JobSummary {
  readonly spec: Readonly<Record<string, unknown>>
  readonly history: readonly RoundView[]
}

export interface JobEvent {
  readonly seq: number
  readonly at: number
  readonly type: string
  readonly round?: number
  readonly message: string
}

/** GET /v1/fl/jobs/<id>/events */
export interface JobEvents {
  readonly events: readonly JobEvent[]
  readonly status: JobStatus
}

/** POST /v1/fl/jobs */
export interface SubmittedJob {
  readonly id: string
  readonly coordinator: string
}

/** What GET /v1/stream sends: the SSE event name, and its JSON data. */
export interface StreamEvents {
  readonly sample: { readonly sample: TelemetrySample }
  readonly peer: { readonly peer: PeerView }
  readonly connection: { readonly peerId: string; readonly connected: boolean }
  readonly job: { readonly jobId: string; readonly event: JobEvent }
}
