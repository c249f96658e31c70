// Protocol id and topic naming: every Weft service speaks its own versioned protocol id.

/** Version of the RPC envelope (weft.rpc.v1) carried in every RPC protocol id: one call per stream. */
export const RPC_PROTOCOL_VERSION = '1.0.0'
/**
 * The same envelope as a session: one long-lived stream per caller and service carries many calls, matched by id,
 * so a call costs no stream opening or protocol negotiation.
 */
export const RPC_SESSION_PROTOCOL_VERSION = '2.0.0'
/** Version of the tensor transfer protocol (weft.tensor.v1) carried in every tensor protocol id. */
export const TENSOR_PROTOCOL_VERSION = '1.0.0'

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** Throws RangeError unless `name` is a lowercase identifier usable inside a protocol id. */
export function assertProtocolName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new RangeError(`${kind} must match ${NAME} (lowercase letters, digits, '.', '_', '-'), got ${JSON.stringify(name)}`)
  }
}

/** `/weft/rpc/<service>/1.0.0`: the protocol id of one RPC service. */
export function rpcProtocolId(service: string, version: string = RPC_PROTOCOL_VERSION): string {
  assertProtocolName('service', service)
  return `/weft/rpc/${service}/${version}`
}

/** `/weft/tensors/<purpose>/1.0.0`: the protocol id of tensor transfers for one purpose. */
export function tensorProtocolId(purpose: string, version: string = TENSOR_PROTOCOL_VERSION): string {
  assertProtocolName('purpose', purpose)
  return `/weft/tensors/${purpose}/${version}`
}

/** `weft/<name>/<version>`: a gossipsub topic; the version changes when the message schema does. */
export function topicName(name: string, version = 1): string {
  assertProtocolName('topic', name)
  return `weft/${name}/${version}`
}
