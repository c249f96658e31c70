// Schemas (zod) of the mesh membership views the control API serves: the node's authority, its certificate and the
// revocations it holds, and the answer to a posted revocation.
import { z } from 'zod'

/** What a revocation withdraws: one certificate (by serial) or every certificate of a peer issued until then. */
export const revocationTargetSchema = z.union([z.object({ serial: z.string() }).strict(), z.object({ peerId: z.string() }).strict()])

export const revocationViewSchema = z.object({
  target: revocationTargetSchema,
  revokedAt: z.number(),
  reason: z.string(),
})
export type RevocationView = z.infer<typeof revocationViewSchema>

/** `GET /v1/mesh/membership`. */
export const membershipViewSchema = z.object({
  /** `authority`: the node checks certificates of `authority`; `allow-lists`: roles come from its allow-lists only. */
  mode: z.enum(['authority', 'allow-lists']),
  authority: z.string().nullable(),
  /** This node's own certificate, when it holds one. */
  certificate: z.object({ serial: z.string(), roles: z.array(z.string()), issuedAt: z.number(), expiresAt: z.number() }).nullable(),
  revocations: z.array(revocationViewSchema),
})
export type MembershipView = z.infer<typeof membershipViewSchema>

/** `POST /v1/mesh/revocations`: the revocation verified and kept (`isNew`: not held before), and gossiped. */
export const postedRevocationSchema = z.object({ accepted: z.literal(true), isNew: z.boolean(), revocation: revocationViewSchema })
export type PostedRevocation = z.infer<typeof postedRevocationSchema>
