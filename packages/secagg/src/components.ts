// Injected dependencies of the client and server state machines.
import type { KeyAgreement } from './crypto.js'
import type { SecAggIdentity } from './identity.js'
import type { RandomBytes } from './random.js'

/** Injected dependencies of a client or server. */
export interface SecAggComponents {
  /** Randomness for keys, seeds, nonces, Shamir coefficients and rounding (default: crypto.getRandomValues). */
  readonly randomBytes?: RandomBytes
  /** X25519 (default: @noble/curves). */
  readonly keyAgreement?: KeyAgreement
  /**
   * The client's signing identity and its directory of the others' (a client requires one: `ed25519Identity`, or in
   * tests of the arithmetic `unauthenticatedIdentityUnsafe`); the server does not use it.
   */
  readonly identity?: SecAggIdentity
}
