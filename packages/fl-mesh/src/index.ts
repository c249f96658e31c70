// Public API of @weft/fl-mesh: federated learning over a Weft mesh node. Browser-safe: the roles need only a mesh
// endpoint (RPC and tensor transfer over any libp2p); Node-specific pieces (the SQLite store, OpenSSL's X25519) are
// injected by the node.
export { type FlEndpoint, type FlLogger, fromHex, silentLogger, toHex } from './endpoint.js'
export {
  type MeshCoordinatorTransportComponents,
  type MeshCoordinatorTransportInit,
  meshCoordinatorTransport,
} from './coordinator-transport.js'
export { type HandoutFetch, handoutBytes, handsOutByCid, type ModelHandout, modelOfHandout, peersMayServe } from './model-handout.js'
export { peerIdSecAggIdentity } from './secagg-identity.js'
export { serveUpdates, type UpdateReceiverComponents, type UpdateReceiverInit, updateHeaderOf } from './update-receiver.js'
export { type CoordinatorRpcComponents, serveCoordinatorRpc } from './coordinator-rpc.js'
export {
  engineFor,
  type Participant,
  type ParticipantComponents,
  type ParticipantEngines,
  type ParticipantEvent,
  type ParticipantJob,
  type ParticipantPolicy,
  startParticipant,
} from './participant.js'
export {
  createSiteAggregator,
  type ParticipantSite,
  type SiteAggregator,
  type SiteAggregatorComponents,
  type SiteAggregatorInit,
  type SiteUpdateSink,
} from './site-aggregator.js'
