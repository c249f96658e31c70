// JSON shapes of the node's control API (/v1), as the dashboard reads them: @weft/api-client's view types (inferred
// from the schemas the client checks every answer with), so the page cannot drift from what the node sends.
import type { JobView } from '@weft/api-client'

export type {
  ActivityView as Activity,
  AdView as Ad,
  FabricTotalsView as FabricTotals,
  JobEvents,
  JobList,
  JobSummary,
  JobView,
  MeshEdgeView as MeshEdge,
  MeshNodeView as MeshNode,
  MeshView,
  NodeView,
  PeerView,
  ResourcesView as Resources,
  RoundView,
  StreamEvents,
  SubmittedJob,
  TelemetrySample,
  TelemetryView,
  TrafficView as Traffic,
} from '@weft/api-client'
export type { EvaluationMetrics as Evaluation, JobEvent, JobLive, RoundMetrics } from '@weft/fl'

export type JobStatus = JobView['status']
