// What the node's API sees of federated learning: the coordinator role (jobs coordinated here) and the client role
// (jobs this node trains in), each a node component of its own, behind one facade.
import type { Coordinator } from '@weft/fl'
import type { ParticipantJob } from '@weft/fl-mesh'
import type { FlClientRole } from './client-role.js'
import type { FlCoordinatorRole } from './coordinator-role.js'

export type { JobView, RoundView } from '@weft/api-client'

/** What the API uses: the coordinator role's jobs (without its life cycle), and the client role's. */
export interface FlService extends Omit<FlCoordinatorRole, 'store' | 'stop' | 'coordinator'> {
  readonly coordinator: Coordinator
  /** Jobs this node is a client of. */
  clientJobs(): ParticipantJob[]
}

/** The facade over the two roles (each started and stopped by its own component). */
export function flService(coordinator: FlCoordinatorRole, client: FlClientRole | undefined): FlService {
  return {
    coordinator: coordinator.coordinator,
    submit: (spec, submitter) => coordinator.submit(spec, submitter),
    submitRemote: (spec, peer) => coordinator.submitRemote(spec, peer),
    submitTo: (peer, spec) => coordinator.submitTo(peer, spec),
    list: () => coordinator.list(),
    view: (id) => coordinator.view(id),
    events: (id, after) => coordinator.events(id, after),
    cancel: (id) => coordinator.cancel(id),
    exportModel: (id, round) => coordinator.exportModel(id, round),
    handouts: (id) => coordinator.handouts(id),
    clientJobs: () => client?.jobs() ?? [],
    activities: () => [...coordinator.activities(), ...(client?.activities() ?? [])],
    onJobEvent: (listener) => coordinator.onJobEvent(listener),
  }
}
