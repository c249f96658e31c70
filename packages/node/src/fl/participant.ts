// The client role on a node: accepts invitations by node policy, trains on its own local data set in a worker
// thread, and sends its update back to the coordinator, retrying while the coordinator is unreachable.
import { create, toBinary } from '@bufbuild/protobuf'
import {
  MASKED_TENSOR,
  SecureClientSessions,
  secureInput,
  type ClientTrainHints,
  type ClientUpdatePipeline,
  craftLocalMaliciousUpdate,
  createClientUpdatePipeline,
  type JobSpec,
  localTrainOptions,
  MODEL_TENSOR,
  parseJobSpec,
  setVector,
  toDeltaInPlace,
  trainingData,
} from '@weft/fl'
import type { InMemoryDataset } from '@weft/data'
import { type MeshNode, RpcError, TensorRejectedError } from '@weft/mesh'
import { fromBinary } from '@bufbuild/protobuf'
import { createTensor, ModelMetaSchema, type TrainRequest, UpdateMetaSchema, WireErrorCode } from '@weft/protocol'
import { featureSize, type PoolTrainResult } from '@weft/runtime'
import type { Logger } from 'pino'
import type { DatasetConfig, NodeConfig } from '../config.js'
import type { NodeEngines } from '../engines.js'
import { decodeSecAggMessage, encodeSecAggMessage } from '@weft/secagg'
import { nativeX25519 } from '@weft/secagg/node'
import { FL_CANCEL, FL_EVALUATE, FL_INVITE, FL_MODEL, FL_SECAGG, FL_TASK_FAILED, FL_TRAIN, FL_UPDATE, MAX_FAILURE_REASON, MAX_SPEC_JSON } from './fl-protocol.js'

export interface ParticipantComponents {
  readonly mesh: MeshNode
  readonly config: NodeConfig
  readonly logger: Logger
  /** The node's engines: a job trains on the one it names (`clients.eligibility.runtime`), else the preferred one. */
  readonly engines: Pick<NodeEngines, 'pool' | 'available' | 'has' | 'preferred'>
  /** The node's data-set loader (memoized by the node: each data set is loaded once). */
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  readonly onTrained?: (jobId: string, seconds: number, examples: number) => void
}

interface ClientJob {
  readonly id: string
  readonly coordinator: string
  readonly spec: JobSpec
  readonly dataset: InMemoryDataset
  /** The engine that trains this job here. */
  readonly engine: string
  /** Clipping, noise and compression of this job's updates (keeps compression's error feedback). */
  readonly pipeline: ClientUpdatePipeline
  /** Rounds with a task started (training or delivering). */
  readonly tasks: Map<number, Promise<void>>
  readonly abort: AbortController
}

/** Models kept by hash so a client that already holds the global model skips its download. */
const MODEL_CACHE = 4

export interface Participant {
  /** Jobs this node is a client of. */
  jobs(): { id: string; coordinator: string; name: string; dataset: string; activeRounds: number[] }[]
  stop(): Promise<void>
}

/** The engine a job trains on here: the one it requires, else the node's preferred one. */
export function engineFor(spec: JobSpec, engines: Pick<NodeEngines, 'preferred'>): string {
  return spec.clients.eligibility.runtime ?? engines.preferred
}

/** Registers the client side of the FL protocol on the node's mesh. */
export async function startParticipant(c: ParticipantComponents): Promise<Participant> {
  const { mesh, config, logger } = c
  const policy = config.fl
  const jobs = new Map<string, ClientJob>()
  const models = new Map<string, Float32Array>()
  const log = logger.child({ component: 'fl-client' })
  if (policy.adversary !== undefined) {
    log.warn({ attack: policy.adversary }, 'this node ATTACKS every federated job it joins (fl.adversary, for robustness evaluation only)')
  }

  const remember = (hash: string, params: Float32Array): void => {
    models.delete(hash)
    models.set(hash, params)
    while (models.size > MODEL_CACHE) models.delete(models.keys().next().value as string)
  }

  await mesh.tensors.handle(FL_MODEL, {
    maxBytes: policy.maxModelBytes,
    has: (hash) => models.has(toHexString(hash)),
    accept: (header, from) => {
      const meta = fromBinary(ModelMetaSchema, header.metadata)
      const job = jobs.get(meta.jobId)
      if (job === undefined || job.coordinator !== from) return { decline: 'not-wanted', message: `not a client of job ${meta.jobId} coordinated by ${from}` }
      return true
    },
    onReceive: (received, from) => {
      const hash = toHexString(received.contentHash)
      remember(hash, setVector(received.set, MODEL_TENSOR))
      // A model that carries its training task starts it at once, without waiting for a separate "train" call.
      const meta = fromBinary(ModelMetaSchema, received.metadata)
      const { task } = meta
      if (task === undefined) return
      if (task.jobId !== meta.jobId || toHexString(task.modelHash) !== hash) {
        const named = `job ${task.jobId}, model ${toHexString(task.modelHash).slice(0, 12)}`
        const came = `job ${meta.jobId}, model ${hash.slice(0, 12)}`
        throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, `the task names ${named} but came with ${came}`)
      }
      let taken: { accepted: boolean; reason: string }
      try {
        taken = takeTask(task, from)
      } catch (err) {
        throw err instanceof RpcError ? new TensorRejectedError(err.code, err.message) : err
      }
      if (!taken.accepted) throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, taken.reason)
    },
  })

  await mesh.rpc.handle(FL_INVITE, async (req, ctx) => {
    const refuse = (reason: string) => ({ accepted: false, reason })
    if (!policy.participate) return refuse('this node does not take part in federated jobs')
    if (!policy.acceptFrom.includes('*') && !policy.acceptFrom.includes(ctx.peer)) return refuse(`coordinator ${ctx.peer} is not in fl.acceptFrom`)
    if (req.specJson.length > MAX_SPEC_JSON) return refuse(`job spec of ${req.specJson.length} bytes is over ${MAX_SPEC_JSON}`)
    const existing = jobs.get(req.jobId)
    if (existing !== undefined) return { accepted: true, reason: '', examples: BigInt(existing.dataset.size) }
    if (jobs.size >= policy.maxJobs) return refuse(`already in ${jobs.size} jobs (fl.maxJobs ${policy.maxJobs})`)
    let spec: JobSpec
    try {
      spec = parseJobSpec(JSON.parse(req.specJson))
    } catch (err) {
      return refuse(`bad job spec: ${(err as Error).message}`)
    }
    const dsConfig = config.datasets.find((d) => d.name === spec.dataset)
    if (dsConfig === undefined) return refuse(`no local data set named "${spec.dataset}"`)
    let dataset: InMemoryDataset
    try {
      dataset = await c.loadDataset(dsConfig)
    } catch (err) {
      return refuse(`cannot load local data set "${spec.dataset}": ${(err as Error).message}`)
    }
    const want = featureSize(spec.model.inputShape)
    if (featureSize(dataset.featureShape) !== want || dataset.numClasses !== spec.model.numClasses) {
      return refuse(
        `local data set "${spec.dataset}" has ${featureSize(dataset.featureShape)} features and ${dataset.numClasses} classes; the model needs ${want} and ${spec.model.numClasses}`,
      )
    }
    if (jobs.size >= policy.maxJobs) return refuse(`already in ${jobs.size} jobs (fl.maxJobs ${policy.maxJobs})`)
    const engine = engineFor(spec, c.engines)
    if (!c.engines.has(engine)) {
      return refuse(`the job needs the ${engine} runtime; this node has ${c.engines.available.join(', ')}`)
    }
    const pipeline = createClientUpdatePipeline(spec)
    jobs.set(req.jobId, { id: req.jobId, coordinator: ctx.peer, spec, dataset, engine, pipeline, tasks: new Map(), abort: new AbortController() })
    log.info({ job: req.jobId, coordinator: ctx.peer, examples: dataset.size, engine }, 'joined a federated job')
    return { accepted: true, reason: '', examples: BigInt(dataset.size) }
  })

  const ownJob = (jobId: string, from: string): ClientJob => {
    const job = jobs.get(jobId)
    if (job === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `not a client of job ${jobId}; invite first`)
    if (job.coordinator !== from) throw new RpcError(WireErrorCode.UNAUTHORIZED, `job ${jobId} is coordinated by ${job.coordinator}`)
    return job
  }

  await mesh.rpc.handle(FL_TRAIN, (req, ctx) => takeTask(req, ctx.peer))

  /** Starts a round's task on a model this node holds (once per round); refuses it with the reason otherwise. */
  function takeTask(req: TrainRequest, from: string): { accepted: boolean; reason: string } {
    const job = ownJob(req.jobId, from)
    const hash = toHexString(req.modelHash)
    const params = models.get(hash)
    if (params === undefined) return { accepted: false, reason: `model ${hash.slice(0, 12)} was not received` }
    if (!job.tasks.has(req.round)) {
      const hints: ClientTrainHints = {
        proximalMu: req.proximalMu,
        ...(req.dpClipNorm > 0 ? { dp: { clipNorm: req.dpClipNorm, noiseStd: req.dpNoiseStd } } : {}),
        ...(req.secure === undefined ? {} : { secure: { session: req.secure.session, weight: req.secure.weight, clipBit: req.secure.clipBit } }),
      }
      const task = runTask(job, req.round, hash, params, req.seed, hints).finally(() => job.tasks.delete(req.round))
      job.tasks.set(req.round, task)
    }
    return { accepted: true, reason: '' }
  }

  /** Tells the coordinator that this round's task failed, so the round does not wait for it (best effort). */
  function reportFailure(job: ClientJob, round: number, reason: string): void {
    mesh.rpc
      .call(job.coordinator, FL_TASK_FAILED, { jobId: job.id, round, reason: reason.slice(0, MAX_FAILURE_REASON) }, { timeoutMs: 10_000, signal: job.abort.signal })
      .catch((err: Error) => log.debug({ job: job.id, round, err: err.message }, 'could not report the failed task'))
  }

  async function runTask(job: ClientJob, round: number, baseHash: string, global: Float32Array, seed: number, hints: ClientTrainHints): Promise<void> {
    const { model } = job.spec
    let trained: PoolTrainResult
    const t0 = performance.now()
    try {
      trained = await c.engines.pool(job.engine).train({
        spec: model,
        params: global,
        copyParams: true,
        dataset: trainingData(job.dataset.toShared(), policy.adversary),
        options: localTrainOptions(job.spec, seed, hints.proximalMu, global),
      })
    } catch (err) {
      const e = err as Error
      log.error({ job: job.id, round, engine: job.engine, err: `${e.name}: ${e.message}` }, 'local training failed; no update sent')
      reportFailure(job, round, `local training on ${job.engine} failed: ${e.name}: ${e.message}`)
      return
    }
    const seconds = (performance.now() - t0) / 1000
    c.onTrained?.(job.id, seconds, trained.result.examples)
    const honest = toDeltaInPlace(trained.params, global)
    const delta = policy.adversary === undefined ? honest : craftLocalMaliciousUpdate(policy.adversary, honest)
    let prepared: ReturnType<ClientUpdatePipeline['prepare']>
    let secureSession: number | undefined
    try {
      prepared = job.pipeline.prepare(delta, hints)
      const secure = hints.secure
      const config = job.spec.privacy.secureAggregation
      if (secure !== undefined && config !== undefined) {
        // The clipped update, weighted, masked in the round's session: the coordinator sees only the sum.
        const masked = await secureSessions.mask(job.id, secure.session, secureInput(delta, secure, prepared.withinClip, config.clip), 120_000, job.abort.signal)
        prepared = { set: [createTensor(MASKED_TENSOR, 'uint32', [masked.vector.length], masked.vector)] }
        secureSession = secure.session
      }
    } catch (err) {
      log.error({ job: job.id, round, err: (err as Error).message }, 'could not prepare the update; none sent')
      reportFailure(job, round, `could not prepare the update: ${(err as Error).message}`)
      return
    }
    const metadata = toBinary(
      UpdateMetaSchema,
      create(UpdateMetaSchema, {
        jobId: job.id,
        round,
        baseHash: Buffer.from(baseHash, 'hex'),
        examples: BigInt(job.dataset.size),
        trainLoss: trained.result.meanLoss,
        trainAccuracy: 0,
        trainSeconds: seconds,
        ...(prepared.withinClip === undefined ? {} : { withinClip: prepared.withinClip }),
        ...(secureSession === undefined ? {} : { secureSession }),
      }),
    )
    const set = prepared.set
    // The coordinator may be restarting: retry unreachable sends with backoff; a refusal is final.
    for (let attempt = 0, wait = 250; !job.abort.signal.aborted; attempt++, wait = Math.min(wait * 2, 5_000)) {
      const r = await mesh.tensors.send(job.coordinator, FL_UPDATE, set, { metadata, timeoutMs: 120_000, signal: job.abort.signal })
      if (r.ok) {
        log.info({ job: job.id, round, seconds: seconds.toFixed(2), examples: job.dataset.size }, 'update accepted')
        return
      }
      if (r.reason.startsWith('declined') || r.reason === 'rejected') {
        log.warn({ job: job.id, round, reason: r.message }, 'update refused by the coordinator')
        return
      }
      if (attempt >= policy.sendRetries) {
        log.warn({ job: job.id, round, reason: r.message }, 'giving up sending the update')
        return
      }
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  // Secure aggregation: the coordinator's key, share and unmasking messages for this node's sessions.
  const secureSessions = new SecureClientSessions(mesh.peerId, { keyAgreement: nativeX25519() })
  await mesh.rpc.handle(FL_SECAGG, (req, ctx) => {
    ownJob(req.jobId, ctx.peer)
    let message: ReturnType<typeof decodeSecAggMessage>
    try {
      message = decodeSecAggMessage(req.message)
    } catch (err) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, `malformed secure-aggregation message: ${(err as Error).message}`)
    }
    if (message.type === 'masked-input-header' || message.jobId !== req.jobId) throw new RpcError(WireErrorCode.BAD_REQUEST, 'not a coordinator message of this job')
    try {
      const reply = secureSessions.handle(message)
      return { message: reply === undefined ? new Uint8Array() : encodeSecAggMessage(reply) }
    } catch (err) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, (err as Error).message)
    }
  })

  await mesh.rpc.handle(FL_EVALUATE, async (req, ctx) => {
    const job = ownJob(req.jobId, ctx.peer)
    const hash = toHexString(req.modelHash)
    const params = models.get(hash)
    if (params === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `model ${hash.slice(0, 12)} was not received`)
    const t0 = performance.now()
    const e = await c.engines.pool(job.engine).evaluate({ spec: job.spec.model, params, dataset: job.dataset.toShared() })
    return { loss: e.loss, accuracy: e.accuracy, examples: BigInt(e.examples), seconds: (performance.now() - t0) / 1000 }
  })

  await mesh.rpc.handle(FL_CANCEL, (req, ctx) => {
    const job = jobs.get(req.jobId)
    if (job !== undefined && job.coordinator === ctx.peer) {
      job.abort.abort(new Error(req.reason))
      jobs.delete(req.jobId)
      secureSessions.forgetJob(req.jobId)
      log.info({ job: req.jobId, reason: req.reason }, 'left a federated job')
    }
    return {}
  })

  return {
    jobs: () =>
      [...jobs.values()].map((j) => ({
        id: j.id,
        coordinator: j.coordinator,
        name: j.spec.name,
        dataset: j.spec.dataset,
        activeRounds: [...j.tasks.keys()],
      })),
    async stop() {
      for (const j of jobs.values()) j.abort.abort(new Error('node stopping'))
      await Promise.allSettled([...jobs.values()].flatMap((j) => [...j.tasks.values()]))
      for (const m of [FL_INVITE, FL_TRAIN, FL_EVALUATE, FL_CANCEL, FL_SECAGG]) await mesh.rpc.unhandle(m).catch(() => {})
      await mesh.tensors.unhandle(FL_MODEL).catch(() => {})
    },
  }
}

function toHexString(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
