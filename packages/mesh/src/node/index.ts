// Public API of @weft/mesh/node (hand-written list of exports): the Weft mesh node for Node (TCP, WebSockets, mDNS,
// pnet, node:crypto hashing). The messaging primitives it is built from are `@weft/mesh`.
export {
  createMeshNode,
  type MeshConnectionInfo,
  type MeshNode,
  type MeshNodeComponents,
  type MeshNodeEvents,
  type MeshNodeInit,
  type MeshServices,
} from './mesh-node.js'
