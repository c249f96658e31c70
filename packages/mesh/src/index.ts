// Public API of @weft/mesh (hand-written list of exports): the browser-safe messaging primitives over any libp2p node.
// The configured Node mesh node (TCP, mDNS, OpenSSL hashing) is `@weft/mesh/node`.
export { createMeshDht, type DhtNamespace, dhtKey, type MeshDht } from './dht.js'
export { InvalidDhtKeyError, InvalidDhtRecordError, InvalidPskError, ProtocolViolationError, RpcError } from './errors.js'
export {
  type AddRevocationResult,
  type AllowLists,
  allowListAuthorize,
  allowListedRoles,
  type Authorize,
  authorityPublicKey,
  type Certificate,
  type CertificateRejection,
  type CertificateVerdict,
  createMembership,
  formatAuthorityKey,
  generateAuthorityKey,
  grants,
  type IssueCertificateInit,
  issueCertificate,
  MAX_CERTIFICATE_SKEW_MS,
  MAX_REVOCATION_REASON,
  type Membership,
  type MembershipComponents,
  type MembershipInit,
  membershipAuthorize,
  parseAuthorityKey,
  type RevocationRejection,
  type RevocationTarget,
  type RevocationVerdict,
  ROLES,
  type Role,
  type SignRevocationInit,
  signRevocation,
  type VerifiedRevocation,
  verifyCertificate,
  verifyRevocation,
} from './membership.js'
export { libp2pMeshLogger, type MeshLogger } from './logger.js'
export { type MeshMetrics, noopMetrics, type RpcOutcome } from './metrics.js'
export type { PeerTarget } from './peer.js'
export { generatePsk, parsePsk } from './psk.js'
export {
  ADS_TOPIC,
  type AdRejection,
  adNeedsSigning,
  GET_AD,
  MAX_AD_LIFETIME_MS,
  MAX_CLOCK_SKEW_MS,
  MAX_SIGNED_AD_BYTES,
  signAd,
  type VerifiedAd,
  verifyAd,
} from './resource-ads.js'
export { createPubSub, type PubSub, type PubSubComponents, type Topic, type TopicHandler, type TopicInit, type TopicVerdict } from './pubsub.js'
export {
  createRpc,
  type Rpc,
  type RpcCallContext,
  type RpcCallOptions,
  type RpcComponents,
  type RpcHandleOptions,
  type RpcHandler,
  type RpcInit,
  type RpcMethod,
  rpcMethod,
} from './rpc.js'
export {
  createTensors,
  type IncomingTensorSet,
  type ReceivedTensorSet,
  type TensorDeclineReason,
  type TensorHandlerInit,
  TensorRejectedError,
  type TensorSendOptions,
  type TensorSendResult,
  type Tensors,
  type TensorsComponents,
  type TensorsInit,
  type TensorVerdict,
} from './tensors.js'
