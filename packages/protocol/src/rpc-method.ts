// An RPC method's description: its service, name, protocol id and request/response schemas. Data only, shared by
// the callers and servers of a method; @weft/mesh runs them. Lives here so wire surfaces (fl.ts) need no mesh.
import type { DescMessage } from '@bufbuild/protobuf'
import { rpcProtocolId } from './protocol-ids.js'

/** A method of a service: its name, protocol id and request/response schemas. */
export interface RpcMethod<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> {
  readonly service: string
  readonly method: string
  /** `/weft/rpc/<service>/1.0.0` */
  readonly protocol: string
  readonly input: I
  readonly output: O
}

/** Describes a method. @throws RangeError when a name cannot go into a protocol id */
export function rpcMethod<I extends DescMessage, O extends DescMessage>(service: string, method: string, input: I, output: O): RpcMethod<I, O> {
  if (method.length === 0 || method.length > 128) {
    throw new RangeError(`method must be 1..128 characters, got ${JSON.stringify(method)}`)
  }
  return Object.freeze({ service, method, protocol: rpcProtocolId(service), input, output })
}
