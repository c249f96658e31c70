// The wire surface of replication: the RPC a holder uses to ask a peer to pull and pin a root as a replica, and the
// bounds every server and client applies to it.
import { ReplicateRequestSchema, ReplicateResponseSchema } from './gen/weft/store/v1/replication_pb.js'
import { rpcMethod } from './rpc-method.js'

/** A holder → a candidate: "pull and pin root R (a DAG of S bytes) as a replica, and keep its target". */
export const STORE_REPLICATE = rpcMethod('store', 'replicate', ReplicateRequestSchema, ReplicateResponseSchema)
/** Most providers one `store/replicate` request may name. */
export const MAX_REPLICATE_PROVIDERS = 16
/** Largest replication factor a target may ask for. */
export const MAX_REPLICATION_FACTOR = 16
/** Most label constraints (`key=value`) of one target. */
export const MAX_REPLICATION_LABELS = 8
/** Longest label constraint or distinct key read from the wire. */
export const MAX_REPLICATION_LABEL_CHARS = 320
