// The wire surface of the block exchange: the RPC methods a node fetches blocks with and the bounds every server
// and client applies.
import { BlocksRequestSchema, BlocksResponseSchema, HaveRequestSchema, HaveResponseSchema } from './gen/weft/store/v1/store_pb.js'
import { topicName } from './protocol-ids.js'
import { rpcMethod } from './rpc-method.js'

/** Any node → a provider: blocks by CID (only blocks of DAGs the provider announced are served). */
export const STORE_BLOCKS = rpcMethod('store', 'blocks', BlocksRequestSchema, BlocksResponseSchema)
/** Any node → a peer: does it hold an announced DAG whole (a cheap provider check among connected peers). */
export const STORE_HAVE = rpcMethod('store', 'have', HaveRequestSchema, HaveResponseSchema)
/** Most CIDs one `store/blocks` request may name. */
export const MAX_BLOCKS_PER_REQUEST = 64
/** Most block bytes one `store/blocks` answer carries (the rest are listed missing); under the RPC's 4 MiB frame. */
export const MAX_BLOCKS_RESPONSE_BYTES = 3.5 * 1024 * 1024
/** Longest CID string read from the wire. */
export const MAX_CID_STRING = 128
/** The RPC message limit the block exchange needs (a 1 MiB leaf plus framing does not fit the 1 MiB default). */
export const STORE_RPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024 - 1024
/** Gossip hints for fresh artifacts (`StoreHint`): who holds or is fetching a root, checked with `store/have` before use. */
export const STORE_HINTS_TOPIC = topicName('store')
/** Largest `StoreHint` a node decodes or relays (a CID string, a size and a flag fit in far less). */
export const MAX_STORE_HINT_BYTES = 256
/** Most CIDs a partial holder lists in a `store/have` answer (`held`). */
export const MAX_HAVE_HELD = 1024
