// The node daemon: a set of components (data directory, state, engines, mesh, peer table, data sets, telemetry,
// ads, redial, the FL coordinator and client roles, the event stream, the API, node.json), started in dependency
// order and stopped in reverse by one ComponentRunner. A new role is a component passed in `extraComponents`.

import type { InMemoryDataset } from '@weft/data'
import type { MeshNode } from '@weft/mesh/node'
import type { DatasetOffer, RuntimeOffer } from '@weft/protocol'
import type { DiskStore } from '@weft/store/node'
import { type Logger, pino } from 'pino'
import { ComponentRunner, type NodeComponentFactory, NodeContext } from './component.js'
import { ADS_TOPIC, GET_AD } from '@weft/mesh'
import { adsComponent, type NodeOffers } from './components/ads.js'
import { apiComponent, nodeView } from './components/api.js'
import { type BlockExchange, blockExchangeComponent } from './components/block-exchange.js'
import { ADS_DHT_NAMESPACE, dataDirComponent, enginesComponent, meshComponent, stateComponent } from './components/core.js'
import { datasetsComponent } from './components/datasets.js'
import { eventStreamComponent } from './components/event-stream.js'
import { flAggregatorComponent, flClientComponent, flCoordinatorComponent } from './components/fl.js'
import { inferenceComponent } from './components/inference.js'
import { swarmComponent } from './components/swarm.js'
import { jobsComponent, type NodeJobs } from './components/jobs.js'
import type { NodeInference } from './inference/inference-role.js'
import type { NodeSwarms } from './swarm/swarm-role.js'
import { membershipComponent } from './components/membership.js'
import { type Replication, replicationComponent } from './components/replication.js'
import { peersComponent, redialComponent } from './components/peers.js'
import { runningRecordComponent } from './components/running-record.js'
import { storeComponent } from './components/store.js'
import { telemetryComponent } from './components/telemetry.js'
import type { DatasetConfig, NodeConfig } from './config.js'
import type { EnginesComponents } from './engines.js'
import { type FlService, flService } from './fl/fl-service.js'
import { createNodeMetrics, type NodeMetrics } from './metrics.js'
import type { PeerTable } from './peer-table.js'
import { TrafficMeter } from './telemetry.js'
import type { NodeView } from './views.js'

export { ADS_DHT_NAMESPACE, ADS_TOPIC, GET_AD, type NodeOffers }

/** Pluggable measurements and parts, so tests and embedders can replace the slow ones or add roles. */
export interface WeftNodeComponents {
  readonly now: () => number
  readonly logger: Logger
  /** Measures the ML engines (about one second); its result is advertised once it resolves. */
  readonly probeRuntimes?: (signal: AbortSignal) => Promise<RuntimeOffer[]>
  /** Describes the configured local data sets (counts, shapes). */
  readonly describeDatasets?: (config: NodeConfig, load: (config: DatasetConfig) => Promise<InMemoryDataset>) => Promise<DatasetOffer[]>
  /** Replacements inside the engines (tests). */
  readonly engines?: EnginesComponents
  /** More roles for this node (storage, inference, …), started after their dependencies. */
  readonly extraComponents?: readonly NodeComponentFactory[]
}

/** A running node. */
export interface WeftNode {
  readonly peerId: string
  readonly config: NodeConfig
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly metrics: NodeMetrics
  readonly logger: Logger
  readonly apiUrl: string
  readonly addrs: string[]
  /** Federated learning: jobs this node coordinates or takes part in. */
  readonly fl: FlService
  /** The block store (absent when `store.enabled` is false). */
  readonly store: DiskStore | undefined
  /** The block store on the mesh (serving, providers, fetch); undefined when the store is off. */
  readonly blockExchange: BlockExchange | undefined
  /** Replication targets of pinned roots and their repair; undefined when the store is off. */
  readonly replication: Replication | undefined
  /** Inference: the spans this node serves and the completions it answers. */
  readonly inference: NodeInference | undefined
  /** Serverless training: the swarms this node trains in. */
  readonly swarms: NodeSwarms | undefined
  /** Orchestration: the jobs this node schedules, its placements, its ledger. */
  readonly jobs: NodeJobs | undefined
  /** The components in the order they started. */
  readonly components: readonly string[]
  /** The node's view, as `GET /v1/node` serves it. */
  view(): NodeView
  /** Publishes a fresh ad now (also done every `ads.intervalMs`). */
  publishAd(): Promise<void>
  /** Stops every component in reverse start order; removes node.json and the data-directory lock. */
  stop(): Promise<void>
}

/** The components of a node, in registration order (the runner orders them by their dependencies). */
export function defaultComponents(components: Partial<WeftNodeComponents> = {}): NodeComponentFactory[] {
  return [
    dataDirComponent,
    stateComponent,
    enginesComponent(components.engines),
    meshComponent,
    membershipComponent,
    peersComponent,
    datasetsComponent,
    telemetryComponent,
    adsComponent({
      ...(components.probeRuntimes === undefined ? {} : { probeRuntimes: components.probeRuntimes }),
      ...(components.describeDatasets === undefined ? {} : { describeDatasets: components.describeDatasets }),
    }),
    redialComponent,
    storeComponent,
    blockExchangeComponent,
    replicationComponent,
    flAggregatorComponent,
    flCoordinatorComponent,
    flClientComponent,
    inferenceComponent,
    swarmComponent,
    jobsComponent,
    ...(components.extraComponents ?? []),
    eventStreamComponent,
    apiComponent,
    runningRecordComponent,
  ]
}

/**
 * Starts a node. Resolves once every component started (the API listens, node.json is written).
 * @throws ConfigError, DataDirError on bad configuration or an unusable (or already used) data directory
 */
export async function startWeftNode(config: NodeConfig, components: Partial<WeftNodeComponents> = {}): Promise<WeftNode> {
  const logger = components.logger ?? pino({ level: config.log.level, base: { node: undefined } })
  const now = components.now ?? Date.now
  const ctx = new NodeContext(config, logger, now, createNodeMetrics(), new TrafficMeter(), now())
  const runner = new ComponentRunner(
    defaultComponents(components).map((make) => make(ctx)),
    logger,
  )
  await runner.start()
  const mesh = ctx.get('mesh')
  const api = ctx.get('api')
  const fl = flService(ctx.get('flCoordinator'), ctx.get('flClient'))
  let stopping: Promise<void> | undefined
  return {
    peerId: mesh.peerId,
    config,
    mesh,
    peers: ctx.get('peers'),
    metrics: ctx.metrics,
    logger,
    apiUrl: api.url,
    fl,
    store: ctx.find('store'),
    blockExchange: ctx.find('blockExchange'),
    replication: ctx.find('replication'),
    inference: ctx.find('inference'),
    swarms: ctx.find('swarms'),
    jobs: ctx.find('jobs'),
    components: runner.order,
    get addrs() {
      return mesh.addresses()
    },
    view: () => nodeView(ctx, api.url),
    publishAd: () => ctx.get('ads').publish(),
    stop() {
      stopping ??= runner.stop().then(() => logger.info({ peerId: mesh.peerId }, 'node stopped'))
      return stopping
    },
  }
}
