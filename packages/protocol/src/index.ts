// Public API of @weft/protocol (hand-written list of exports). Browser-safe: no Node-only imports.
export { FrameTooLargeError, InvalidTensorSetError, MalformedFrameError, TensorSetTooLargeError } from './errors.js'
export { abortAfter } from './signals.js'
export { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from './float16.js'
export {
  concat,
  createFrameDecoder,
  decodeFrames,
  encodeFrame,
  encodeFramePrefix,
  type FrameDecoder,
  type FrameDecoderInit,
  MAX_FRAME_BYTES,
  varintLength,
  writeVarint,
} from './framing.js'
// Generated schemas (weft.*.v1).
export { type WireError, WireErrorCode, WireErrorCodeSchema, WireErrorSchema } from './gen/weft/common/v1/errors_pb.js'
// Resource ads (weft.node.v1, schema owned by the node package authors): re-exported whole as generated.
export * from './gen/weft/node/v1/ad_pb.js'
export {
  type RpcCancel,
  RpcCancelSchema,
  type RpcClientFrame,
  RpcClientFrameSchema,
  type RpcRequest,
  RpcRequestSchema,
  type RpcResponse,
  RpcResponseSchema,
} from './gen/weft/rpc/v1/rpc_pb.js'
export {
  DeclineReason,
  DType,
  type TensorChunk,
  TensorChunkSchema,
  type TensorDescriptor,
  TensorDescriptorSchema,
  type TensorSetHeader,
  TensorSetHeaderSchema,
  type TransferAccept,
  TransferAcceptSchema,
  type TransferAck,
  TransferAckSchema,
  type TransferDecline,
  TransferDeclineSchema,
  type TransferOk,
  TransferOkSchema,
  type TransferReply,
  TransferReplySchema,
} from './gen/weft/tensor/v1/transfer_pb.js'
export {
  assertProtocolName,
  RPC_PROTOCOL_VERSION,
  RPC_SESSION_PROTOCOL_VERSION,
  rpcProtocolId,
  TENSOR_PROTOCOL_VERSION,
  tensorProtocolId,
  topicName,
} from './protocol-ids.js'
export {
  canonicalTensorSetHeader,
  createSha256,
  createTensor,
  type DecodeTensorSetOptions,
  DTYPE_BYTES,
  decodeTensorSet,
  dtypeFromWire,
  dtypeToWire,
  encodeTensorSet,
  fromWireDescriptors,
  type HashOptions,
  MAX_NAME_BYTES,
  MAX_RANK,
  MAX_TENSORS,
  type Sha256,
  shapeSize,
  type Tensor,
  type TensorDType,
  type TensorInfo,
  type TensorSet,
  type TensorValues,
  tensorInfos,
  tensorSetByteLength,
  tensorSetHash,
  tensorValues,
  toHex,
  toWireDescriptors,
  validateTensorInfo,
  validateTensorInfos,
} from './tensor-set.js'
export { isWireErrorCode, wireErrorCodeName } from './wire-errors.js'
// Federated learning (weft.fl.v1): re-exported whole as generated.
export * from './gen/weft/fl/v1/fl_pb.js'
// Secure aggregation (weft.secagg.v1, messages of @weft/secagg): re-exported whole as generated.
export * from './gen/weft/secagg/v1/secagg_pb.js'
export { type RpcMethod, rpcMethod } from './rpc-method.js'
// The federated-learning wire surface (methods, tensor purposes, limits).
export {
  FL_CANCEL,
  FL_EVALUATE,
  FL_INVITE,
  FL_MODEL,
  FL_SECAGG,
  FL_STATUS,
  FL_SUBMIT,
  FL_TASK_FAILED,
  FL_TRAIN,
  FL_UPDATE,
  MAX_FAILURE_REASON,
  MAX_HANDOUT_PEERS,
  MAX_HANDOUT_PROVIDERS,
  MAX_SPEC_JSON,
} from './fl.js'
// Mesh membership (weft.mesh.v1): certificates and revocations, re-exported whole as generated.
export * from './gen/weft/mesh/v1/membership_pb.js'
export {
  MAX_REVOCATIONS_PER_ANSWER,
  MAX_SIGNED_CERTIFICATE_BYTES,
  MAX_SIGNED_REVOCATION_BYTES,
  MEMBERSHIP_CERTIFICATE,
  MEMBERSHIP_REVOCATIONS,
  REVOCATIONS_TOPIC,
} from './membership.js'
// The block exchange (weft.store.v1).
export * from './gen/weft/store/v1/store_pb.js'
export {
  type BlocksAnswerInit,
  encodeBlocksAnswer,
  MAX_BLOCKS_PER_REQUEST,
  MAX_BLOCKS_RESPONSE_BYTES,
  MAX_CID_STRING,
  MAX_HAVE_HELD,
  MAX_STORE_HINT_BYTES,
  STORE_BLOCKS,
  STORE_HAVE,
  STORE_HINTS_TOPIC,
  STORE_RPC_MAX_MESSAGE_BYTES,
} from './store.js'
// Replication of pinned roots (weft.store.v1, replication.proto).
export * from './gen/weft/store/v1/replication_pb.js'
export { MAX_REPLICATE_PROVIDERS, MAX_REPLICATION_FACTOR, MAX_REPLICATION_LABEL_CHARS, MAX_REPLICATION_LABELS, STORE_REPLICATE } from './replication.js'
// Decentralized inference (weft.lm.v1): re-exported whole as generated.
export {
  type CloseRequest as LmCloseRequest,
  CloseRequestSchema as LmCloseRequestSchema,
  type CloseResponse as LmCloseResponse,
  CloseResponseSchema as LmCloseResponseSchema,
  type ForwardRequest,
  ForwardRequestSchema,
  type ForwardResponse,
  ForwardResponseSchema,
  type InfoRequest as LmInfoRequest,
  InfoRequestSchema as LmInfoRequestSchema,
  type InfoResponse as LmInfoResponse,
  InfoResponseSchema as LmInfoResponseSchema,
  type ServedSpan,
  ServedSpanSchema,
} from './gen/weft/lm/v1/lm_pb.js'
export * from './gen/weft/swarm/v1/swarm_pb.js'
// Orchestration and the contribution ledger (weft.jobs.v1): re-exported whole as generated.
export * from './gen/weft/jobs/v1/jobs_pb.js'
export {
  JOBS_RECEIPT,
  JOBS_RELEASE,
  JOBS_RESERVE,
  JOBS_SIGN,
  JOBS_START,
  JOBS_STATUS,
  JOBS_TASK,
  JOBS_TOPIC,
  LEDGER_GET,
  LEDGER_TOPIC,
  MAX_JOB_ANNOUNCEMENT_BYTES,
  MAX_JOB_ID,
  MAX_JOB_SPEC_BYTES,
  MAX_LEDGER_ENTRIES_PER_CALL,
  MAX_LEDGER_HEAD_BYTES,
  MAX_RECEIPT_BYTES,
  MAX_RESERVATION_LEASE_MS,
  MAX_TASK_RESULT_BYTES,
} from './jobs.js'
export { MAX_SWARM_GROUP_KEY, MAX_SWARM_ID, MAX_SWARM_PART_BYTES, MAX_SWARM_REPORT_BYTES, SWARM_PART, swarmTopic } from './swarm.js'
export { LM_CLOSE, LM_FORWARD, LM_INFO, MAX_LM_MODEL_ID, MAX_LM_SESSION_ID, MAX_LM_STEP_BYTES } from './lm.js'
