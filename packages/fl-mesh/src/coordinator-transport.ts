// The coordinator's CoordinatorTransport over the mesh: invitations, model hand-outs that carry their training task,
// secure-aggregation messages, federated evaluation and release, each a typed RPC or a tensor-set transfer.
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
  ModelMetaSchema,
  type TrainRequest,
  TrainRequestSchema,
  WireErrorCode,
} from '@weft/protocol'
import { decodeSecAggMessage, encodeSecAggMessage } from '@weft/secagg'
import { type FlEndpoint, fromHex } from './endpoint.js'

export interface MeshCoordinatorTransportComponents {
  readonly mesh: FlEndpoint
  /** Clients eligible for the spec and reachable now (the node reads its peer table), without this node. */
  readonly candidates: (spec: JobSpec) => readonly string[]
  /** The stored spec of a job (to invite a client again that restarted and forgot it). */
  readonly jobSpec: (jobId: string) => JobSpec | undefined
}

export interface MeshCoordinatorTransportInit {
  /** Invitation deadline (ms). Default 60 000: a client may still be loading its data set. */
  readonly inviteTimeoutMs?: number
  /** A model transfer, header to acknowledgement (ms). Default 120 000. */
  readonly modelTimeoutMs?: number
  /** A federated evaluation (ms). Default 120 000. */
  readonly evaluateTimeoutMs?: number
}

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** The coordinator's transport over a mesh node. */
export function meshCoordinatorTransport(c: MeshCoordinatorTransportComponents, init: MeshCoordinatorTransportInit = {}): CoordinatorTransport {
  const { mesh } = c
  const inviteTimeoutMs = init.inviteTimeoutMs ?? 60_000
  const modelTimeoutMs = init.modelTimeoutMs ?? 120_000
  const evaluateTimeoutMs = init.evaluateTimeoutMs ?? 120_000

  /** Sends a global model; with `task`, the client starts that training task as soon as the model has verified. */
  const sendModel = (peer: string, jobId: string, round: number, hash: string, params: Float32Array, signal: AbortSignal, task?: TrainRequest, onSent?: () => void) => {
    const metadata = toBinary(ModelMetaSchema, create(ModelMetaSchema, { jobId, round, ...(task === undefined ? {} : { task }) }))
    const options = { metadata, contentHash: fromHex(hash), signal, timeoutMs: modelTimeoutMs, ...(onSent === undefined ? {} : { onSent }) }
    return mesh.tensors.send(peer, FL_MODEL, vectorSet(MODEL_TENSOR, params), options)
  }

  const transport: CoordinatorTransport = {
    candidates: (spec) => c.candidates(spec),
    async invite(clientId, jobId, spec, signal) {
      try {
        const r = await mesh.rpc.call(clientId, FL_INVITE, { jobId, specJson: JSON.stringify(spec) }, { signal, timeoutMs: inviteTimeoutMs })
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
      await mesh.rpc.call(clientId, FL_CANCEL, { jobId, reason }, { timeoutMs: 5_000 }).catch(() => {})
    },
  }
  return transport
}
