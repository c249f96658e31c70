// The coordinator's CoordinatorTransport over the mesh: invitations, model hand-outs that carry their training task,
// secure-aggregation messages, federated evaluation and release, each a typed RPC or a tensor-set transfer. A job
// with `handout: 'cid'` gets its round's model through the block store instead: put once per round, served only to
// the job's clients, fetched by each client from the coordinator and the clients that fetched it before.
import { create, toBinary } from '@bufbuild/protobuf'
import { type CoordinatorTransport, type JobSpec, MODEL_TENSOR, vectorSet } from '@weft/fl'
import { RpcError } from '@weft/mesh'
import {
  FL_CANCEL,
  FL_EVALUATE,
  FL_INVITE,
  FL_MODEL,
  FL_SECAGG,
  FL_TRAIN,
  type HashOptions,
  MAX_HANDOUT_PEERS,
  MAX_HANDOUT_PROVIDERS,
  ModelMetaSchema,
  type TrainRequest,
  TrainRequestSchema,
  WireErrorCode,
} from '@weft/protocol'
import { decodeSecAggMessage, encodeSecAggMessage } from '@weft/secagg'
import { type FlEndpoint, fromHex } from './endpoint.js'
import { handoutBytes, handsOutByCid, type ModelHandout, peersMayServe } from './model-handout.js'

export interface MeshCoordinatorTransportComponents {
  readonly mesh: FlEndpoint
  /** Clients eligible for the spec and reachable now (the node reads its peer table), without this node. */
  readonly candidates: (spec: JobSpec) => readonly string[]
  /** The stored spec of a job (to invite a client again that restarted and forgot it). */
  readonly jobSpec: (jobId: string) => JobSpec | undefined
  /** The node's block store for jobs with `handout: 'cid'` (absent: every job's models are sent directly). */
  readonly handout?: ModelHandout
  /** The model's hash (the node passes OpenSSL's sha256; default noble's). */
  readonly hash?: HashOptions
  /** A client took its task from a model fetched by CID: the blocks each provider sent it (the client's count). */
  readonly onHandout?: (jobId: string, round: number, client: string, blocks: Readonly<Record<string, number>>) => void
}

export interface MeshCoordinatorTransportInit {
  /** Invitation deadline (ms). Default 60 000: a client may still be loading its data set. */
  readonly inviteTimeoutMs?: number
  /** A model transfer, header to acknowledgement (ms). Default 120 000. */
  readonly modelTimeoutMs?: number
  /** A federated evaluation (ms). Default 120 000. */
  readonly evaluateTimeoutMs?: number
  /**
   * Longest a hand-out by CID holds its fetch slot (ms), so a client slow to fetch or to take its task (a loaded
   * machine, an engine starting) holds no other back past it. Default 2 000 (the coordinator's dispatch slot too).
   */
  readonly handoutSlotMs?: number
}

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** A round's model in the block store: its CID (once put) and the clients that fetched it, in order. */
interface RoundModel {
  readonly hash: string
  readonly cid: Promise<string>
  /** Clients that fetched it (and serve it on), in the order they finished. */
  readonly fetched: string[]
  /** Fetches by clients in flight, fetches started so far, and hand-outs waiting for room. */
  inFlight: number
  started: number
  readonly waiting: (() => void)[]
}

/** Models of a job kept servable at once (an asynchronous job's queued tasks may still name the one before). */
const KEPT_MODELS = 2

/** The coordinator's transport over a mesh node. */
export function meshCoordinatorTransport(c: MeshCoordinatorTransportComponents, init: MeshCoordinatorTransportInit = {}): CoordinatorTransport {
  const { mesh } = c
  const inviteTimeoutMs = init.inviteTimeoutMs ?? 60_000
  const modelTimeoutMs = init.modelTimeoutMs ?? 120_000
  const evaluateTimeoutMs = init.evaluateTimeoutMs ?? 120_000
  const handoutSlotMs = init.handoutSlotMs ?? 2_000
  /** Per job: the clients that accepted its invitation (whom its models are served to), and its models by CID. */
  const members = new Map<string, Set<string>>()
  const models = new Map<string, RoundModel[]>()

  const forget = (m: RoundModel): void => {
    m.cid.then((cid) => c.handout?.release(cid)).catch(() => {})
  }
  /** The round's model in the block store, put once (and the oldest kept model released). */
  const roundModel = (handout: ModelHandout, jobId: string, round: number, hash: string, params: Float32Array): RoundModel => {
    const kept = models.get(jobId) ?? []
    const found = kept.find((m) => m.hash === hash)
    if (found !== undefined) return found
    const peers = [...(members.get(jobId) ?? [])]
    const put = (async () => handout.put(handoutBytes(params, hash, c.hash), peers, `fl:${jobId}:${round}`))()
    put.catch(() => {})
    const m: RoundModel = { hash, cid: put, fetched: [], inFlight: 0, started: 0, waiting: [] }
    kept.push(m)
    while (kept.length > KEPT_MODELS) forget(kept.shift() as RoundModel)
    models.set(jobId, kept)
    return m
  }
  /** A new member of a job is served the models already put. */
  const serveMembers = (jobId: string): void => {
    const peers = [...(members.get(jobId) ?? [])]
    for (const m of models.get(jobId) ?? []) m.cid.then((cid) => c.handout?.serve(cid, peers)).catch(() => {})
  }

  /** Sends a global model; with `task`, the client starts that training task as soon as the model has verified. */
  const sendModel = (peer: string, jobId: string, round: number, hash: string, params: Float32Array, signal: AbortSignal, task?: TrainRequest, onSent?: () => void) => {
    const metadata = toBinary(ModelMetaSchema, create(ModelMetaSchema, { jobId, round, ...(task === undefined ? {} : { task }) }))
    const options = { metadata, contentHash: fromHex(hash), signal, timeoutMs: modelTimeoutMs, ...(onSent === undefined ? {} : { onSent }) }
    return mesh.tensors.send(peer, FL_MODEL, vectorSet(MODEL_TENSOR, params), options)
  }

  /**
   * The round model in the block store for `clientId`: its CID, the providers to fetch it from (the clients that
   * fetched it this round, most recent first, then this coordinator) and the job's other clients to serve it on to.
   */
  const handoutFor = async (
    handout: ModelHandout,
    clientId: string,
    task: { readonly jobId: string; readonly round: number; readonly modelHash: string; readonly params: Float32Array },
    spec: JobSpec,
    m: RoundModel = roundModel(handout, task.jobId, task.round, task.modelHash, task.params),
  ): Promise<{ ok: true; m: RoundModel; cid: string; providers: string[]; serveTo: string[] } | { ok: false; reason: string }> => {
    // The core hands tasks to members only; one this transport did not invite (a coordinator restarted) joins the set.
    const set = members.get(task.jobId) ?? new Set<string>()
    const fresh = !set.has(clientId)
    members.set(task.jobId, set.add(clientId))
    let cid: string
    try {
      cid = await m.cid
      if (fresh) await handout.serve(cid, [...set])
    } catch (err) {
      return { ok: false, reason: `the round's model could not be put in the block store: ${reasonOf(err)}` }
    }
    const share = peersMayServe(spec)
    const peers = share ? m.fetched.filter((p) => p !== clientId).slice(-(MAX_HANDOUT_PROVIDERS - 1)).reverse() : []
    const serveTo = share ? [...set].filter((p) => p !== clientId).slice(0, MAX_HANDOUT_PEERS) : []
    // Fetches that run at once start on different clients: their list turns by one for each (a one-block model is
    // fetched whole from the first provider that has it); this coordinator stays last, the provider of last resort.
    const turn = peers.length === 0 ? 0 : m.started++ % peers.length
    return { ok: true, m, cid, providers: [...peers.slice(turn), ...peers.slice(0, turn), mesh.peerId], serveTo }
  }

  /**
   * Waits until `m` has room for one more fetch: as many at once as it has holders (this coordinator and the clients
   * that fetched it), so each holder serves about one client at a time and the holders double each step: 10 clients
   * take 4 steps, not 10 one after another. A slot frees when its hand-out ends, or after `handoutSlotMs` anyway.
   */
  const fetchSlot = async (m: RoundModel, signal: AbortSignal): Promise<() => void> => {
    while (m.inFlight >= 1 + m.fetched.length) {
      signal.throwIfAborted()
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake)
          resolve()
        }
        m.waiting.push(wake)
        signal.addEventListener('abort', wake, { once: true })
      })
    }
    m.inFlight++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      clearTimeout(timer)
      m.inFlight--
      for (const wake of m.waiting.splice(0)) wake()
    }
    const timer = setTimeout(release, handoutSlotMs)
    return release
  }

  /**
   * A task whose model the client fetches by CID: from the clients that fetched it this round (most recent first)
   * and this coordinator. The call returns once the client has fetched and verified the model and taken the task.
   */
  const trainByCid = async (
    handout: ModelHandout,
    clientId: string,
    task: Parameters<CoordinatorTransport['train']>[1],
    request: TrainRequest,
    spec: JobSpec,
    reinvite: () => Promise<string | undefined>,
    signal: AbortSignal,
    progress: Parameters<CoordinatorTransport['train']>[3],
  ): ReturnType<CoordinatorTransport['train']> => {
    // Clients that serve each other pace themselves (fetchSlot), so the core's dispatch slot frees at once; under
    // differential privacy the coordinator is the only provider and the slot frees when the client has the model.
    const share = peersMayServe(spec)
    if (share) progress?.modelSent()
    let release: (() => void) | undefined
    try {
      const m = roundModel(handout, task.jobId, task.round, task.modelHash, task.params)
      if (share) release = await fetchSlot(m, signal)
      const h = await handoutFor(handout, clientId, task, spec, m)
      if (!h.ok) return h
      const byCid = create(TrainRequestSchema, { ...request, modelCid: h.cid, modelProviders: h.providers, serveTo: h.serveTo })
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await mesh.rpc.call(clientId, FL_TRAIN, byCid, { signal, timeoutMs: modelTimeoutMs })
          if (!r.accepted) return { ok: false, reason: r.reason }
          const fetched = Object.values(r.modelBlocks).reduce((a, b) => a + b, 0)
          // Only a client that fetched the root holds it in its store to serve on (one that had the model by its hash
          // may not).
          if (fetched > 0 && !m.fetched.includes(clientId)) m.fetched.push(clientId)
          c.onHandout?.(task.jobId, task.round, clientId, r.modelBlocks)
          return { ok: true, bytesDown: fetched > 0 ? task.params.byteLength : 0 }
        } catch (err) {
          if (attempt > 0 || !(err instanceof RpcError) || err.code !== WireErrorCode.NOT_FOUND) return { ok: false, reason: reasonOf(err) }
          const why = await reinvite()
          if (why !== undefined) return { ok: false, reason: why }
        }
      }
    } catch (err) {
      return { ok: false, reason: reasonOf(err) }
    } finally {
      release?.()
      progress?.modelSent()
    }
  }

  const transport: CoordinatorTransport = {
    candidates: (spec) => c.candidates(spec),
    async invite(clientId, jobId, spec, signal) {
      try {
        const r = await mesh.rpc.call(clientId, FL_INVITE, { jobId, specJson: JSON.stringify(spec) }, { signal, timeoutMs: inviteTimeoutMs })
        if (r.accepted && handsOutByCid(spec)) {
          const set = members.get(jobId) ?? new Set<string>()
          const fresh = !set.has(clientId)
          members.set(jobId, set.add(clientId))
          if (fresh) serveMembers(jobId)
        }
        return r.accepted ? { ok: true, examples: Number(r.examples) } : { ok: false, reason: r.reason }
      } catch (err) {
        return { ok: false, reason: reasonOf(err) }
      }
    },
    async train(clientId, task, signal, progress) {
      // A client that restarted has forgotten the job: it declines the model or the task; invite it again once.
      const reinvite = async (): Promise<string | undefined> => {
        const spec = c.jobSpec(task.jobId)
        if (spec === undefined) return 'job unknown'
        const again = await transport.invite(clientId, task.jobId, spec, signal)
        return again.ok ? undefined : `re-invitation refused: ${again.reason}`
      }
      const request = create(TrainRequestSchema, {
        jobId: task.jobId,
        round: task.round,
        modelHash: fromHex(task.modelHash),
        seed: task.seed,
        proximalMu: task.hints.proximalMu ?? 0,
        dpClipNorm: task.hints.dp?.clipNorm ?? 0,
        dpNoiseStd: task.hints.dp?.noiseStd ?? 0,
        ...(task.hints.secure === undefined ? {} : { secure: task.hints.secure }),
      })
      const spec = c.jobSpec(task.jobId)
      if (c.handout !== undefined && handsOutByCid(spec)) return trainByCid(c.handout, clientId, task, request, spec as JobSpec, reinvite, signal, progress)
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
          if (attempt > 0 || !(err instanceof RpcError) || err.code !== WireErrorCode.NOT_FOUND) return { ok: false, reason: reasonOf(err) }
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
        return { ok: false, reason: reasonOf(err) }
      }
    },
    async evaluate(clientId, task, signal) {
      const spec = c.jobSpec(task.jobId)
      if (c.handout !== undefined && handsOutByCid(spec)) {
        // The model by CID too: a client evaluating the model it will train on next fetches it once, from peers as well.
        const h = await handoutFor(c.handout, clientId, task, spec as JobSpec)
        if (!h.ok) return h
        try {
          const r = await mesh.rpc.call(
            clientId,
            FL_EVALUATE,
            { jobId: task.jobId, round: task.round, modelHash: fromHex(task.modelHash), modelCid: h.cid, modelProviders: h.providers, serveTo: h.serveTo },
            { signal, timeoutMs: evaluateTimeoutMs + modelTimeoutMs },
          )
          if (Object.values(r.modelBlocks).some((n) => n > 0) && !h.m.fetched.includes(clientId)) h.m.fetched.push(clientId)
          if (Object.keys(r.modelBlocks).length > 0) c.onHandout?.(task.jobId, task.round, clientId, r.modelBlocks)
          return { ok: true, loss: r.loss, accuracy: r.accuracy, examples: Number(r.examples) }
        } catch (err) {
          return { ok: false, reason: reasonOf(err) }
        }
      }
      const sent = await sendModel(clientId, task.jobId, task.round, task.modelHash, task.params, signal)
      if (!sent.ok && sent.reason !== 'declined-already-have') return { ok: false, reason: `model transfer failed: ${sent.message}` }
      try {
        const r = await mesh.rpc.call(
          clientId,
          FL_EVALUATE,
          { jobId: task.jobId, round: task.round, modelHash: fromHex(task.modelHash) },
          { signal, timeoutMs: evaluateTimeoutMs },
        )
        return { ok: true, loss: r.loss, accuracy: r.accuracy, examples: Number(r.examples) }
      } catch (err) {
        return { ok: false, reason: reasonOf(err) }
      }
    },
    async release(clientId, jobId, reason) {
      // The job ended: its models leave the block store's served set and its pins (the job store keeps its own copy).
      for (const m of models.get(jobId) ?? []) forget(m)
      models.delete(jobId)
      members.delete(jobId)
      await mesh.rpc.call(clientId, FL_CANCEL, { jobId, reason }, { timeoutMs: 5_000 }).catch(() => {})
    },
  }
  return transport
}
