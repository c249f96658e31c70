// The protocol's messages, one type per phase and direction, as the state machines produce and accept them.
import type { QuantizationParams } from './quantize.js'

/** The parameters every client receives and checks in the setup message. */
export interface RoundParams extends QuantizationParams {
  /** Clients in the round (n). */
  readonly clients: number
  /** Neighbours per client (k). */
  readonly degree: number
  /** Shamir threshold (t). */
  readonly threshold: number
  /** Ring of the masked vectors: Z_{2^modulusBits}; 32 in this protocol version. */
  readonly modulusBits: number
  /** Coordinates per input vector. */
  readonly vectorLength: number
  /** 32-byte seed the graph was drawn from. */
  readonly graphSeed: Uint8Array
}

/** A neighbour and its index in the round's client list (its Shamir evaluation point is index + 1). */
export interface Neighbour {
  readonly id: string
  readonly index: number
}

/** Phase 0, server to client. */
export interface SetupMessage {
  readonly type: 'setup'
  readonly version: number
  readonly jobId: string
  readonly round: number
  readonly clientId: string
  readonly clientIndex: number
  readonly params: RoundParams
  readonly neighbours: readonly Neighbour[]
}

/**
 * Phase 1, client to server: the client's two X25519 public keys for this round, signed with its identity key, and
 * its commitment to its self-mask seed (for the server only).
 */
export interface AdvertiseKeysMessage {
  readonly type: 'advertise-keys'
  readonly jobId: string
  readonly round: number
  readonly sender: string
  readonly channelPublicKey: Uint8Array
  readonly maskPublicKey: Uint8Array
  /** The sender's Ed25519 signature of `advertisedKeysMessage` (64 bytes; empty from an unauthenticated client). */
  readonly signature: Uint8Array
  /** SHA-256 commitment to the sender's self-mask seed (32 bytes), see `selfMaskCommitment`. */
  readonly selfMaskCommitment: Uint8Array
}

/** One neighbour's advertised keys, with its signature forwarded untouched. */
export interface PeerKeys {
  readonly id: string
  readonly channelPublicKey: Uint8Array
  readonly maskPublicKey: Uint8Array
  readonly signature: Uint8Array
}

/** Phase 1, server to client: the keys of the client's live neighbours. */
export interface NeighbourKeysMessage {
  readonly type: 'neighbour-keys'
  readonly jobId: string
  readonly round: number
  readonly recipient: string
  readonly keys: readonly PeerKeys[]
}

/** Shares of the sender's two secrets, sealed for one neighbour. */
export interface ShareBundle {
  readonly sender: string
  readonly recipient: string
  readonly nonce: Uint8Array
  readonly ciphertext: Uint8Array
}

/** Phase 2, client to server: one bundle per live neighbour. */
export interface ShareKeysMessage {
  readonly type: 'share-keys'
  readonly jobId: string
  readonly round: number
  readonly sender: string
  readonly bundles: readonly ShareBundle[]
}

/** Phase 2, server to client: the bundles addressed to the client. */
export interface RoutedSharesMessage {
  readonly type: 'routed-shares'
  readonly jobId: string
  readonly round: number
  readonly recipient: string
  readonly bundles: readonly ShareBundle[]
}

/** Phase 3, client to server: y = q(x) + PRG(b) + sum of +-PRG(s_uv) mod 2^modulusBits. */
export interface MaskedInputMessage {
  readonly type: 'masked-input'
  readonly jobId: string
  readonly round: number
  readonly sender: string
  readonly modulusBits: number
  readonly bits: number
  readonly vector: Uint32Array
}

/** Phase 4, server to client: which of the client's neighbours dropped and which survived. */
export interface UnmaskRequestMessage {
  readonly type: 'unmask-request'
  readonly jobId: string
  readonly round: number
  readonly recipient: string
  readonly dropped: readonly string[]
  readonly survivors: readonly string[]
}

/** Which of its owner's secrets a share belongs to. */
export type SecretKind = 'self-mask-seed' | 'mask-key'

/** One Shamir share (66 bytes) of one neighbour's secret. */
export interface SecretShare {
  readonly owner: string
  readonly kind: SecretKind
  readonly share: Uint8Array
}

/** Phase 4, client to server: the shares asked for (those the client holds). */
export interface UnmaskResponseMessage {
  readonly type: 'unmask-response'
  readonly jobId: string
  readonly round: number
  readonly sender: string
  readonly shares: readonly SecretShare[]
}

/** Every message of the protocol. */
export type SecAggMessage =
  | SetupMessage
  | AdvertiseKeysMessage
  | NeighbourKeysMessage
  | ShareKeysMessage
  | RoutedSharesMessage
  | MaskedInputMessage
  | UnmaskRequestMessage
  | UnmaskResponseMessage
