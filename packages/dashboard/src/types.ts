// JSON shapes of the node's control API (/v1), as the dashboard reads them: the server's own types, imported
// type-only (erased by the build), so the page cannot drift from what the node sends.
import type { JobSummary, JobView, PeerView, TelemetrySample } from '@weft/node'
import type { JobEvent } from '@weft/fl'

export type {
  ActivityView as Activity,
  AdView as Ad,
  FabricTotalsView as FabricTotals,
  JobSummary,
  JobView,
  MeshEdgeView as MeshEdge,
  MeshNodeView as MeshNode,
  MeshView,
  NodeView,
  PeerView,
  ResourcesView as Resources,
  RoundView,
  TelemetrySample,
  TelemetryView,
  TrafficView as Traffic,
} from '@weft/node'
export type { EvaluationMetrics as Evaluation, JobEvent, JobLive, RoundMetrics } from '@weft/fl'

export type JobStatus = JobView['status']

/** GET /v1/fl/jobs */
export interface JobList {
  readonly jobs: readonly JobSummary[]
  /** Jobs this node takes part in as a client. */
  readonly client: readonly unknown[]
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

/** What GET /v1/stream sends: the SSE event name, and its JSON data (the server's StreamEvent without `type`). */
export interface StreamEvents {
  readonly sample: { readonly sample: TelemetrySample }
  readonly peer: { readonly peer: PeerView }
  readonly connection: { readonly peerId: string; readonly connected: boolean }
  readonly job: { readonly jobId: string; readonly event: JobEvent }
}
