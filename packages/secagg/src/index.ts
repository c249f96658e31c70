// Public API of @weft/secagg (hand-written list of exports): SecAgg+ secure aggregation, transport-independent and
// browser-safe (no Node-only imports; randomness from crypto.getRandomValues).
export { SecAggClient, type SecAggClientInit, type BundleRejection, type ShareReceipt } from './client.js'
export {
  attachMaskedVector,
  type DecodedSecAggMessage,
  decodeSecAggMessage,
  encodeMaskedInputHeader,
  encodeSecAggMessage,
  type MaskedInputHeader,
  SECAGG_WIRE_LIMITS,
} from './codec.js'
export type { SecAggComponents } from './components.js'
export { type KeyAgreement, nobleX25519, SECAGG_PROTOCOL_VERSION } from './crypto.js'
export {
  type AbortReason,
  InfeasibleParamsError,
  MalformedMessageError,
  MessageRejectedError,
  type RejectionReason,
  RoundAbortedError,
} from './errors.js'
export { drawSecAggGraph } from './graph.js'
export {
  advertisedKeysMessage,
  createEd25519Directory,
  type Ed25519Directory,
  type Ed25519IdentityInit,
  ed25519Identity,
  ed25519PublicKey,
  type SecAggIdentity,
  SIGNATURE_BYTES,
  unauthenticatedIdentityUnsafe,
} from './identity.js'
export type {
  AdvertiseKeysMessage,
  MaskedInputMessage,
  Neighbour,
  NeighbourKeysMessage,
  PeerKeys,
  RoundParams,
  RoutedSharesMessage,
  SecAggMessage,
  SecretKind,
  SecretShare,
  SetupMessage,
  ShareBundle,
  ShareKeysMessage,
  UnmaskRequestMessage,
  UnmaskResponseMessage,
} from './messages.js'
export { planSecAgg, type SecAggPlan, type SecAggPlanInit } from './plan.js'
export {
  checkQuantization,
  dequantizeSum,
  MODULUS_BITS,
  maxQuantizationBits,
  type QuantizationParams,
  quantizationErrorBound,
  quantize,
} from './quantize.js'
export { type RandomBytes, seededRandomBytesUnsafe, systemRandomBytes } from './random.js'
export { type AggregateResult, type Outcome, SecAggServer, type SecAggServerInit } from './server.js'
export { combineShares, SHAMIR_PRIME, SHARE_BYTES, type Share, splitSecret } from './shamir.js'
export {
  type PhaseTiming,
  runSecAggRound,
  type SecAggDropouts,
  type SecAggPhase,
  type SecAggRoundInit,
  type SecAggRoundResult,
  type TrafficBytes,
} from './simulate.js'
