// Injected dependencies of the client and server state machines.
import type { KeyAgreement } from './crypto.js'
import type { RandomBytes } from './random.js'

/** Injected dependencies of a client or server. */
export interface SecAggComponents {
  /** Randomness for keys, seeds, nonces, Shamir coefficients and rounding (default: crypto.getRandomValues). */
  readonly randomBytes?: RandomBytes
  /** X25519 (default: @noble/curves). */
  readonly keyAgreement?: KeyAgreement
}
