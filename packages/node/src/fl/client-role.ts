// The FL client role of a node: @weft/fl-mesh's participant with this node's policy (config `fl`), its configured
// data sets, its engines, OpenSSL's X25519 and its peer-id key (signing its round keys) for secure aggregation, and
// the client metrics.
import type { InMemoryDataset } from '@weft/data'
import { type ModelHandout, type Participant, type ParticipantSite, peerIdSecAggIdentity, startParticipant } from '@weft/fl-mesh'
import type { PrivateKey } from '@libp2p/interface'
import type { Authorize } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import { nativeX25519 } from '@weft/secagg/node'
import type { Logger } from 'pino'
import type { DatasetConfig, NodeConfig } from '../config.js'
import type { NodeEngines } from '../engines.js'
import type { NodeMetrics } from '../metrics.js'
import type { ActivityView } from '../views.js'

export interface FlClientComponents {
  readonly mesh: MeshNode
  /** The node's libp2p key: secure aggregation signs this node's round keys with it. */
  readonly privateKey: PrivateKey
  /** The node's role check: invitations and tasks only from peers holding the `coordinator` role. */
  readonly authorize: Authorize
  readonly config: NodeConfig
  readonly metrics: NodeMetrics
  readonly logger: Logger
  readonly engines: NodeEngines
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  /** Models fetched by CID through the node's block store (absent without one: such tasks are refused). */
  readonly handout?: ModelHandout
  /** The site this node aggregates (`fl.aggregator`): its tasks run on the site's members, not on local data. */
  readonly site?: ParticipantSite
}

export interface FlClientRole {
  jobs: Participant['jobs']
  /** The coordinator this node sent its update for a job's round to, or undefined (see Participant.sentUpdate). */
  sentUpdate: Participant['sentUpdate']
  activities(): ActivityView[]
  stop(): Promise<void>
}

/** Starts the client role: registers the client side of the FL protocol on the node's mesh. */
export async function startFlClient(c: FlClientComponents): Promise<FlClientRole> {
  const { config, engines } = c
  const policy = config.fl
  const participant = await startParticipant({
    mesh: c.mesh,
    policy: {
      participate: policy.participate,
      coordinators: policy.coordinators,
      privacy: policy.policy,
      maxJobs: policy.maxJobs,
      maxModelBytes: policy.maxModelBytes,
      sendRetries: policy.sendRetries,
      ...(config.lowMemory ? { modelCache: 1 } : {}),
      ...(policy.adversary === undefined ? {} : { adversary: policy.adversary }),
    },
    authorize: c.authorize,
    engines: { pool: (e) => engines.pool(e), has: (e) => engines.has(e), available: engines.available, preferred: engines.preferred },
    loadDataset: (name) => {
      const ds = config.datasets.find((d) => d.name === name)
      return ds === undefined ? undefined : c.loadDataset(ds)
    },
    keyAgreement: nativeX25519(),
    identity: peerIdSecAggIdentity(c.privateKey),
    ...(c.handout === undefined ? {} : { handout: c.handout }),
    ...(c.site === undefined ? {} : { site: c.site }),
    logger: c.logger.child({ component: 'fl-client' }),
    onTrained: (_job, seconds, examples) => {
      c.metrics.fl.clientTrainSeconds.observe(seconds)
      c.metrics.fl.clientExamples.inc(examples)
    },
  })
  return {
    jobs: () => participant.jobs(),
    sentUpdate: (jobId, round) => participant.sentUpdate(jobId, round),
    // What the node's ad says it is doing. A differentially private job's client says only that it is a member,
    // always: an ad that showed when it trains would tell every peer which rounds sampled it (issue 15, finding 8).
    activities: () =>
      participant
        .jobs()
        .filter((j) => j.secretSampling || j.activeRounds.length > 0)
        .map((j) => ({ kind: 'fl-client', jobId: j.id, detail: j.secretSampling ? 'member' : `training round ${j.activeRounds.join(', ')}` })),
    stop: () => participant.stop(),
  }
}
