// Federated learning on a node: the coordinator role over the mesh (jobs submitted here), the client role
// (jobs other nodes invite this one to), the durable job store, the API's job views and the FL metrics.
import { createHash } from 'node:crypto'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  announcedUpdateLength,
  type ClientOffer,
  type Coordinator,
  type CoordinatorTransport,
  createCoordinator,
  decodeClientUpdate,
  MASKED_TENSOR,
  ineligibility,
  type JobEvent,
  type JobRecord,
  type RoundRecord,
  MODEL_TENSOR,
  parseJobSpec,
  type UpdateHeader,
  updateShapeProblem,
  vectorSet,
} from '@weft/fl'
import type { JobView, RoundView } from '@weft/api-client'
import type { InMemoryDataset } from '@weft/data'
import { type MeshNode, RpcError, TensorRejectedError } from '@weft/mesh'
import { ModelMetaSchema, type Tensor, type TrainRequest, TrainRequestSchema, tensorValues, UpdateMetaSchema, WireErrorCode } from '@weft/protocol'
import { decodeSecAggMessage, encodeSecAggMessage } from '@weft/secagg'
import { encodeModelArtifact, featureSize, paramCount, paramInfo } from '@weft/runtime'
import type { Logger } from 'pino'
import type { DatasetConfig, NodeConfig } from '../config.js'
import type { NodeEngines } from '../engines.js'
import type { NodeMetrics } from '../metrics.js'
import type { PeerEntry, PeerTable } from '../peer-table.js'
import type { NodeState } from '../state.js'
import type { ActivityView } from '../views.js'
import {
  FL_CANCEL,
  FL_EVALUATE,
  FL_INVITE,
  FL_MODEL,
  FL_SECAGG,
  FL_STATUS,
  FL_SUBMIT,
  FL_TASK_FAILED,
  FL_TRAIN,
  FL_UPDATE,
  MAX_FAILURE_REASON,
  MAX_SPEC_JSON,
} from './fl-protocol.js'
import { openFlStore } from './fl-store.js'
import { engineFor, type Participant, startParticipant } from './participant.js'

export interface FlServiceComponents {
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly state: NodeState
  readonly config: NodeConfig
  readonly metrics: NodeMetrics
  readonly logger: Logger
  /** Loads a configured data set; the node memoizes it, so each is loaded once. */
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  /** The node's ML engines (owned by the node: the service does not close them). */
  readonly engines: NodeEngines
}

export type { JobView, RoundView }

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
  clientJobs(): ReturnType<Participant['jobs']>
  /** What this node is doing for federated jobs right now (coordinating, training). */
  activities(): ActivityView[]
  /** Calls `listener` with each event of the jobs coordinated here as it is recorded; returns the unsubscribe. */
  onJobEvent(listener: (jobId: string, event: JobEvent) => void): () => void
  readonly coordinator: Coordinator
  stop(): Promise<void>
}

function offerOf(entry: PeerEntry): ClientOffer {
  const ad = entry.ad
  return {
    id: entry.peerId,
    labels: ad.labels,
    runtimes: ad.runtimes.map((r) => r.name),
    memoryMb: Number(ad.memory?.totalBytes ?? 0n) / 2 ** 20,
    cores: ad.cpu?.cores ?? 0,
    datasets: ad.datasets.map((d) => ({ name: d.name, examples: Number(d.examples) })),
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** A job's models by round: the initial one (round 0), then each closed round's output, oldest first. */
function modelsByRound(job: JobRecord, rounds: readonly RoundRecord[]): { round: number; hash: string }[] {
  const out = [{ round: 0, hash: rounds[0]?.inputHash ?? job.modelHash }]
  for (const r of rounds) if (r.status === 'closed' && r.outputHash !== undefined) out.push({ round: r.round, hash: r.outputHash })
  return out
}

/** Starts the FL service: opens the store, registers the protocol, resumes jobs left running. */
export async function startFlService(c: FlServiceComponents): Promise<FlService> {
  const { mesh, peers, config, metrics, logger } = c
  const log = logger.child({ component: 'fl' })
  const store = openFlStore(config.dataDir)
  const eventListeners = new Set<(jobId: string, event: JobEvent) => void>()
  const { engines } = c

  const rpcError = (err: unknown): string => (err instanceof RpcError ? err.message : (err as Error)?.message ?? String(err))

  /** Sends a global model; with `task`, the client starts that training task as soon as the model has verified. */
  const sendModel = async (
    peer: string,
    jobId: string,
    round: number,
    hash: string,
    params: Float32Array,
    signal: AbortSignal,
    task?: TrainRequest,
    onSent?: () => void,
  ) => {
    const metadata = toBinary(ModelMetaSchema, create(ModelMetaSchema, { jobId, round, ...(task === undefined ? {} : { task }) }))
    const options = { metadata, contentHash: Buffer.from(hash, 'hex'), signal, timeoutMs: 120_000, ...(onSent === undefined ? {} : { onSent }) }
    return mesh.tensors.send(peer, FL_MODEL, vectorSet(MODEL_TENSOR, params), options)
  }

  const transport: CoordinatorTransport = {
    candidates(spec) {
      const out: string[] = []
      for (const p of peers.list()) {
        // A fresh signed ad is what makes a peer a candidate; connections are dialled on demand.
        if (p.status !== 'alive') continue
        if (ineligibility(spec, offerOf(p)) === undefined) out.push(p.peerId)
      }
      return out
    },
    async invite(clientId, jobId, spec, signal) {
      try {
        const r = await mesh.rpc.call(clientId, FL_INVITE, { jobId, specJson: JSON.stringify(spec) }, { signal, timeoutMs: 60_000 })
        return r.accepted ? { ok: true, examples: Number(r.examples) } : { ok: false, reason: r.reason }
      } catch (err) {
        return { ok: false, reason: rpcError(err) }
      }
    },
    async train(clientId, task, signal, progress) {
      // A client that restarted has forgotten the job: it declines the model or the task; invite it again once.
      const reinvite = async (): Promise<string | undefined> => {
        const spec = store.getJob(task.jobId)?.spec
        if (spec === undefined) return 'job unknown'
        const again = await transport.invite(clientId, task.jobId, spec, signal)
        return again.ok ? undefined : `re-invitation refused: ${again.reason}`
      }
      const request = create(TrainRequestSchema, {
        jobId: task.jobId,
        round: task.round,
        modelHash: Buffer.from(task.modelHash, 'hex'),
        seed: task.seed,
        proximalMu: task.hints.proximalMu ?? 0,
        dpClipNorm: task.hints.dp?.clipNorm ?? 0,
        dpNoiseStd: task.hints.dp?.noiseStd ?? 0,
        ...(task.hints.secure === undefined ? {} : { secure: task.hints.secure }),
      })
      // The task rides on the model transfer, so the client starts when the model has arrived. A client that holds
      // the model already declines it, and then takes the task by the "train" call.
      type Delivery = { ok: true; bytes: number; taskTaken: boolean } | { ok: false; reason: string }
      const deliverModel = async (): Promise<Delivery> => {
        const sent = await sendModel(clientId, task.jobId, task.round, task.modelHash, task.params, signal, request, progress?.modelSent)
        // However the transfer ended, no more of its bytes will move: the link is free (a repeat call is harmless).
        progress?.modelSent()
        if (sent.ok) return { ok: true, bytes: sent.bytes, taskTaken: true }
        if (sent.reason === 'declined-already-have') return { ok: true, bytes: 0, taskTaken: false }
        if (sent.reason === 'declined-not-wanted') return { ok: false, reason: 'not-a-client' }
        // A rejection after the data verified is the task's refusal; a hash mismatch is the transfer's failure.
        const refused = sent.reason === 'rejected' && sent.code !== WireErrorCode.HASH_MISMATCH
        return { ok: false, reason: refused ? `task refused: ${sent.message}` : `model transfer failed: ${sent.message}` }
      }
      let model = await deliverModel()
      if (!model.ok && model.reason === 'not-a-client') {
        const why = await reinvite()
        if (why !== undefined) return { ok: false, reason: why }
        model = await deliverModel()
      }
      if (!model.ok) return model
      if (model.taskTaken) return { ok: true, bytesDown: model.bytes }
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await mesh.rpc.call(clientId, FL_TRAIN, request, { signal, timeoutMs: 30_000 })
          return r.accepted ? { ok: true, bytesDown: model.bytes } : { ok: false, reason: r.reason }
        } catch (err) {
          if (attempt > 0 || !(err instanceof RpcError) || err.code !== WireErrorCode.NOT_FOUND) return { ok: false, reason: rpcError(err) }
          const why = await reinvite()
          if (why !== undefined) return { ok: false, reason: why }
          const again = await deliverModel()
          if (!again.ok) return again
          if (again.taskTaken) return { ok: true, bytesDown: model.bytes + again.bytes }
        }
      }
    },
    async secagg(clientId, message, signal) {
      const bytes = encodeSecAggMessage(message)
      try {
        const r = await mesh.rpc.call(clientId, FL_SECAGG, { jobId: message.jobId, message: bytes }, { signal, timeoutMs: 60_000 })
        if (r.message.length === 0) return { ok: true, bytes: bytes.length }
        const reply = decodeSecAggMessage(r.message)
        if (reply.type === 'masked-input-header') return { ok: false, reason: 'a masked input does not travel over secagg' }
        return { ok: true, reply, bytes: bytes.length + r.message.length }
      } catch (err) {
        return { ok: false, reason: rpcError(err) }
      }
    },
    async evaluate(clientId, task, signal) {
      const sent = await sendModel(clientId, task.jobId, task.round, task.modelHash, task.params, signal)
      if (!sent.ok && sent.reason !== 'declined-already-have') return { ok: false, reason: `model transfer failed: ${sent.message}` }
      try {
        const r = await mesh.rpc.call(
          clientId,
          FL_EVALUATE,
          { jobId: task.jobId, round: task.round, modelHash: Buffer.from(task.modelHash, 'hex') },
          { signal, timeoutMs: 120_000 },
        )
        return { ok: true, loss: r.loss, accuracy: r.accuracy, examples: Number(r.examples) }
      } catch (err) {
        return { ok: false, reason: rpcError(err) }
      }
    },
    async release(clientId, jobId, reason) {
      await mesh.rpc.call(clientId, FL_CANCEL, { jobId, reason }, { timeoutMs: 5_000 }).catch(() => {})
    },
  }

  const fl = metrics.fl
  const coordinator = createCoordinator(
    {
      store,
      transport,
      onEvent: (jobId, event) => {
        for (const listener of eventListeners) listener(jobId, event)
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
    { dispatchConcurrency: config.fl.dispatchConcurrency },
  )

  // Updates: the header is judged before any data moves; the data is judged, stored and folded on arrival.
  const headerOf = (metadata: Uint8Array, length: number): UpdateHeader => {
    const m = fromBinary(UpdateMetaSchema, metadata)
    return {
      ...(m.withinClip === undefined ? {} : { withinClip: m.withinClip }),
      ...(m.secureSession === undefined ? {} : { secureSession: m.secureSession }),
      jobId: m.jobId,
      round: m.round,
      baseHash: hex(m.baseHash),
      examples: Number(m.examples),
      trainLoss: m.trainLoss,
      trainAccuracy: m.trainAccuracy,
      trainSeconds: m.trainSeconds,
      length,
    }
  }
  await mesh.tensors.handle(FL_UPDATE, {
    maxBytes: config.fl.maxModelBytes,
    accept(header, from) {
      let h: UpdateHeader
      try {
        h = headerOf(header.metadata, 0)
      } catch (err) {
        return { decline: 'not-wanted', message: `malformed update metadata: ${(err as Error).message}` }
      }
      const spec = store.getJob(h.jobId)?.spec
      if (spec === undefined) return { decline: 'not-wanted', message: `no job ${h.jobId} here` }
      if (h.secureSession !== undefined) {
        const t = header.tensors[0]
        if (header.tensors.length !== 1 || t?.name !== MASKED_TENSOR || t.dtype !== 'uint32' || t.shape.length !== 1) {
          return { decline: 'not-wanted', message: `a masked input is one uint32 vector named "${MASKED_TENSOR}"` }
        }
        const verdict = coordinator.admit(from, { ...h, length: t.shape[0] as number })
        return verdict.ok ? true : { decline: 'not-wanted', message: verdict.reason }
      }
      const wrongShape = updateShapeProblem(spec, header.tensors)
      if (wrongShape !== undefined) return { decline: 'not-wanted', message: wrongShape }
      h = { ...h, length: announcedUpdateLength(spec, header.tensors) }
      const verdict = coordinator.admit(from, h)
      if (!verdict.ok) fl.updates.inc({ outcome: 'refused' })
      return verdict.ok ? true : { decline: 'not-wanted', message: verdict.reason }
    },
    onReceive(received, from) {
      const h0 = headerOf(received.metadata, 0)
      const spec = store.getJob(h0.jobId)?.spec
      if (spec === undefined) throw new TensorRejectedError(WireErrorCode.NOT_FOUND, `no job ${h0.jobId} here`)
      if (h0.secureSession !== undefined) {
        const masked = tensorValues(received.set[0] as Tensor<'uint32'>)
        const verdict = coordinator.deliverMasked(from, { ...h0, length: masked.length }, masked, { bytes: received.totalBytes, seconds: received.seconds })
        if (!verdict.ok) throw new TensorRejectedError(WireErrorCode.CONFLICT, verdict.reason)
        return
      }
      let delta: Float32Array
      try {
        delta = decodeClientUpdate(spec, received.set)
      } catch (err) {
        fl.updates.inc({ outcome: 'refused' })
        throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, `malformed update: ${(err as Error).message}`)
      }
      const h = { ...h0, length: delta.length }
      const verdict = coordinator.deliver(from, h, delta, { bytes: received.totalBytes, seconds: received.seconds })
      if (!verdict.ok) throw new TensorRejectedError(WireErrorCode.CONFLICT, verdict.reason)
    },
  })

  // A client is dropped from its round when its last connection closes. An expired ad alone (a busy or slow
  // gossip path) only stops new rounds from sampling it: its update is still taken while the round is open.
  const onGone = (entry: PeerEntry): void => {
    if (entry.goneReason === 'disconnected') coordinator.clientGone(entry.peerId, 'peer gone (disconnected)')
  }
  const onUpdate = (): void => coordinator.wake()
  const onDisconnect = (evt: CustomEvent<string>): void => {
    if (!mesh.connections().some((x) => x.peer === evt.detail)) coordinator.clientGone(evt.detail, 'disconnected')
  }
  peers.on('peer:gone', onGone)
  peers.on('peer:update', onUpdate)
  mesh.addEventListener('peer:connect', onUpdate)
  mesh.addEventListener('peer:disconnect', onDisconnect)

  const participant = await startParticipant({
    mesh,
    config,
    logger,
    engines,
    loadDataset: c.loadDataset,
    onTrained: (_job, seconds, examples) => {
      fl.clientTrainSeconds.observe(seconds)
      fl.clientExamples.inc(examples)
    },
  })

  const viewOf = (job: JobRecord): JobView => {
    const rounds = store.listRounds(job.id)
    const closed = rounds.filter((r) => r.status === 'closed')
    const last = closed.at(-1)
    const lastEval = [...closed].reverse().find((r) => r.metrics?.evaluation !== undefined)
    const ev = lastEval?.metrics?.evaluation
    const acc = ev?.centralized?.accuracy ?? ev?.federated?.accuracy
    const loss = ev?.centralized?.loss ?? ev?.federated?.loss
    const live = coordinator.live(job.id)
    return {
      id: job.id,
      name: job.spec.name,
      status: job.status,
      coordinator: mesh.peerId,
      submitter: job.submitter,
      completedRounds: closed.length,
      rounds: job.spec.rounds,
      strategy: job.spec.strategy.name,
      dataset: job.spec.dataset,
      model: { architecture: job.spec.model.architecture, params: paramCount(job.spec.model) },
      modelHash: job.modelHash,
      createdAt: job.createdAt,
      updatedAt: job.updatedAt,
      ...(job.error === undefined ? {} : { error: job.error }),
      ...(live === undefined ? {} : { live }),
      ...(last?.metrics === undefined
        ? {}
        : {
            latest: {
              round: last.round,
              trainLoss: last.metrics.trainLoss,
              ...(acc === undefined ? {} : { accuracy: acc }),
              ...(loss === undefined ? {} : { loss }),
            },
          }),
      spec: job.spec,
      models: modelsByRound(job, rounds)
        .filter((m) => store.hasModel(m.hash))
        .map((m) => m.round),
      history: rounds.map((r) => ({
        round: r.round,
        status: r.status,
        participants: r.participants.length,
        clients: r.participants,
        delivered: r.metrics?.secureAggregation?.contributors ?? store.contributors(job.id, r.round),
        startedAt: r.startedAt,
        ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt }),
        ...(r.metrics === undefined ? {} : { metrics: r.metrics }),
      })),
    }
  }

  const submit = (input: unknown, submitter = 'local'): JobView => {
    const spec = parseJobSpec(input)
    const job = coordinator.submit(spec, { submitter })
    return viewOf(job)
  }

  await mesh.rpc.handle(FL_SUBMIT, (req, ctx) => {
    if (!config.fl.coordinate) throw new RpcError(WireErrorCode.UNAUTHORIZED, 'this node does not coordinate jobs (fl.coordinate is false)')
    if (!config.fl.acceptFrom.includes('*') && !config.fl.acceptFrom.includes(ctx.peer)) {
      throw new RpcError(WireErrorCode.UNAUTHORIZED, `${ctx.peer} is not in fl.acceptFrom`)
    }
    if (req.specJson.length > MAX_SPEC_JSON) throw new RpcError(WireErrorCode.TOO_LARGE, `job spec over ${MAX_SPEC_JSON} bytes`)
    try {
      return { jobId: submit(JSON.parse(req.specJson), ctx.peer).id }
    } catch (err) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, (err as Error).message)
    }
  })
  await mesh.rpc.handle(FL_STATUS, (req) => {
    const job = store.getJob(req.jobId)
    if (job === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `no job ${req.jobId} here`)
    return { statusJson: JSON.stringify(viewOf(job)) }
  })

  await mesh.rpc.handle(FL_TASK_FAILED, (req, ctx) => {
    const job = store.getJob(req.jobId)
    if (job === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `no job ${req.jobId} here`)
    // Only the client's own task: the coordinator checks that `ctx.peer` holds a task of that round.
    const reason = req.reason.slice(0, MAX_FAILURE_REASON)
    log.warn({ job: req.jobId, round: req.round, client: ctx.peer, reason }, 'a client reported its task failed')
    coordinator.taskFailed(req.jobId, ctx.peer, req.round, reason)
    return {}
  })

  const resumed = coordinator.resumeAll()
  if (resumed.length > 0) log.info({ jobs: resumed }, 'resumed federated jobs after a restart')

  return {
    coordinator,
    submit,
    async submitTo(peer, input) {
      const spec = parseJobSpec(input)
      const r = await mesh.rpc.call(peer, FL_SUBMIT, { specJson: JSON.stringify(spec) }, { timeoutMs: 30_000 })
      c.state.setMeta(`fl-remote:${r.jobId}`, peer)
      return { id: r.jobId, coordinator: peer }
    },
    list: () => store.listJobs().map(viewOf),
    async view(id) {
      const job = store.getJob(id)
      if (job !== undefined) return viewOf(job)
      const remote = c.state.getMeta(`fl-remote:${id}`)
      if (remote === undefined) return undefined
      const r = await mesh.rpc.call(remote, FL_STATUS, { jobId: id }, { timeoutMs: 10_000 })
      return JSON.parse(r.statusJson) as JobView
    },
    events: (id, after) => store.events(id, after),
    cancel: (id) => coordinator.cancel(id),
    exportModel(id, round) {
      const job = store.getJob(id)
      if (job === undefined) return undefined
      const models = modelsByRound(job, store.listRounds(id))
      const model = round === 'last' ? models.at(-1) : models.find((m) => m.round === round)
      const weights = model === undefined ? undefined : store.getModel(model.hash)
      if (model === undefined || weights === undefined) return undefined
      const { bytes } = encodeModelArtifact({ spec: job.spec.model, params: paramInfo(job.spec.model), weights })
      return { bytes, round: model.round }
    },
    clientJobs: () => participant.jobs(),
    activities() {
      const out: ActivityView[] = []
      for (const job of store.listJobs()) {
        if (job.status === 'running') out.push({ kind: 'fl-coordinator', jobId: job.id, detail: `round ${Math.min(job.round, job.spec.rounds)}/${job.spec.rounds}` })
      }
      for (const job of participant.jobs()) {
        if (job.activeRounds.length > 0) out.push({ kind: 'fl-client', jobId: job.id, detail: `training round ${job.activeRounds.join(', ')}` })
      }
      return out
    },
    onJobEvent(listener) {
      eventListeners.add(listener)
      return () => eventListeners.delete(listener)
    },
    async stop() {
      peers.off('peer:gone', onGone)
      peers.off('peer:update', onUpdate)
      mesh.removeEventListener('peer:connect', onUpdate)
      mesh.removeEventListener('peer:disconnect', onDisconnect)
      await coordinator.stop()
      await participant.stop()
      await mesh.tensors.unhandle(FL_UPDATE).catch(() => {})
      await mesh.rpc.unhandle(FL_SUBMIT).catch(() => {})
      await mesh.rpc.unhandle(FL_STATUS).catch(() => {})
      await mesh.rpc.unhandle(FL_TASK_FAILED).catch(() => {})
      eventListeners.clear()
      store.close()
    },
  }
}
