// The coordinator's receiving end of `fl-update`: every update is judged on its header before any data moves (the
// coordinator's admission), then decoded, judged again (the round may have moved on) and stored on arrival. Updates
// of a job this node aggregates for its site (a member's, whose coordinator this node is for that job) go to the site,
// masked inputs of the site's secure session among them.
import { fromBinary } from '@bufbuild/protobuf'
import { announcedUpdateLength, type Coordinator, decodeClientUpdate, type JobSpec, maskedInputProblem, type UpdateHeader, updateShapeProblem } from '@weft/fl'
import { type Authorize, type IncomingTensorSet, TensorRejectedError } from '@weft/mesh'
import { FL_UPDATE, type Tensor, tensorValues, UpdateMetaSchema, WireErrorCode } from '@weft/protocol'
import { type FlEndpoint, toHex } from './endpoint.js'
import type { SiteUpdateSink } from './site-aggregator.js'

export interface UpdateReceiverComponents {
  readonly mesh: FlEndpoint
  readonly coordinator: Pick<Coordinator, 'admit' | 'deliver' | 'deliverMasked'>
  /** The spec of a job coordinated here (parsed once, when the job was stored). */
  readonly jobSpec: (jobId: string) => JobSpec | undefined
  /** The node's role check: updates come only from peers holding the `client` role. Default: anyone may send. */
  readonly authorize?: Authorize
  /** Counts an update refused before it reached the coordinator (malformed, misshapen). */
  readonly onRefused?: () => void
  /** The site this node aggregates, when it does: its members' updates (for the jobs it aggregates) go to it. */
  readonly site?: SiteUpdateSink
}

export interface UpdateReceiverInit {
  /** Largest update accepted (bytes); larger ones are declined from the header. */
  readonly maxBytes: number
}

/** An update's header with its job's spec, decoded once per transfer. */
interface Judged {
  readonly header: UpdateHeader
  readonly spec: JobSpec
  /** A site member's update, for the site aggregator. */
  readonly site: boolean
}

/** Decodes an update's metadata into a header (its `length` is filled in once the tensors are known). */
export function updateHeaderOf(metadata: Uint8Array): UpdateHeader {
  const m = fromBinary(UpdateMetaSchema, metadata)
  return {
    ...(m.withinClip === undefined ? {} : { withinClip: m.withinClip }),
    ...(m.secureSession === undefined ? {} : { secureSession: m.secureSession }),
    jobId: m.jobId,
    round: m.round,
    baseHash: toHex(m.baseHash),
    examples: Number(m.examples),
    trainLoss: m.trainLoss,
    trainAccuracy: m.trainAccuracy,
    trainSeconds: m.trainSeconds,
    length: 0,
  }
}

/**
 * Serves `fl-update` on the mesh node for the coordinator.
 * @returns stop: unregisters the handler
 */
export async function serveUpdates(c: UpdateReceiverComponents, init: UpdateReceiverInit): Promise<{ stop(): Promise<void> }> {
  const { mesh, coordinator } = c
  // The header judged at `accept`, found again at `onReceive` by its metadata bytes (the same object).
  const judged = new WeakMap<Uint8Array, Judged>()
  const refuse = (message: string) => {
    c.onRefused?.()
    return { decline: 'not-wanted' as const, message }
  }
  const judge = (incoming: Pick<IncomingTensorSet, 'metadata' | 'tensors'>): Judged | string => {
    let header: UpdateHeader
    try {
      header = updateHeaderOf(incoming.metadata)
    } catch (err) {
      return `malformed update metadata: ${(err as Error).message}`
    }
    const siteSpec = c.site?.jobSpec(header.jobId)
    const site = siteSpec !== undefined
    const spec = siteSpec ?? c.jobSpec(header.jobId)
    if (spec === undefined) return `no job ${header.jobId} here`
    if (header.secureSession !== undefined) {
      const notMasked = maskedInputProblem(incoming.tensors)
      if (notMasked !== undefined) return notMasked
      return { header: { ...header, length: incoming.tensors[0]?.shape[0] as number }, spec, site }
    }
    const wrongShape = updateShapeProblem(spec, incoming.tensors)
    if (wrongShape !== undefined) return wrongShape
    return { header: { ...header, length: announcedUpdateLength(spec, incoming.tensors) }, spec, site }
  }

  await mesh.tensors.handle(FL_UPDATE, {
    maxBytes: init.maxBytes,
    accept(incoming, from) {
      const unauthorized = c.authorize?.(from, 'client')
      if (unauthorized !== undefined) return refuse(unauthorized)
      const j = judge(incoming)
      if (typeof j === 'string') return refuse(j)
      const verdict = j.site ? (c.site as SiteUpdateSink).admit(from, j.header) : coordinator.admit(from, j.header)
      if (!verdict.ok) return { decline: 'not-wanted', message: verdict.reason }
      judged.set(incoming.metadata, j)
      return true
    },
    async onReceive(received, from) {
      let j = judged.get(received.metadata)
      if (j === undefined) {
        const again = judge(received)
        if (typeof again === 'string') throw new TensorRejectedError(WireErrorCode.NOT_FOUND, again)
        j = again
      }
      if (j.site) {
        // The site's round decodes, checks and folds it (siteAggregate's admission is the coordinator's own).
        const verdict = await (c.site as SiteUpdateSink).deliver(from, j.header, received.set)
        if (!verdict.ok) throw new TensorRejectedError(WireErrorCode.CONFLICT, verdict.reason)
        return
      }
      const transfer = { bytes: received.totalBytes, seconds: received.seconds }
      if (j.header.secureSession !== undefined) {
        const masked = tensorValues(received.set[0] as Tensor<'uint32'>)
        const verdict = coordinator.deliverMasked(from, { ...j.header, length: masked.length }, masked, transfer)
        if (!verdict.ok) throw new TensorRejectedError(WireErrorCode.CONFLICT, verdict.reason)
        return
      }
      let delta: Float32Array
      try {
        delta = decodeClientUpdate(j.spec, received.set)
      } catch (err) {
        c.onRefused?.()
        throw new TensorRejectedError(WireErrorCode.BAD_REQUEST, `malformed update: ${(err as Error).message}`)
      }
      const verdict = coordinator.deliver(from, { ...j.header, length: delta.length }, delta, transfer)
      if (!verdict.ok) throw new TensorRejectedError(WireErrorCode.CONFLICT, verdict.reason)
    },
  })
  return { stop: () => mesh.tensors.unhandle(FL_UPDATE).catch(() => {}) }
}
