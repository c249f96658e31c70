// Public API of @weft/mesh (hand-written list of exports).
export { createMeshDht, type DhtNamespace, dhtKey, type MeshDht } from './dht.js'
export { InvalidDhtKeyError, InvalidDhtRecordError, InvalidPskError, ProtocolViolationError, RpcError } from './errors.js'
export { libp2pMeshLogger, type MeshLogger } from './logger.js'
export {
  createMeshNode,
  type MeshConnectionInfo,
  type MeshNode,
  type MeshNodeComponents,
  type MeshNodeEvents,
  type MeshNodeInit,
  type MeshServices,
} from './mesh-node.js'
export { type MeshMetrics, noopMetrics, type RpcOutcome } from './metrics.js'
export type { PeerTarget } from './peer.js'
export { generatePsk, parsePsk } from './psk.js'
export type { PubSub, Topic, TopicHandler, TopicInit } from './pubsub.js'
export { type Rpc, type RpcCallContext, type RpcCallOptions, type RpcHandler, type RpcInit, type RpcMethod, rpcMethod } from './rpc.js'
export {
  type IncomingTensorSet,
  type ReceivedTensorSet,
  type TensorDeclineReason,
  type TensorHandlerInit,
  TensorRejectedError,
  type TensorSendOptions,
  type TensorSendResult,
  type Tensors,
  type TensorsInit,
  type TensorVerdict,
} from './tensors.js'
