// The wire surface of mesh membership: the RPC method that fetches a peer's certificate, the revocations topic and
// the size limits every decoder applies before decoding.
import {
  GetCertificateRequestSchema,
  GetCertificateResponseSchema,
  GetRevocationsRequestSchema,
  GetRevocationsResponseSchema,
} from './gen/weft/mesh/v1/membership_pb.js'
import { topicName } from './protocol-ids.js'
import { rpcMethod } from './rpc-method.js'

/** Any node → a peer: its membership certificate (asked on first contact, before its ad arrived). */
export const MEMBERSHIP_CERTIFICATE = rpcMethod('membership', 'certificate', GetCertificateRequestSchema, GetCertificateResponseSchema)
/** Any node → a peer: the revocations it holds (asked on each new connection; gossip does not replay). */
export const MEMBERSHIP_REVOCATIONS = rpcMethod('membership', 'revocations', GetRevocationsRequestSchema, GetRevocationsResponseSchema)
/** Most revocations one `membership/revocations` answer carries (the most recent). */
export const MAX_REVOCATIONS_PER_ANSWER = 256
/** Gossipsub topic of signed revocations; only ones signed by the mesh's authority are relayed. */
export const REVOCATIONS_TOPIC = topicName('revocations')
/** Largest encoded SignedCertificate decoded. */
export const MAX_SIGNED_CERTIFICATE_BYTES = 4 * 1024
/** Largest encoded SignedRevocation decoded. */
export const MAX_SIGNED_REVOCATION_BYTES = 2 * 1024
