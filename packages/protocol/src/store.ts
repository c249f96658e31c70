// The wire surface of the block exchange: the RPC methods a node fetches blocks with and the bounds every server
// and client applies.
import { BlocksRequestSchema, BlocksResponseSchema, HaveRequestSchema, HaveResponseSchema } from './gen/weft/store/v1/store_pb.js'
import { varintLength } from './framing.js'
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

/** What a `store/blocks` answer holds (the fields of BlocksResponse). */
export interface BlocksAnswerInit {
  readonly blocks: readonly { readonly cid: string; readonly data: Uint8Array }[]
  readonly missing: readonly string[]
  readonly retryAfterMs?: number
}

/**
 * Encodes a `store/blocks` answer as segments whose concatenation is its protobuf encoding (the bytes `toBinary`
 * gives): each block's data is a segment of its own, never copied, so a server sends the blocks it read as they are.
 * Small pieces (field tags, lengths, CIDs) are joined into one segment before each block's data.
 */
export function encodeBlocksAnswer(answer: BlocksAnswerInit): Uint8Array[] {
  const text = new TextEncoder()
  const out: Uint8Array[] = []
  let small: number[] = []
  const flush = (): void => {
    if (small.length > 0) out.push(Uint8Array.from(small))
    small = []
  }
  const varint = (n: number): void => {
    while (n >= 0x80) {
      small.push((n % 128) | 0x80)
      n = Math.floor(n / 128)
    }
    small.push(n)
  }
  const bytesOf = (bytes: Uint8Array): void => {
    for (const b of bytes) small.push(b)
  }
  for (const { cid, data } of answer.blocks) {
    const cidBytes = text.encode(cid)
    // Block: field 1 (cid, string), then field 2 (data, bytes); proto3 leaves empty fields out.
    const cidField = cidBytes.byteLength === 0 ? 0 : 1 + varintLength(cidBytes.byteLength) + cidBytes.byteLength
    const dataField = data.byteLength === 0 ? 0 : 1 + varintLength(data.byteLength) + data.byteLength
    small.push(0x0a) // BlocksResponse.blocks (1), length-delimited
    varint(cidField + dataField)
    if (cidField > 0) {
      small.push(0x0a)
      varint(cidBytes.byteLength)
      bytesOf(cidBytes)
    }
    if (dataField > 0) {
      small.push(0x12)
      varint(data.byteLength)
      flush()
      out.push(data)
    }
  }
  for (const m of answer.missing) {
    const b = text.encode(m)
    small.push(0x12) // BlocksResponse.missing (2)
    varint(b.byteLength)
    bytesOf(b)
  }
  const retry = answer.retryAfterMs ?? 0
  if (retry !== 0) {
    if (!Number.isInteger(retry) || retry < 0 || retry > 0xffffffff) throw new RangeError(`retryAfterMs must be a uint32, got ${retry}`)
    small.push(0x18) // BlocksResponse.retry_after_ms (3), varint
    varint(retry)
  }
  flush()
  return out
}
