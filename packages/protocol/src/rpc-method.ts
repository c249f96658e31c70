// An RPC method's description: its service, name, protocol id and request/response schemas. Data only, shared by
// the callers and servers of a method; @weft/mesh runs them. Lives here so wire surfaces (fl.ts) need no mesh.
import type { DescMessage } from '@bufbuild/protobuf'
import { RPC_SESSION_PROTOCOL_VERSION, rpcProtocolId } from './protocol-ids.js'

/** A method of a service: its name, protocol id and request/response schemas. */
export interface RpcMethod<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  readonly service: string
  readonly method: string
  /** `/weft/rpc/<service>/1.0.0`: one call per stream. */
  readonly protocol: string
  /** `/weft/rpc/<service>/2.0.0`: many calls on one long-lived stream (a session). */
  readonly sessionProtocol: string
  readonly input: I
  readonly output: O
}

/** Describes a method. @throws RangeError when a name cannot go into a protocol id */
export function rpcMethod<I extends DescMessage, O extends DescMessage>(service: string, method: string, input: I, output: O): RpcMethod<I, O> {
  if (method.length === 0 || method.length > 128) {
    throw new RangeError(`method must be 1..128 characters, got ${JSON.stringify(method)}`)
  }
  return Object.freeze({ service, method, protocol: rpcProtocolId(service), sessionProtocol: rpcProtocolId(service, RPC_SESSION_PROTOCOL_VERSION), input, output })
}
