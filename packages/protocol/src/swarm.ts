// The wire surface of serverless training: the swarm's gossip topic, its RPC method and their limits.
import { PartRequestSchema, PartResponseSchema } from './gen/weft/swarm/v1/swarm_pb.js'
import { rpcMethod } from './rpc-method.js'

/** Member → part owner: one member's values of one part; answered with the owner's reduction of it. */
export const SWARM_PART = rpcMethod('swarm', 'part', PartRequestSchema, PartResponseSchema)

/** The gossip topic of swarm `id` (its spec digest). */
export function swarmTopic(id: string): string {
  return `weft/swarm/${id}/1`
}

/** Longest swarm id, group key and state CID. */
export const MAX_SWARM_ID = 128
export const MAX_SWARM_GROUP_KEY = 512
/** Largest gossiped report. */
export const MAX_SWARM_REPORT_BYTES = 2048
/** Largest part (values) a member sends or an owner answers: 768 KiB of float32 plus the tensor-set header and scales. */
export const MAX_SWARM_PART_BYTES = 768 * 1024 + 16 * 1024
