// A node is a set of components, each with start and stop (the js-libp2p Startable idea). They are started in
// dependency order and stopped in reverse by one place (ComponentRunner), so a new role (storage, inference server,
// swarm peer, scheduler) is a component registered with the node, not an edit of the node's start-up code.
import type { PrivateKey } from '@libp2p/interface'
import type { MeshNode } from '@weft/mesh/node'
import type { DiskStore } from '@weft/store/node'
import type { Logger } from 'pino'
import type { ApiServer } from './api.js'
import type { AdsService } from './components/ads.js'
import type { BlockExchange } from './components/block-exchange.js'
import type { DatasetCache } from './components/datasets.js'
import type { NodeMembership } from './components/membership.js'
import type { Replication } from './components/replication.js'
import type { NodeConfig } from './config.js'
import type { NodeEngines } from './engines.js'
import type { SiteAggregator } from '@weft/fl-mesh'
import type { FlClientRole } from './fl/client-role.js'
import type { FlCoordinatorRole } from './fl/coordinator-role.js'
import type { NodeInference } from './inference/inference-role.js'
import type { NodeSwarms } from './swarm/swarm-role.js'
import type { NodeJobs } from './components/jobs.js'
import type { NodeMetrics } from './metrics.js'
import type { PeerTable } from './peer-table.js'
import type { NodeState } from './state.js'
import type { Telemetry, TrafficMeter } from './telemetry.js'
import type { ActivityView, StreamEvent } from './views.js'

/** One part of a running node. */
export interface NodeComponent {
  /** Unique within the node; other components name it in `dependsOn`. */
  readonly name: string
  /** Components that must have started before this one (and stop after it). */
  readonly dependsOn?: readonly string[]
  start(): Promise<void> | void
  stop(): Promise<void> | void
}

/** Makes a component for a node; it reads what it needs from the context when it starts. */
export type NodeComponentFactory = (ctx: NodeContext) => NodeComponent

/** What components provide to each other, by key. */
export interface NodeServices {
  readonly privateKey: PrivateKey
  /** The private network key (absent: open network). */
  readonly psk: Uint8Array | undefined
  readonly state: NodeState
  readonly engines: NodeEngines
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly membership: NodeMembership
  readonly datasets: DatasetCache
  readonly telemetry: Telemetry
  readonly ads: AdsService
  readonly flCoordinator: FlCoordinatorRole
  readonly flClient: FlClientRole
  /** The site aggregator (hierarchical FL), when `fl.aggregator` is set. */
  readonly flAggregator: SiteAggregator
  readonly events: { subscribe(listener: (event: StreamEvent) => void): () => void }
  readonly api: ApiServer
  readonly store: DiskStore
  readonly blockExchange: BlockExchange
  readonly replication: Replication
  readonly inference: NodeInference
  readonly swarms: NodeSwarms
  readonly jobs: NodeJobs
}

/** The node-wide context: configuration, logger, clock, metrics, and the services components provide. */
export class NodeContext {
  readonly #services = new Map<keyof NodeServices, unknown>()
  readonly #activities = new Set<() => ActivityView[]>()

  constructor(
    readonly config: NodeConfig,
    readonly logger: Logger,
    readonly now: () => number,
    readonly metrics: NodeMetrics,
    readonly traffic: TrafficMeter,
    /** Epoch ms at which the node started. */
    readonly startedAt: number,
  ) {}

  /** Publishes a service (called by the component that owns it, in its start). @throws Error when provided twice */
  provide<K extends keyof NodeServices>(key: K, value: NodeServices[K]): void {
    if (this.#services.has(key)) throw new Error(`node service "${key}" is provided twice`)
    this.#services.set(key, value)
  }

  /** Withdraws a service (called by its owner in stop). */
  withdraw(key: keyof NodeServices): void {
    this.#services.delete(key)
  }

  /** A service. @throws Error when its component has not started: a missing `dependsOn` */
  get<K extends keyof NodeServices>(key: K): NodeServices[K] {
    if (!this.#services.has(key)) throw new Error(`node service "${key}" is not available: the component that provides it has not started (is it in dependsOn?)`)
    return this.#services.get(key) as NodeServices[K]
  }

  /** A service if its component runs (optional collaborations, e.g. ads listing FL activities). */
  find<K extends keyof NodeServices>(key: K): NodeServices[K] | undefined {
    return this.#services.get(key) as NodeServices[K] | undefined
  }

  /** Registers a source of "what this node is doing" (ads and the node view list them); returns the removal. */
  addActivities(source: () => ActivityView[]): () => void {
    this.#activities.add(source)
    return () => this.#activities.delete(source)
  }

  activities(): ActivityView[] {
    return [...this.#activities].flatMap((source) => source())
  }
}

/** The order in which components start: each after its dependencies, otherwise in registration order. */
export function startOrder(components: readonly NodeComponent[]): NodeComponent[] {
  const byName = new Map<string, NodeComponent>()
  for (const c of components) {
    if (byName.has(c.name)) throw new Error(`two node components are named "${c.name}"`)
    byName.set(c.name, c)
  }
  const order: NodeComponent[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (c: NodeComponent, path: readonly string[]): void => {
    const s = state.get(c.name)
    if (s === 'done') return
    if (s === 'visiting') throw new Error(`node components depend on each other in a cycle: ${[...path, c.name].join(' -> ')}`)
    state.set(c.name, 'visiting')
    for (const dep of c.dependsOn ?? []) {
      const d = byName.get(dep)
      if (d === undefined) throw new Error(`node component "${c.name}" depends on "${dep}", which is not registered`)
      visit(d, [...path, c.name])
    }
    state.set(c.name, 'done')
    order.push(c)
  }
  for (const c of components) visit(c, [])
  return order
}

/** Starts components in dependency order and stops them in reverse; the one place that does either. */
export class ComponentRunner {
  readonly #order: NodeComponent[]
  readonly #started: NodeComponent[] = []
  readonly #logger: Pick<Logger, 'warn'>

  /** @throws Error on duplicate names, unknown dependencies or a cycle */
  constructor(components: readonly NodeComponent[], logger: Pick<Logger, 'warn'>) {
    this.#order = startOrder(components)
    this.#logger = logger
  }

  /** Component names in start order. */
  get order(): string[] {
    return this.#order.map((c) => c.name)
  }

  /** Starts every component; when one fails, stops those started (in reverse) and rethrows its error. */
  async start(): Promise<void> {
    for (const c of this.#order) {
      try {
        await c.start()
      } catch (err) {
        await this.stop()
        throw err
      }
      this.#started.push(c)
    }
  }

  /** Stops the started components in reverse order; a failing stop is logged and the others still stop. */
  async stop(): Promise<void> {
    while (this.#started.length > 0) {
      const c = this.#started.pop() as NodeComponent
      try {
        await c.stop()
      } catch (err) {
        this.#logger.warn({ component: c.name, err: (err as Error).message }, 'a node component failed to stop')
      }
    }
  }
}
