// A swarm over the mesh: reports gossiped on the swarm's topic (signed by their publisher, so a report's peer is who
// published it), parts exchanged through RPC service "swarm". One RPC host per node serves every swarm it is in.
import { type Rpc, RpcError, type PubSub } from '@weft/mesh'
import {
  MAX_SWARM_GROUP_KEY,
  MAX_SWARM_ID,
  MAX_SWARM_PART_BYTES,
  MAX_SWARM_REPORT_BYTES,
  ReportSchema,
  SWARM_PART,
  swarmTopic,
  WireErrorCode,
} from '@weft/protocol'
import { MAX_PART_VALUES } from './allreduce.js'
import { PartRefusedError, type PartRequest, type PartResponse, type ProgressReport, type SwarmTransport } from './transport.js'

type PartHandler = (from: string, request: PartRequest, signal: AbortSignal) => Promise<PartResponse>

/** Serves the "swarm" RPC for every swarm a node is in, dispatching each part to its swarm. */
export interface SwarmRpcHost {
  attach(swarm: string, handler: PartHandler): () => void
  stop(): Promise<void>
}

/**
 * Registers the "swarm" RPC on a node.
 * @param authorize why a peer may not send parts (undefined: it may); checked on every call
 */
export async function createSwarmRpcHost(rpc: Rpc, authorize?: (peer: string) => string | undefined): Promise<SwarmRpcHost> {
  const swarms = new Map<string, PartHandler>()
  await rpc.handle(SWARM_PART, async (request, context) => {
    const refusal = authorize?.(context.peer)
    if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    if (request.swarm.length > MAX_SWARM_ID || request.group.length > MAX_SWARM_GROUP_KEY) throw new RpcError(WireErrorCode.BAD_REQUEST, 'swarm id or group key too long')
    if (request.length > MAX_PART_VALUES) throw new RpcError(WireErrorCode.TOO_LARGE, `a part holds at most ${MAX_PART_VALUES} values, got ${request.length}`)
    if (request.values.length > MAX_SWARM_PART_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `a part is at most ${MAX_SWARM_PART_BYTES} bytes`)
    if (request.step > BigInt(Number.MAX_SAFE_INTEGER) || request.offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new RpcError(WireErrorCode.BAD_REQUEST, 'step or offset out of range')
    const handler = swarms.get(request.swarm)
    if (handler === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `this peer is not in swarm ${request.swarm}`)
    try {
      const response = await handler(
        context.peer,
        {
          group: request.group,
          step: Number(request.step),
          part: request.part,
          offset: Number(request.offset),
          length: request.length,
          weight: request.weight,
          values: request.values,
        },
        context.signal,
      )
      return { values: response.values, contributors: response.contributors }
    } catch (err) {
      if (err instanceof PartRefusedError) throw new RpcError(WireErrorCode.BAD_REQUEST, err.message)
      throw err
    }
  })
  return {
    attach(swarm, handler) {
      if (swarms.has(swarm)) throw new RangeError(`swarm ${swarm} is served already`)
      swarms.set(swarm, handler)
      return () => {
        if (swarms.get(swarm) === handler) swarms.delete(swarm)
      }
    },
    async stop() {
      swarms.clear()
      await rpc.unhandle(SWARM_PART)
    },
  }
}

export interface MeshSwarmTransportInit {
  readonly swarm: string
  /** This node's PeerId string. */
  readonly self: string
  readonly rpc: Rpc
  readonly pubsub: PubSub
  readonly host: SwarmRpcHost
  /** Why a peer's reports are not taken (undefined: they are). */
  readonly authorize?: (peer: string) => string | undefined
}

const finiteOrNaN = (v: number): number => (Number.isFinite(v) ? v : Number.NaN)

/** A swarm's transport over a node's mesh. @throws RangeError for a swarm id longer than MAX_SWARM_ID */
export function createMeshSwarmTransport(init: MeshSwarmTransportInit): SwarmTransport {
  const { swarm, rpc } = init
  if (swarm.length === 0 || swarm.length > MAX_SWARM_ID) throw new RangeError(`a swarm id is 1..${MAX_SWARM_ID} characters`)
  const topic = init.pubsub.topic(swarmTopic(swarm), ReportSchema, {
    maxBytes: MAX_SWARM_REPORT_BYTES,
    validate: (report, from) => {
      if (report.swarm !== swarm) return { ok: false, reason: `a report of swarm ${report.swarm} on ${swarm}'s topic`, penalize: true }
      if (from === undefined) return { ok: false, reason: 'an unsigned report', penalize: true }
      const refusal = init.authorize?.(from)
      if (refusal !== undefined) return { ok: false, reason: refusal, penalize: false }
      if (report.stateCid.length > 128 || report.step > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'a report out of bounds', penalize: true }
      return { ok: true }
    },
  })
  return {
    self: init.self,
    async publish(report) {
      await topic.publish({
        swarm,
        step: BigInt(report.step),
        stepSamples: BigInt(report.stepSamples),
        totalSamples: BigInt(report.totalSamples),
        loss: report.loss,
        accuracy: report.accuracy,
        consensusDistance: report.consensusDistance,
        bandwidth: report.bandwidth,
        stateCid: report.stateCid,
        stateStep: BigInt(report.stateStep),
        leaving: report.leaving,
      })
    },
    subscribe(listener) {
      return topic.subscribe((message, from) => {
        const bandwidth = Number.isFinite(message.bandwidth) && message.bandwidth > 0 ? Math.min(message.bandwidth, 1e12) : 1
        const report: ProgressReport = {
          peer: from,
          step: Number(message.step),
          stepSamples: Number(message.stepSamples),
          totalSamples: Number(message.totalSamples),
          loss: finiteOrNaN(message.loss),
          accuracy: finiteOrNaN(message.accuracy),
          consensusDistance: finiteOrNaN(message.consensusDistance),
          bandwidth,
          stateCid: message.stateCid,
          stateStep: Number(message.stateStep),
          leaving: message.leaving,
        }
        listener(report)
      })
    },
    async exchange(owner, request, signal) {
      try {
        const response = await rpc.call(
          owner,
          SWARM_PART,
          { swarm, group: request.group, step: BigInt(request.step), part: request.part, offset: BigInt(request.offset), length: request.length, weight: request.weight, values: request.values },
          { signal, timeoutMs: 600_000 },
        )
        if (response.values.length > MAX_SWARM_PART_BYTES) throw new PartRefusedError(`${owner} answered a part of ${response.values.length} bytes`)
        return { values: response.values, contributors: response.contributors }
      } catch (err) {
        if (err instanceof RpcError && err.remote && err.code === WireErrorCode.BAD_REQUEST) throw new PartRefusedError(err.detail)
        throw err
      }
    },
    serve(handler) {
      return init.host.attach(swarm, handler)
    },
  }
}
