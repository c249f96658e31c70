// The client role over the mesh: accepts invitations by the node's policy, takes a round's task when its model
// arrives (or by `fl/train` when it held the model already), runs it with the one client flow (runClientTask) on its
// own local data, and sends the update back, retrying while the coordinator is unreachable. A job that hands models
// out by CID names the model's CID in the task instead: the client fetches it through the node's block store from
// the coordinator and the peers named, verifies its hash, and serves it to the job's other clients for the round.
// A node that aggregates a site (`site`) takes the same invitations, models and tasks, but runs each task on its site's
// members (the site aggregator) instead of on local data, and answers with the site's examples.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { InMemoryDataset } from '@weft/data'
import {
  type AttackConfig,
  type ClientPrivacyPolicy,
  type ClientSendOutcome,
  type ClientTaskOutcome,
  type ClientTrainHints,
  type ClientUpdatePipeline,
  craftLocalMaliciousUpdate,
  createClientUpdatePipeline,
  type JobSpec,
  MODEL_TENSOR,
  type PreparedClientUpdate,
  parseJobSpec,
  policyRefusesJob,
  policyRefusesTask,
  runClientTask,
  SecureClientSessions,
  secureCohortMinimum,
  setVector,
  type TrainAssignment,
  trainingData,
} from '@weft/fl'
import { type Authorize, allowListAuthorize, RpcError, TensorRejectedError } from '@weft/mesh'
import {
  abortAfter,
  FL_CANCEL,
  FL_EVALUATE,
  FL_INVITE,
  FL_MODEL,
  FL_SECAGG,
  FL_TASK_FAILED,
  FL_TRAIN,
  FL_UPDATE,
  MAX_CID_STRING,
  MAX_FAILURE_REASON,
  MAX_HANDOUT_PEERS,
  MAX_HANDOUT_PROVIDERS,
  MAX_SPEC_JSON,
  ModelMetaSchema,
  type TrainRequest,
  tensorSetByteLength,
  UpdateMetaSchema,
  WireErrorCode,
} from '@weft/protocol'
import { featureSize, paramCount, type TrainingPool } from '@weft/runtime'
import { decodeSecAggMessage, encodeSecAggMessage, type KeyAgreement, type SecAggIdentity } from '@weft/secagg'
import { type FlEndpoint, type FlLogger, fromHex, silentLogger, toHex } from './endpoint.js'
import { type HandoutFetch, type ModelHandout, modelOfHandout } from './model-handout.js'
import type { ParticipantSite } from './site-aggregator.js'

/** Which jobs this node joins and how it sends (the node's `fl` config). */
export interface ParticipantPolicy {
  /** Takes part in federated jobs at all. */
  readonly participate: boolean
  /**
   * Coordinators it accepts invitations from ('*': any; empty: none). The role check when no `authorize` is given;
   * a node passes its own check, which includes this list.
   */
  readonly coordinators: readonly string[]
  /** What a job must promise before this client trains on its data. */
  readonly privacy: ClientPrivacyPolicy
  /** Most jobs it is a client of at once. */
  readonly maxJobs: number
  /** Largest global model it receives (bytes). */
  readonly maxModelBytes: number
  /** Retries of an update the coordinator could not be reached for. */
  readonly sendRetries: number
  /** Global models kept by hash, so a client that holds the round's model skips its download (default 4). */
  readonly modelCache?: number
  /** Evaluation only: the attack this client runs in every job it joins. */
  readonly adversary?: AttackConfig
}

/** The engines a participant trains on: a job trains on the one it names, else the preferred one. */
export interface ParticipantEngines {
  pool(engine: string): TrainingPool
  has(engine: string): boolean
  readonly available: readonly string[]
  readonly preferred: string
}

export interface ParticipantComponents {
  readonly mesh: FlEndpoint
  readonly policy: ParticipantPolicy
  /**
   * The node's role check: every invitation, model, task, evaluation and cancellation comes from a peer holding the
   * `coordinator` role (a coordinator revoked mid-job is refused from then on). Default: `policy.coordinators`.
   */
  readonly authorize?: Authorize
  readonly engines: ParticipantEngines
  /** The local data set a job names, loaded (once) by the node; undefined when there is none by that name. */
  readonly loadDataset: (name: string) => Promise<InMemoryDataset> | undefined
  /** Secure aggregation's X25519 (Node passes OpenSSL's; the default is noble's). */
  readonly keyAgreement?: KeyAgreement
  /**
   * Signs this node's secure-aggregation keys with its identity key and checks its neighbours' signatures against
   * their peer ids (`peerIdSecAggIdentity` over the node's libp2p private key).
   */
  readonly identity: SecAggIdentity
  readonly logger?: FlLogger
  /** The node's block store, for jobs that hand models out by CID (absent: such tasks are refused). */
  readonly handout?: ModelHandout
  /** Longest a fetch of a model by CID may take (ms). Default 120 000. */
  readonly handoutTimeoutMs?: number
  /** Called after each local training (seconds, examples). */
  readonly onTrained?: (jobId: string, seconds: number, examples: number) => void
  /** What happens to this client, as it happens (a browser tab shows it; a node may log it). */
  readonly onEvent?: (event: ParticipantEvent) => void
  /**
   * This node aggregates a site (hierarchical FL): a job's tasks run on the site's members, not on local data, and
   * the node joins a job with the site's examples. DP jobs are refused (the site says why); under secure aggregation
   * the site runs its own session over its members.
   */
  readonly site?: ParticipantSite
}

/**
 * What a participant tells its user: a job joined or refused, a round's training started, an update left the
 * device (its size, and whether it was masked or noised), a job left.
 */
export type ParticipantEvent =
  | {
      readonly type: 'joined'
      readonly jobId: string
      readonly name: string
      readonly dataset: string
      readonly coordinator: string
      readonly examples: number
      readonly rounds: number
      readonly secureAggregation: boolean
      /** The job's (ε, δ) target under differential privacy; absent without DP. */
      readonly dp?: { readonly mode: string; readonly targetEpsilon?: number; readonly delta: number }
    }
  | { readonly type: 'refused'; readonly jobId: string; readonly coordinator: string; readonly reason: string }
  | { readonly type: 'training'; readonly jobId: string; readonly round: number }
  | {
      readonly type: 'update'
      readonly jobId: string
      readonly round: number
      readonly ok: boolean
      /** Why it was not delivered (ok false). */
      readonly reason?: string
      readonly trainLoss: number
      readonly trainSeconds: number
      readonly examples: number
      /** Bytes of tensor data that left the device (the update as encoded on the wire). */
      readonly bytes: number
      /** Masked for secure aggregation: the coordinator sees only the sum. */
      readonly masked: boolean
      /** Clipped and noised on the device (local or distributed DP). */
      readonly noised: boolean
    }
  | { readonly type: 'failed'; readonly jobId: string; readonly round: number; readonly reason: string }
  | { readonly type: 'left'; readonly jobId: string; readonly reason: string }

/** A job this node is a client of. */
export interface ParticipantJob {
  readonly id: string
  readonly coordinator: string
  readonly name: string
  readonly dataset: string
  /** Rounds with a task running (training or delivering). */
  readonly activeRounds: number[]
  /**
   * The job is differentially private: which rounds this client is sampled for must stay secret (the accountant's
   * amplification by sampling assumes nobody can tell), so nothing outside the node may show them.
   */
  readonly secretSampling: boolean
}

export interface Participant {
  jobs(): ParticipantJob[]
  /**
   * The coordinator this node sent its update for a job's round to, or undefined when it sent none (what a receipt
   * for that update is checked against; the most recent MAX_SENT_UPDATES are remembered, after the job ends too).
   */
  sentUpdate(jobId: string, round: number): string | undefined
  stop(): Promise<void>
}

interface ClientJob {
  readonly id: string
  readonly coordinator: string
  readonly spec: JobSpec
  /** The local data set (undefined when the node aggregates a site: its members hold the data). */
  readonly dataset: InMemoryDataset | undefined
  /** Examples this client declared when it joined (the site's total for a site aggregator). */
  readonly examples: number
  readonly engine: string
  /** Clipping, noise and compression of this job's updates (keeps compression's error feedback). */
  readonly pipeline: ClientUpdatePipeline
  readonly tasks: Map<number, Promise<void>>
  readonly abort: AbortController
  /** Models fetched by CID and served on, oldest first (released when newer rounds' arrive, or the job ends). */
  readonly handouts: string[]
}

/** What a task or an evaluation names of a model handed out by CID. */
type HandoutRequest = Pick<TrainRequest, 'round' | 'modelHash' | 'modelCid' | 'modelProviders' | 'serveTo'>

/** Room for a hand-out's tensor-set header (name, dtype, shape) past its float32 weights. */
const HANDOUT_HEADER_BYTES = 4096

/** Models kept by hash so a client that already holds the global model skips its download. */
const MODEL_CACHE = 4
/** Models fetched by CID that a client keeps serving per job (the current round's and the one before). */
const KEPT_HANDOUTS = 2
/** Updates sent (job, round) remembered for receipts. */
const MAX_SENT_UPDATES = 4096
/** Longest peer id accepted in a hand-out's provider and serve lists. */
const MAX_PEER_ID = 128

/** The engine a job trains on: the one it requires, else the preferred one. */
export function engineFor(spec: JobSpec, engines: Pick<ParticipantEngines, 'preferred'>): string {
  return spec.clients.eligibility.runtime ?? engines.preferred
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true })
  })

/** Registers the client side of the FL protocol on the mesh node. */
export async function startParticipant(c: ParticipantComponents): Promise<Participant> {
  const { mesh, policy } = c
  const authorize = c.authorize ?? allowListAuthorize({ coordinators: policy.coordinators, submitters: [] })
  const log = c.logger ?? silentLogger
  const jobs = new Map<string, ClientJob>()
  const models = new Map<string, Float32Array>()
  /** "job\nround" → the coordinator an update was sent to, oldest first. */
  const sent = new Map<string, string>()
  const secure = new SecureClientSessions(mesh.peerId, {
    identity: c.identity,
    minClients: (jobId) => {
      const job = jobs.get(jobId)
      return job === undefined ? undefined : secureCohortMinimum(job.spec)
    },
    ...(c.keyAgreement === undefined ? {} : { keyAgreement: c.keyAgreement }),
  })
  if (policy.adversary !== undefined) {
    log.warn({ attack: policy.adversary }, 'this node ATTACKS every federated job it joins (fl.adversary, for robustness evaluation only)')
  }

  const remember = (hash: string, params: Float32Array): void => {
    models.delete(hash)
    models.set(hash, params)
    while (models.size > (policy.modelCache ?? MODEL_CACHE)) models.delete(models.keys().next().value as string)
  }

  const ownJob = (jobId: string, from: string): ClientJob => {
    const job = jobs.get(jobId)
    if (job === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `not a client of job ${jobId}; invite first`)
    if (job.coordinator !== from) throw new RpcError(WireErrorCode.UNAUTHORIZED, `job ${jobId} is coordinated by ${job.coordinator}`)
    const refusal = authorize(from, 'coordinator')
    if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    return job
  }

  /** Tells the coordinator that this round's task failed, so the round does not wait for it (best effort). */
  const reportFailure = (job: ClientJob, round: number, reason: string): void => {
    mesh.rpc
      .call(job.coordinator, FL_TASK_FAILED, { jobId: job.id, round, reason: reason.slice(0, MAX_FAILURE_REASON) }, { timeoutMs: 10_000, signal: job.abort.signal })
      .catch((err: Error) => log.debug({ job: job.id, round, err: err.message }, 'could not report the failed task'))
  }

  /** Sends an update; the coordinator may be restarting, so unreachable sends are retried with backoff. */
  const send = async (job: ClientJob, update: PreparedClientUpdate): Promise<ClientSendOutcome> => {
    const h = update.header
    sent.set(`${h.jobId}\n${h.round}`, job.coordinator)
    if (sent.size > MAX_SENT_UPDATES) sent.delete(sent.keys().next().value as string)
    const metadata = toBinary(
      UpdateMetaSchema,
      create(UpdateMetaSchema, {
        jobId: h.jobId,
        round: h.round,
        baseHash: fromHex(h.baseHash),
        examples: BigInt(h.examples),
        trainLoss: h.trainLoss,
        trainAccuracy: h.trainAccuracy,
        trainSeconds: h.trainSeconds,
        ...(h.withinClip === undefined ? {} : { withinClip: h.withinClip }),
        ...(h.secureSession === undefined ? {} : { secureSession: h.secureSession }),
      }),
    )
    const outcome = await deliver(job, update.set, metadata)
    c.onEvent?.({
      type: 'update',
      jobId: h.jobId,
      round: h.round,
      ok: outcome.ok,
      ...(outcome.ok ? {} : { reason: outcome.reason }),
      trainLoss: h.trainLoss,
      trainSeconds: h.trainSeconds,
      examples: h.examples,
      bytes: tensorSetByteLength(update.set),
      masked: update.masked !== undefined,
      noised: h.withinClip !== undefined,
    })
    return outcome
  }

  const deliver = async (job: ClientJob, set: PreparedClientUpdate['set'], metadata: Uint8Array): Promise<ClientSendOutcome> => {
    for (let attempt = 0, wait = 250; ; attempt++, wait = Math.min(wait * 2, 5_000)) {
      if (job.abort.signal.aborted) return { ok: false, reason: 'left the job' }
      const r = await mesh.tensors.send(job.coordinator, FL_UPDATE, set, { metadata, timeoutMs: 120_000, signal: job.abort.signal })
      if (r.ok) return { ok: true }
      // A refusal is final; an unreachable coordinator is tried again.
      if (r.reason.startsWith('declined') || r.reason === 'rejected') return { ok: false, reason: `refused by the coordinator: ${r.message}` }
      if (attempt >= policy.sendRetries) return { ok: false, reason: `giving up sending the update: ${r.message}` }
      await sleep(wait, job.abort.signal)
    }
  }

  /** One round's task on this node's own data: the one client flow. */
  const localTask = (
    job: ClientJob,
    dataset: InMemoryDataset,
    t: { round: number; baseHash: string; global: Float32Array; seed: number; hints: ClientTrainHints },
    toCoordinator: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>,
  ): Promise<ClientTaskOutcome> => {
    const adversary = policy.adversary
    return runClientTask(
      { jobId: job.id, ...t, spec: job.spec, dataset: trainingData(dataset.toShared(), adversary), examples: dataset.size },
      {
        pool: c.engines.pool(job.engine),
        pipeline: job.pipeline,
        secure,
        ...(adversary === undefined ? {} : { transformDelta: (honest: Float32Array) => craftLocalMaliciousUpdate(adversary, honest) }),
        send: toCoordinator,
        signal: job.abort.signal,
      },
    )
  }

  /** One round's task on the site's members (this node aggregates a site): one update for the site. */
  const siteTask = async (job: ClientJob, task: TrainAssignment, toCoordinator: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>): Promise<ClientTaskOutcome> => {
    if (c.site === undefined) return { ok: false, stage: 'train', reason: 'this node has no local data for the job' }
    return c.site.train(job.id, task, { pipeline: job.pipeline, send: toCoordinator, secure, signal: job.abort.signal })
  }

  /** The task on this node's data, or on its site's members when it aggregates a site. */
  const runTask = async (job: ClientJob, round: number, baseHash: string, global: Float32Array, seed: number, hints: ClientTrainHints): Promise<void> => {
    const toCoordinator = (update: PreparedClientUpdate) => send(job, update)
    const outcome =
      job.dataset === undefined
        ? await siteTask(job, { jobId: job.id, round, modelHash: baseHash, params: global, seed, hints }, toCoordinator)
        : await localTask(job, job.dataset, { round, baseHash, global, seed, hints }, toCoordinator)
    if (outcome.ok || outcome.trainSeconds !== undefined) c.onTrained?.(job.id, outcome.ok ? outcome.trainSeconds : (outcome.trainSeconds as number), job.examples)
    if (outcome.ok) {
      log.info({ job: job.id, round, seconds: outcome.trainSeconds.toFixed(2), examples: job.examples }, 'update accepted')
      return
    }
    if (outcome.stage === 'send') {
      log.warn({ job: job.id, round, reason: outcome.reason }, 'update not delivered')
      return
    }
    const what = outcome.stage === 'train' ? 'local training failed; no update sent' : 'could not prepare the update; none sent'
    log.error({ job: job.id, round, engine: job.engine, err: outcome.reason }, what)
    c.onEvent?.({ type: 'failed', jobId: job.id, round, reason: `${what}: ${outcome.reason}` })
    reportFailure(job, round, outcome.reason)
  }

  /** Starts a round's task on a model this node holds (once per round); refuses it with the reason otherwise. */
  const takeTask = (req: TrainRequest, from: string): { accepted: boolean; reason: string } => {
    const job = ownJob(req.jobId, from)
    const hash = toHex(req.modelHash)
    const params = models.get(hash)
    // NOT_FOUND, not a refusal: the coordinator then sends the model with the task. A model declined as held can
    // leave the cache before its "train" call arrives, when other models come in between.
    if (params === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `model ${hash.slice(0, 12)} was not received`)
    if (!job.tasks.has(req.round)) {
      const hints: ClientTrainHints = {
        proximalMu: req.proximalMu,
        ...(req.dpClipNorm > 0 ? { dp: { clipNorm: req.dpClipNorm, noiseStd: req.dpNoiseStd } } : {}),
        ...(req.secure === undefined ? {} : { secure: { session: req.secure.session, weight: req.secure.weight, clipBit: req.secure.clipBit } }),
      }
      const refusal = policyRefusesTask(policy.privacy, job.spec, hints)
      if (refusal !== undefined) return { accepted: false, reason: refusal }
      const task = runTask(job, req.round, hash, params, req.seed, hints).finally(() => job.tasks.delete(req.round))
      job.tasks.set(req.round, task)
      c.onEvent?.({ type: 'training', jobId: job.id, round: req.round })
    }
    return { accepted: true, reason: '' }
  }

  await mesh.tensors.handle(FL_MODEL, {
    maxBytes: policy.maxModelBytes,
    has: (hash) => models.has(toHex(hash)),
    accept: (header, from) => {
      const meta = fromBinary(ModelMetaSchema, header.metadata)
      const job = jobs.get(meta.jobId)
      if (job === undefined || job.coordinator !== from) return { decline: 'not-wanted', message: `not a client of job ${meta.jobId} coordinated by ${from}` }
      const refusal = authorize(from, 'coordinator')
      if (refusal !== undefined) return { decline: 'not-wanted', message: refusal }
      return true
    },
    onReceive: (received, from) => {
      const hash = toHex(received.contentHash)
      // A model that carries its training task starts it at once, without waiting for a separate "train" call.
      const meta = fromBinary(ModelMetaSchema, received.metadata)
      const { task } = meta
      // A refused transfer is not kept: it would push a held model out of the cache.
      if (task !== undefined && (task.jobId !== meta.jobId || toHex(task.modelHash) !== hash)) {
        const named = `job ${task.jobId}, model ${toHex(task.modelHash).slice(0, 12)}`
        const came = `job ${meta.jobId}, model ${hash.slice(0, 12)}`
        throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, `the task names ${named} but came with ${came}`)
      }
      remember(hash, setVector(received.set, MODEL_TENSOR))
      if (task === undefined) return
      let taken: { accepted: boolean; reason: string }
      try {
        taken = takeTask(task, from)
      } catch (err) {
        throw err instanceof RpcError ? new TensorRejectedError(err.code, err.message) : err
      }
      if (!taken.accepted) throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, taken.reason)
    },
  })

  /** What a job trains on here: the local data set it names (checked against the model and the privacy policy). */
  type Joined = { dataset: InMemoryDataset | undefined; examples: number; engine: string }
  const joinLocal = async (spec: JobSpec): Promise<Joined | string> => {
    const loading = c.loadDataset(spec.dataset)
    if (loading === undefined) return `no local data set named "${spec.dataset}"`
    let dataset: InMemoryDataset
    try {
      dataset = await loading
    } catch (err) {
      return `cannot load local data set "${spec.dataset}": ${(err as Error).message}`
    }
    const want = featureSize(spec.model.inputShape)
    if (featureSize(dataset.featureShape) !== want || dataset.numClasses !== spec.model.numClasses) {
      return `local data set "${spec.dataset}" has ${featureSize(dataset.featureShape)} features and ${dataset.numClasses} classes; the model needs ${want} and ${spec.model.numClasses}`
    }
    if (jobs.size >= policy.maxJobs) return `already in ${jobs.size} jobs (fl.maxJobs ${policy.maxJobs})`
    const refusal = policyRefusesJob(policy.privacy, spec, dataset.size)
    if (refusal !== undefined) return refusal
    const engine = engineFor(spec, c.engines)
    if (!c.engines.has(engine)) return `the job needs the ${engine} runtime; this node has ${c.engines.available.join(', ')}`
    return { dataset, examples: dataset.size, engine }
  }
  /** A site aggregator joins with its site: the members it invited (each by its own policy) and their examples. */
  const joinSite = async (site: ParticipantSite, jobId: string, spec: JobSpec, coordinator: string): Promise<Joined | string> => {
    const joined = await site.join(jobId, spec, coordinator)
    if (!joined.ok) return joined.reason
    if (jobs.size >= policy.maxJobs) {
      await site.leave(jobId, `the site aggregator is already in ${jobs.size} jobs`)
      return `already in ${jobs.size} jobs (fl.maxJobs ${policy.maxJobs})`
    }
    return { dataset: undefined, examples: joined.examples, engine: engineFor(spec, c.engines) }
  }

  await mesh.rpc.handle(FL_INVITE, async (req, ctx) => {
    const refuse = (reason: string) => {
      c.onEvent?.({ type: 'refused', jobId: req.jobId, coordinator: ctx.peer, reason })
      return { accepted: false, reason }
    }
    if (!policy.participate) return refuse('this node does not take part in federated jobs')
    const unauthorized = authorize(ctx.peer, 'coordinator')
    if (unauthorized !== undefined) return refuse(unauthorized)
    if (req.specJson.length > MAX_SPEC_JSON) return refuse(`job spec of ${req.specJson.length} bytes is over ${MAX_SPEC_JSON}`)
    const existing = jobs.get(req.jobId)
    // Only the job's own coordinator may invite again (one that restarted): another peer cannot take a job over.
    if (existing !== undefined && existing.coordinator !== ctx.peer) return refuse(`job ${req.jobId} is coordinated by ${existing.coordinator}`)
    if (existing !== undefined) return { accepted: true, reason: '', examples: BigInt(existing.examples) }
    if (jobs.size >= policy.maxJobs) return refuse(`already in ${jobs.size} jobs (fl.maxJobs ${policy.maxJobs})`)
    let spec: JobSpec
    try {
      spec = parseJobSpec(JSON.parse(req.specJson))
    } catch (err) {
      return refuse(`bad job spec: ${(err as Error).message}`)
    }
    const modelBytes = paramCount(spec.model) * 4
    if (modelBytes > policy.maxModelBytes) return refuse(`the model is ${modelBytes} bytes; this node takes models up to ${policy.maxModelBytes} (fl.maxModelBytes)`)
    const joined = c.site === undefined ? await joinLocal(spec) : await joinSite(c.site, req.jobId, spec, ctx.peer)
    if (typeof joined === 'string') return refuse(joined)
    const { dataset, examples, engine } = joined
    const pipeline = createClientUpdatePipeline(spec)
    jobs.set(req.jobId, { id: req.jobId, coordinator: ctx.peer, spec, dataset, examples, engine, pipeline, tasks: new Map(), abort: new AbortController(), handouts: [] })
    log.info({ job: req.jobId, coordinator: ctx.peer, examples, engine, site: dataset === undefined }, 'joined a federated job')
    const dp = spec.privacy.dp
    c.onEvent?.({
      type: 'joined',
      jobId: req.jobId,
      name: spec.name,
      dataset: spec.dataset,
      coordinator: ctx.peer,
      examples,
      rounds: spec.rounds,
      secureAggregation: spec.privacy.secureAggregation !== undefined,
      ...(dp === undefined ? {} : { dp: { mode: dp.mode, delta: dp.delta, ...(dp.targetEpsilon === undefined ? {} : { targetEpsilon: dp.targetEpsilon }) } }),
    })
    return { accepted: true, reason: '', examples: BigInt(examples) }
  })

  /** Stops serving a job's models fetched by CID and unpins them (gc takes them). */
  const releaseHandouts = (job: ClientJob, keep = 0): void => {
    while (job.handouts.length > keep) c.handout?.release(job.handouts.shift() as string)
  }

  /** Fetches of models by CID in flight, so a repeated task waits for the same one. */
  const fetching = new Map<string, Promise<HandoutFetch & { params?: Float32Array }>>()

  /** Fetches a task's model by CID, verifies it against the task's hash, and serves it on to the peers named. */
  const fetchModel = async (job: ClientJob, req: HandoutRequest): Promise<{ ok: true; blocks: Readonly<Record<string, number>> } | { ok: false; reason: string }> => {
    const hash = toHex(req.modelHash)
    if (models.has(hash)) return { ok: true, blocks: {} }
    const handout = c.handout
    if (handout === undefined) return { ok: false, reason: 'this node cannot fetch models by CID (no block store)' }
    const bad = (what: string) => new RpcError(WireErrorCode.BAD_REQUEST, what)
    if (req.modelCid.length > MAX_CID_STRING) throw bad(`model CID of ${req.modelCid.length} characters is over ${MAX_CID_STRING}`)
    if (req.modelProviders.length > MAX_HANDOUT_PROVIDERS) throw bad(`${req.modelProviders.length} providers named; at most ${MAX_HANDOUT_PROVIDERS}`)
    if (req.serveTo.length > MAX_HANDOUT_PEERS) throw bad(`${req.serveTo.length} peers to serve named; at most ${MAX_HANDOUT_PEERS}`)
    if ([...req.modelProviders, ...req.serveTo].some((p) => p.length > MAX_PEER_ID)) throw bad(`a peer id over ${MAX_PEER_ID} characters`)
    // The coordinator is always asked (last); this node never asks itself.
    const providers = [...new Set([...req.modelProviders, job.coordinator])].filter((p) => p !== mesh.peerId)
    const cid = req.modelCid
    const t0 = performance.now()
    let pending = fetching.get(cid)
    if (pending === undefined) {
      const signal = abortAfter(c.handoutTimeoutMs ?? 120_000, job.abort.signal)
      pending = (async () => {
        // The job's model has a known size: a coordinator naming a larger DAG gets the fetch stopped at that bound,
        // not at the node's store quota.
        const maxBytes = Math.min(paramCount(job.spec.model) * 4, policy.maxModelBytes) + HANDOUT_HEADER_BYTES
        // The peers this node will serve the model to get its blocks while it is fetched (they may fetch meanwhile).
        const serveTo = req.serveTo.filter((p) => p !== mesh.peerId)
        const got = await handout.fetch(cid, providers, { maxBytes, signal, serveTo })
        if (!got.ok) return got
        try {
          return { ...got, params: modelOfHandout(got.bytes, hash, policy.maxModelBytes) }
        } catch (err) {
          handout.release(cid)
          return { ok: false as const, reason: (err as Error).message, blocks: got.blocks }
        }
      })().finally(() => fetching.delete(cid))
      fetching.set(cid, pending)
    }
    const got = await pending.catch((err: Error) => ({ ok: false as const, reason: `fetching model ${cid} failed: ${err.message}`, blocks: {} }))
    if (!got.ok) {
      log.warn({ job: job.id, round: req.round, cid, reason: got.reason, blocks: got.blocks }, 'could not fetch the round model by CID')
      return { ok: false, reason: got.reason }
    }
    const fetchMs = performance.now() - t0
    if (got.params !== undefined) remember(hash, got.params)
    if (!job.handouts.includes(cid)) {
      job.handouts.push(cid)
      releaseHandouts(job, KEPT_HANDOUTS)
    }
    const others = req.serveTo.filter((p) => p !== mesh.peerId)
    if (others.length > 0) await handout.serve(cid, others).catch((err: Error) => log.warn({ job: job.id, cid, err: err.message }, 'could not serve the round model on'))
    const ms = { fetch: Math.round(fetchMs * 10) / 10, total: Math.round((performance.now() - t0) * 10) / 10 }
    log.info({ job: job.id, round: req.round, cid, blocks: got.blocks, ms }, 'fetched the round model by CID')
    return { ok: true, blocks: got.blocks }
  }

  await mesh.rpc.handle(FL_TRAIN, async (req, ctx) => {
    if (req.modelCid === '') return takeTask(req, ctx.peer)
    // Who is calling first: only the job's coordinator makes this node fetch (and then serve) anything.
    const job = ownJob(req.jobId, ctx.peer)
    const fetched = await fetchModel(job, req)
    if (!fetched.ok) return { accepted: false, reason: fetched.reason }
    return { ...takeTask(req, ctx.peer), modelBlocks: { ...fetched.blocks } }
  })

  // Secure aggregation: the coordinator's key, share and unmasking messages for this node's sessions.
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
      const reply = secure.handle(message)
      return { message: reply === undefined ? new Uint8Array() : encodeSecAggMessage(reply) }
    } catch (err) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, (err as Error).message)
    }
  })

  await mesh.rpc.handle(FL_EVALUATE, async (req, ctx) => {
    const job = ownJob(req.jobId, ctx.peer)
    const hash = toHex(req.modelHash)
    let blocks: Readonly<Record<string, number>> = {}
    // By CID: fetched (unless held by hash) and verified as a task's model is, then served on to the peers named.
    if (req.modelCid !== '') {
      const fetched = await fetchModel(job, req)
      if (!fetched.ok) throw new RpcError(WireErrorCode.NOT_FOUND, fetched.reason)
      blocks = fetched.blocks
    }
    const params = models.get(hash)
    if (params === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `model ${hash.slice(0, 12)} was not received`)
    const t0 = performance.now()
    const e =
      job.dataset === undefined
        ? await (c.site as ParticipantSite).evaluate(job.id, { jobId: job.id, round: req.round, modelHash: hash, params }, job.abort.signal).catch((err: Error) => {
            throw new RpcError(WireErrorCode.NOT_FOUND, err.message)
          })
        : await c.engines.pool(job.engine).evaluate({ spec: job.spec.model, params, dataset: job.dataset.toShared() })
    return { loss: e.loss, accuracy: e.accuracy, examples: BigInt(e.examples), seconds: (performance.now() - t0) / 1000, modelBlocks: { ...blocks } }
  })

  await mesh.rpc.handle(FL_CANCEL, (req, ctx) => {
    const job = jobs.get(req.jobId)
    if (job !== undefined && job.coordinator === ctx.peer) {
      job.abort.abort(new Error(req.reason))
      releaseHandouts(job)
      jobs.delete(req.jobId)
      secure.forgetJob(req.jobId)
      // A site aggregator releases its members too (it does not hold the coordinator's answer for it).
      if (job.dataset === undefined) void c.site?.leave(req.jobId, req.reason).catch(() => {})
      log.info({ job: req.jobId, reason: req.reason }, 'left a federated job')
      c.onEvent?.({ type: 'left', jobId: req.jobId, reason: req.reason })
    }
    return {}
  })

  return {
    jobs: () =>
      [...jobs.values()].map((j) => ({ id: j.id, coordinator: j.coordinator, name: j.spec.name, dataset: j.spec.dataset, activeRounds: [...j.tasks.keys()], secretSampling: j.spec.privacy.dp !== undefined })),
    sentUpdate: (jobId, round) => sent.get(`${jobId}\n${round}`),
    async stop() {
      for (const j of jobs.values()) {
        j.abort.abort(new Error('node stopping'))
        releaseHandouts(j)
      }
      await Promise.allSettled([...jobs.values()].flatMap((j) => [...j.tasks.values()]))
      for (const m of [FL_INVITE, FL_TRAIN, FL_EVALUATE, FL_CANCEL, FL_SECAGG]) await mesh.rpc.unhandle(m).catch(() => {})
      await mesh.tensors.unhandle(FL_MODEL).catch(() => {})
    },
  }
}
