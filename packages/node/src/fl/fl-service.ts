// What the node's API sees of federated learning: the coordinator role (jobs coordinated here) and the client role
// (jobs this node trains in), each a node component of its own, behind one facade.
import type { Coordinator, JobEvent } from '@weft/fl'
import type { ParticipantJob } from '@weft/fl-mesh'
import type { ActivityView } from '../views.js'
import type { FlClientRole } from './client-role.js'
import type { FlCoordinatorRole } from './coordinator-role.js'
import type { JobView } from '@weft/api-client'

export type { JobView, RoundView } from '@weft/api-client'

export interface FlService {
  /** Validates and starts a job here (this node coordinates). @throws InvalidJobSpecError, Error */
  submit(spec: unknown, submitter?: string): JobView
  /** Hands a job to another node, which coordinates it. */
  submitTo(peer: string, spec: unknown): Promise<{ id: string; coordinator: string }>
  list(): JobView[]
  /** A job coordinated here, or (remote=true) asked of the coordinator it was submitted to from here. */
  view(id: string): Promise<JobView | undefined>
  events(id: string, after: number): JobEvent[]
  cancel(id: string): boolean
  /** The job's model after `round` ('last' or a number) as a Weft model artifact. */
  exportModel(id: string, round: number | 'last'): { bytes: Uint8Array; round: number } | undefined
  clientJobs(): ParticipantJob[]
  /** What this node is doing for federated jobs right now (coordinating, training). */
  activities(): ActivityView[]
  /** Calls `listener` with each event of the jobs coordinated here as it is recorded; returns the unsubscribe. */
  onJobEvent(listener: (jobId: string, event: JobEvent) => void): () => void
  readonly coordinator: Coordinator
}

/** The facade over the two roles (each started and stopped by its own component). */
export function flService(coordinator: FlCoordinatorRole, client: FlClientRole | undefined): FlService {
  return {
    coordinator: coordinator.coordinator,
    submit: (spec, submitter) => coordinator.submit(spec, submitter),
    submitTo: (peer, spec) => coordinator.submitTo(peer, spec),
    list: () => coordinator.list(),
    view: (id) => coordinator.view(id),
    events: (id, after) => coordinator.events(id, after),
    cancel: (id) => coordinator.cancel(id),
    exportModel: (id, round) => coordinator.exportModel(id, round),
    clientJobs: () => client?.jobs() ?? [],
    activities: () => [...coordinator.activities(), ...(client?.activities() ?? [])],
    onJobEvent: (listener) => coordinator.onJobEvent(listener),
  }
}
