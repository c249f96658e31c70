// Errors thrown by @weft/mesh; callers match on `err.name` (and on `code` for RpcError).
import { type WireErrorCode, wireErrorCodeName } from '@weft/protocol'

/** An RPC failed; `code` comes from the closed wire list, `remote` says whether the peer reported it. */
export class RpcError extends Error {
  static readonly NAME = 'RpcError'
  override readonly name = 'RpcError'
  readonly code: WireErrorCode
  readonly remote: boolean
  /** The message without its code: what travels on the wire. */
  readonly detail: string
  constructor(code: WireErrorCode, message: string, options: { remote?: boolean; cause?: unknown } = {}) {
    super(`${wireErrorCodeName(code)}: ${message}`, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.code = code
    this.detail = message
    this.remote = options.remote ?? false
  }
}

/** A pre-shared key is not in the swarm.key format (`/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits). */
export class InvalidPskError extends Error {
  static readonly NAME = 'InvalidPskError'
  override readonly name = 'InvalidPskError'
}

/** A peer sent bytes that break a Weft protocol (the stream carrying them is reset). */
export class ProtocolViolationError extends Error {
  static readonly NAME = 'ProtocolViolationError'
  override readonly name = 'ProtocolViolationError'
}

/** A DHT key or namespace is malformed. */
export class InvalidDhtKeyError extends Error {
  static readonly NAME = 'InvalidDhtKeyError'
  override readonly name = 'InvalidDhtKeyError'
}

/** A DHT record fails its namespace's validator. */
export class InvalidDhtRecordError extends Error {
  static readonly NAME = 'InvalidDhtRecordError'
  override readonly name = 'InvalidDhtRecordError'
}
