// The FL coordinator role of a node: jobs submitted here run on the FL core's coordinator, over the mesh
// (@weft/fl-mesh: transport, update receiver, RPC surface), persisted in fl.db and the node's block store, with
// Prometheus metrics and a fan-out of each job's typed events.
import { createHash } from 'node:crypto'
import { type Coordinator, createCoordinator, type JobEvent, type JobStore, parseJobSpec } from '@weft/fl'
import { engineFor, type ModelHandout, meshCoordinatorTransport, type SiteUpdateSink, serveCoordinatorRpc, serveUpdates } from '@weft/fl-mesh'
import type { InMemoryDataset } from '@weft/data'
import { type Authorize, RpcError } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import type { DiskStore } from '@weft/store/node'
import { FL_STATUS, FL_SUBMIT, WireErrorCode } from '@weft/protocol'
import { featureSize } from '@weft/runtime'
import type { Logger } from 'pino'
import type { DatasetConfig, NodeConfig } from '../config.js'
import type { NodeEngines } from '../engines.js'
import type { NodeMetrics } from '../metrics.js'
import type { PeerEntry, PeerTable } from '../peer-table.js'
import type { NodeState } from '../state.js'
import type { ActivityView } from '../views.js'
import { coordinatorCandidates } from './candidates.js'
import { openFlStore } from './fl-store.js'
import type { JobView } from '@weft/api-client'
import { exportJobModel, jobView, remoteJobView } from './job-views.js'
import { quotaRefusal } from './quotas.js'

export interface FlCoordinatorComponents {
  readonly mesh: MeshNode
  readonly peers: PeerTable
  /**
   * The node's role check: clients are invited, and their updates and failure reports taken, only with the `client`
   * role; jobs are submitted and their status read over the mesh only with the `submitter` role (or `admin`).
   */
  readonly authorize: Authorize
  readonly state: NodeState
  readonly config: NodeConfig
  readonly metrics: NodeMetrics
  readonly logger: Logger
  /** Loads a configured data set (memoized by the node) for centralized evaluation. */
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  readonly engines: NodeEngines
  /** The node's block store for jobs that hand models out by CID (absent without one: they are sent directly). */
  readonly handout?: ModelHandout
  /**
   * The node's block store, where the FL store keeps its tensors (absent when `store.enabled` is false: the FL store
   * opens the same folder for itself).
   */
  readonly blockStore?: DiskStore
  /**
   * The site this node aggregates, when it does (`fl.aggregator`): its members' updates and failure reports arrive on
   * the coordinator's protocols and go to it.
   */
  readonly site?: SiteUpdateSink
}

/** Where one round's models handed out by CID came from: blocks per provider, summed over the round's clients. */
export interface HandoutRecord {
  readonly round: number
  /** Clients that took their task from a model fetched by CID. */
  readonly clients: number
  readonly providers: Readonly<Record<string, number>>
}

/** Rounds of hand-out records kept per job (most recent). */
const MAX_HANDOUT_RECORDS = 1000

/** Jobs coordinated here (and the jobs this node handed to other coordinators). */
export interface FlCoordinatorRole {
  readonly coordinator: Coordinator
  readonly store: JobStore
  /** Validates and starts a job here. @throws InvalidJobSpecError, Error */
  submit(spec: unknown, submitter?: string): JobView
  /**
   * Starts a job that `peer` submits from elsewhere (over `fl/submit`, or placed here by its orchestration owner),
   * under the rules of remote submission: fl.coordinate, the submitter role and the submitter's quota.
   * @throws InvalidJobSpecError, RpcError (UNAUTHORIZED, RESOURCE_EXHAUSTED)
   */
  submitRemote(spec: unknown, peer: string): JobView
  /** Hands a job to another node, which coordinates it. */
  submitTo(peer: string, spec: unknown): Promise<{ id: string; coordinator: string }>
  list(): JobView[]
  /** A job coordinated here, or one submitted from here to another coordinator (asked of it). */
  view(id: string): Promise<JobView | undefined>
  events(id: string, after: number): JobEvent[]
  cancel(id: string): boolean
  exportModel(id: string, round: number | 'last'): { bytes: Uint8Array; round: number } | undefined
  /** A job's hand-outs by CID, per round: which providers the clients' fetches got the model's blocks from. */
  handouts(id: string): readonly HandoutRecord[]
  activities(): ActivityView[]
  /** Calls `listener` with each event of the jobs coordinated here as it is recorded; returns the unsubscribe. */
  onJobEvent(listener: (jobId: string, event: JobEvent) => void): () => void
  stop(): Promise<void>
}

/** Starts the coordinator role: opens the store, serves the protocol, resumes jobs left running. */
export async function startFlCoordinator(c: FlCoordinatorComponents): Promise<FlCoordinatorRole> {
  const { mesh, peers, config, metrics, logger, engines, authorize } = c
  const log = logger.child({ component: 'fl' })
  const store = openFlStore(config.dataDir, {
    maxEventsPerJob: config.fl.maxEventsPerJob,
    // The node's block store when it runs; else the same folder opened for the FL store alone.
    ...(c.blockStore === undefined ? { maxStoreBytes: config.store.maxBytes } : { blockStore: c.blockStore }),
    ...(config.fl.maxDatabaseBytes === undefined ? {} : { maxDatabaseBytes: config.fl.maxDatabaseBytes }),
  })
  const listeners = new Set<(jobId: string, event: JobEvent) => void>()
  const jobSpec = (jobId: string) => store.getJob(jobId)?.spec
  const handouts = new Map<string, HandoutRecord[]>()
  const recordHandout = (jobId: string, round: number, client: string, blocks: Readonly<Record<string, number>>): void => {
    const records = handouts.get(jobId) ?? []
    let last = records.at(-1)
    if (last === undefined || last.round !== round) {
      last = { round, clients: 0, providers: {} }
      records.push(last)
      if (records.length > MAX_HANDOUT_RECORDS) records.shift()
    }
    const providers = { ...last.providers }
    for (const [peer, n] of Object.entries(blocks)) providers[peer] = (providers[peer] ?? 0) + n
    records[records.length - 1] = { round, clients: last.clients + 1, providers }
    handouts.set(jobId, records)
    for (const [peer, n] of Object.entries(blocks)) metrics.fl.handoutBlocks.inc({ provider: peer === mesh.peerId ? 'coordinator' : 'client' }, n)
    const fromPeers = Object.entries(blocks).some(([peer, n]) => peer !== mesh.peerId && n > 0)
    log.info({ job: jobId, round, client, blocks, fromPeers }, 'a client fetched the round model by CID')
  }

  const transport = meshCoordinatorTransport({
    mesh,
    jobSpec,
    hash: { createSha256: () => createHash('sha256') },
    onHandout: recordHandout,
    ...(c.handout === undefined ? {} : { handout: c.handout }),
    // A fresh signed ad is what makes a peer a candidate; connections are dialled on demand. A site with an aggregator
    // is one candidate, its aggregator.
    candidates: (spec) => coordinatorCandidates(spec, peers.list(), authorize, mesh.peerId),
  }, { handoutSlotMs: config.fl.dispatchSlotMs })

  const fl = metrics.fl
  const coordinator = createCoordinator(
    {
      store,
      transport,
      onEvent: (jobId, event) => {
        for (const listener of listeners) listener(jobId, event)
      },
      hash: { createSha256: () => createHash('sha256') },
      logger: { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) },
      evaluator: {
        check(_spec, name) {
          const ds = config.datasets.find((d) => d.name === name)
          if (ds === undefined) return `this node has no data set named "${name}" (node config datasets)`
          return undefined
        },
        async evaluate(spec, name, params) {
          const ds = config.datasets.find((d) => d.name === name)
          if (ds === undefined) throw new Error(`no data set named "${name}"`)
          const data = await c.loadDataset(ds)
          if (featureSize(data.featureShape) !== featureSize(spec.model.inputShape)) {
            throw new Error(`data set "${name}" does not fit the model's input`)
          }
          // Any engine evaluates the same; the job's own when this node has it.
          const wanted = engineFor(spec, engines)
          const engine = engines.has(wanted) ? wanted : engines.preferred
          return engines.pool(engine).evaluate({ spec: spec.model, params, dataset: data.toShared() })
        },
      },
      metrics: {
        onRound(jobId, round, m) {
          fl.rounds.inc({ job: jobId })
          fl.round.set({ job: jobId }, round)
          for (const phase of ['total', 'broadcast', 'training', 'upload', 'aggregation'] as const) {
            fl.roundSeconds.observe({ phase }, m.seconds[phase])
          }
          fl.overheadSeconds.observe(m.overheadSeconds)
          fl.participants.set({ job: jobId, kind: 'results' }, m.results)
          fl.participants.set({ job: jobId, kind: 'dropped' }, m.dropped)
          fl.participants.set({ job: jobId, kind: 'sampled' }, m.sampled)
          fl.bytes.inc({ direction: 'down' }, m.bytesDown)
          fl.bytes.inc({ direction: 'up' }, m.bytesUp)
          fl.trainLoss.set({ job: jobId }, m.trainLoss)
        },
        onEvaluation(jobId, _round, e) {
          if (e.centralized !== undefined) {
            fl.evalAccuracy.set({ job: jobId, kind: 'centralized' }, e.centralized.accuracy)
            fl.evalLoss.set({ job: jobId, kind: 'centralized' }, e.centralized.loss)
          }
          if (e.federated !== undefined) {
            fl.evalAccuracy.set({ job: jobId, kind: 'federated' }, e.federated.accuracy)
            fl.evalLoss.set({ job: jobId, kind: 'federated' }, e.federated.loss)
          }
        },
        onUpdate: (_jobId, outcome) => fl.updates.inc({ outcome }),
        onJobStatus: () => {
          const counts: Record<string, number> = { running: 0, finished: 0, failed: 0, cancelled: 0 }
          for (const j of store.listJobs()) counts[j.status] = (counts[j.status] ?? 0) + 1
          for (const [status, n] of Object.entries(counts)) fl.jobs.set({ status }, n)
        },
      },
    },
    { dispatchConcurrency: config.fl.dispatchConcurrency, dispatchSlotMs: config.fl.dispatchSlotMs, maxModelBytes: config.fl.maxModelBytes },
  )

  const receiver = await serveUpdates(
    { mesh, coordinator, jobSpec, authorize, onRefused: () => fl.updates.inc({ outcome: 'refused' }), ...(c.site === undefined ? {} : { site: c.site }) },
    { maxBytes: config.fl.maxModelBytes },
  )

  const viewOf = (id: string): JobView | undefined => {
    const job = store.getJob(id)
    return job === undefined ? undefined : jobView(job, store, coordinator, mesh.peerId)
  }
  const submit = (input: unknown, submitter = 'local'): JobView => {
    const job = coordinator.submit(parseJobSpec(input), { submitter })
    return jobView(job, store, coordinator, mesh.peerId)
  }
  /** A remote submission; `check` also applies the submit refusal (the RPC layer applied it already when false). */
  const submitRemote = (input: unknown, peer: string, check = true): JobView => {
    if (check) {
      const refusal = !config.fl.coordinate ? 'this node does not coordinate jobs (fl.coordinate is false)' : authorize(peer, 'submitter')
      if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    }
    const spec = parseJobSpec(input)
    // A remote submitter gets its share of this coordinator, no more (issue 15, deliverable 3).
    const overQuota = quotaRefusal(store.listJobs(), peer, spec, config.fl.quota, Date.now())
    if (overQuota !== undefined) throw new RpcError(WireErrorCode.RESOURCE_EXHAUSTED, overQuota)
    return submit(spec, peer)
  }
  const rpc = await serveCoordinatorRpc({
    mesh,
    coordinator,
    authorize,
    logger: log,
    submitRefusal(peer) {
      if (!config.fl.coordinate) return 'this node does not coordinate jobs (fl.coordinate is false)'
      return authorize(peer, 'submitter')
    },
    // A job's status (spec, seed, every round's clients) is for submitters only: its own submitter needed the role to
    // submit it, and loses the status with the role (a revoked certificate, a name taken off fl.submitters).
    statusRefusal: (peer, jobId) => {
      const refusal = authorize(peer, 'submitter')
      return refusal === undefined ? undefined : `job ${jobId}'s status is for submitters: ${refusal}`
    },
    submit: (input, peer) => submitRemote(input, peer, false).id,
    statusJson: (id) => {
      const view = viewOf(id)
      return view === undefined ? undefined : JSON.stringify(remoteJobView(view))
    },
    hasJob: (id) => store.getJob(id) !== undefined,
    ...(c.site === undefined ? {} : { site: c.site }),
  })

  // A client is dropped from its round when its last connection closed and it did not come back within
  // fl.disconnectGraceMs (a flaky link redials; its update still counts while the round is open). An expired ad alone
  // (a busy or slow gossip path) only stops new rounds from sampling it.
  // Back means connected again and the same process (its ad's start time unchanged): a node that restarted lost its
  // task, so it is dropped as if it had not come back.
  const graceMs = c.config.fl.disconnectGraceMs
  const connected = (peer: string): boolean => mesh.connections().some((x) => x.peer === peer)
  const startedAt = (peer: string): bigint | undefined => peers.get(peer)?.ad.startedAtMs
  const graceTimers = new Map<string, ReturnType<typeof setTimeout>>()
  const goneUnlessBack = (peer: string, reason: string): void => {
    if (connected(peer) || graceTimers.has(peer)) return
    if (graceMs === 0) {
      coordinator.clientGone(peer, reason)
      return
    }
    const started = startedAt(peer)
    const timer = setTimeout(() => {
      graceTimers.delete(peer)
      if (!connected(peer)) coordinator.clientGone(peer, `${reason}; not back within ${graceMs} ms`)
      else if (startedAt(peer) !== started) coordinator.clientGone(peer, `${reason}; it came back restarted`)
    }, graceMs)
    timer.unref?.()
    graceTimers.set(peer, timer)
  }
  const onGone = (entry: PeerEntry): void => {
    if (entry.goneReason === 'disconnected') goneUnlessBack(entry.peerId, 'peer gone (disconnected)')
  }
  const onUpdate = (): void => coordinator.wake()
  const onDisconnect = (evt: CustomEvent<string>): void => goneUnlessBack(evt.detail, 'disconnected')
  peers.on('peer:gone', onGone)
  peers.on('peer:update', onUpdate)
  mesh.addEventListener('peer:connect', onUpdate)
  mesh.addEventListener('peer:disconnect', onDisconnect)

  const resumed = coordinator.resumeAll()
  if (resumed.length > 0) log.info({ jobs: resumed }, 'resumed federated jobs after a restart')

  return {
    coordinator,
    store,
    submit,
    submitRemote: (input, peer) => submitRemote(input, peer),
    async submitTo(peer, input) {
      const spec = parseJobSpec(input)
      const r = await mesh.rpc.call(peer, FL_SUBMIT, { specJson: JSON.stringify(spec) }, { timeoutMs: 30_000 })
      c.state.setMeta(`fl-remote:${r.jobId}`, peer)
      return { id: r.jobId, coordinator: peer }
    },
    list: () => store.listJobs().map((job) => jobView(job, store, coordinator, mesh.peerId)),
    async view(id) {
      const local = viewOf(id)
      if (local !== undefined) return local
      const remote = c.state.getMeta(`fl-remote:${id}`)
      if (remote === undefined) return undefined
      const r = await mesh.rpc.call(remote, FL_STATUS, { jobId: id }, { timeoutMs: 10_000 })
      return JSON.parse(r.statusJson) as JobView
    },
    events: (id, after) => store.events(id, after),
    cancel: (id) => coordinator.cancel(id),
    exportModel: (id, round) => exportJobModel(store, id, round),
    handouts: (id) => handouts.get(id) ?? [],
    activities() {
      const out: ActivityView[] = []
      for (const job of store.listJobs()) {
        if (job.status === 'running') out.push({ kind: 'fl-coordinator', jobId: job.id, detail: `round ${Math.min(job.round, job.spec.rounds)}/${job.spec.rounds}` })
      }
      return out
    },
    onJobEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async stop() {
      for (const timer of graceTimers.values()) clearTimeout(timer)
      graceTimers.clear()
      peers.off('peer:gone', onGone)
      peers.off('peer:update', onUpdate)
      mesh.removeEventListener('peer:connect', onUpdate)
      mesh.removeEventListener('peer:disconnect', onDisconnect)
      await coordinator.stop()
      await receiver.stop()
      await rpc.stop()
      listeners.clear()
      store.close()
    },
  }
}
