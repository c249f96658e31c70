// The wire surface of decentralized inference: RPC methods of service "lm" and their limits.
import {
  CloseRequestSchema,
  CloseResponseSchema,
  ForwardRequestSchema,
  ForwardResponseSchema,
  InfoRequestSchema,
  InfoResponseSchema,
} from './gen/weft/lm/v1/lm_pb.js'
import { rpcMethod } from './rpc-method.js'

/** Client → server: run positions of a session through the server's span. */
export const LM_FORWARD = rpcMethod('lm', 'forward', ForwardRequestSchema, ForwardResponseSchema)
/** Client → server: free a session. */
export const LM_CLOSE = rpcMethod('lm', 'close', CloseRequestSchema, CloseResponseSchema)
/** Anyone → server: the spans it serves and its free capacity. */
export const LM_INFO = rpcMethod('lm', 'info', InfoRequestSchema, InfoResponseSchema)

/** Longest session id. */
export const MAX_LM_SESSION_ID = 128
/** Longest model id (a CID string). */
export const MAX_LM_MODEL_ID = 128
/** Largest input or output of one forward step; a longer prompt goes in several steps (exact with the KV cache). */
export const MAX_LM_STEP_BYTES = 768 * 1024
