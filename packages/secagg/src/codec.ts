// Wire codec: maps the protocol's messages to weft.secagg.v1 protobufs and back, enforcing size limits on decode so
// that a peer cannot make this side allocate or loop without bound.
import { create, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf'
import {
  type SecAggMessage as WireMessage,
  SecAggMessageSchema,
  type SecAggRoundParams,
  SecAggSecretKind,
  type SecAggShareBundle,
} from '@weft/protocol'
import { bytesFromWords, wordsFromBytes } from './bytes.js'
import { COMMITMENT_BYTES, KEY_BYTES, NONCE_BYTES } from './crypto.js'
import { MalformedMessageError } from './errors.js'
import { SIGNATURE_BYTES } from './identity.js'
import type {
  MaskedInputMessage,
  RoundParams,
  SecAggMessage,
  SecretKind,
  SecretShare,
  ShareBundle,
} from './messages.js'
import { SHARE_BYTES } from './shamir.js'

/** Limits enforced on decode (and on encode where the sender controls the size). */
export const SECAGG_WIRE_LIMITS = Object.freeze({
  /** Largest encoded message. */
  maxMessageBytes: 8 * 1024 * 1024,
  /** Most neighbours, keys, bundles or shares in one message. */
  maxNeighbours: 10_000,
  /** Largest sealed share bundle. */
  maxBundleBytes: 4096,
  /** Longest job or client id, in UTF-8 bytes. */
  maxIdBytes: 256,
  /** Largest masked vector carried inline; larger ones go over Weft's tensor streams with a header message. */
  maxInlineVectorBytes: 4 * 1024 * 1024,
  /** Most clients in a round. */
  maxClients: 1_000_000,
})

/** A masked input whose vector travels separately (a tensor transfer); pair it with `attachMaskedVector`. */
export interface MaskedInputHeader {
  readonly type: 'masked-input-header'
  readonly jobId: string
  readonly round: number
  readonly sender: string
  readonly modulusBits: number
  readonly bits: number
  readonly vectorLength: number
}

/** What `decodeSecAggMessage` yields: a protocol message, or the header of a masked input sent as a tensor. */
export type DecodedSecAggMessage = SecAggMessage | MaskedInputHeader

/**
 * Encodes a message as a weft.secagg.v1.SecAggMessage.
 * @throws RangeError for a masked vector over 4 MiB (send `encodeMaskedInputHeader` plus a tensor transfer instead).
 */
export function encodeSecAggMessage(message: SecAggMessage): Uint8Array {
  if (message.type === 'masked-input' && message.vector.byteLength > SECAGG_WIRE_LIMITS.maxInlineVectorBytes) {
    throw new RangeError(
      `masked vector of ${message.vector.byteLength} bytes is over the ${SECAGG_WIRE_LIMITS.maxInlineVectorBytes}-byte ` +
        'inline limit: send encodeMaskedInputHeader(message) and the vector as a tensor transfer',
    )
  }
  return toBinary(SecAggMessageSchema, create(SecAggMessageSchema, { body: toWireBody(message) }))
}

/** Encodes a masked input's header only (vector empty, vector_length set), for vectors sent as a tensor transfer. */
export function encodeMaskedInputHeader(message: MaskedInputMessage): Uint8Array {
  const { jobId, round, sender, modulusBits, bits } = message
  return toBinary(
    SecAggMessageSchema,
    create(SecAggMessageSchema, {
      body: {
        case: 'maskedInput',
        value: { jobId, round, sender, modulusBits, bits, vectorLength: message.vector.length },
      },
    }),
  )
}

/**
 * Joins a masked-input header with its vector (received as a tensor).
 * @throws MalformedMessageError when the vector's length differs from the header's.
 */
export function attachMaskedVector(header: MaskedInputHeader, vector: Uint32Array): MaskedInputMessage {
  if (vector.length !== header.vectorLength) {
    throw new MalformedMessageError(
      `masked vector from ${header.sender} has ${vector.length} words, its header announced ${header.vectorLength}`,
    )
  }
  const { jobId, round, sender, modulusBits, bits } = header
  return { type: 'masked-input', jobId, round, sender, modulusBits, bits, vector }
}

/**
 * Decodes and checks the shape of a weft.secagg.v1.SecAggMessage (sizes, key and share lengths, counts); the state
 * machines then check its meaning.
 * @throws MalformedMessageError naming the bad field.
 */
export function decodeSecAggMessage(bytes: Uint8Array): DecodedSecAggMessage {
  if (bytes.length > SECAGG_WIRE_LIMITS.maxMessageBytes) {
    throw new MalformedMessageError(
      `secagg message of ${bytes.length} bytes is over the ${SECAGG_WIRE_LIMITS.maxMessageBytes}-byte limit`,
    )
  }
  let wire: WireMessage
  try {
    wire = fromBinary(SecAggMessageSchema, bytes)
  } catch (cause) {
    throw new MalformedMessageError('bytes are not a weft.secagg.v1.SecAggMessage', { cause })
  }
  return fromWireBody(wire.body)
}

type WireBodyInit = NonNullable<MessageInitShape<typeof SecAggMessageSchema>['body']>

function toWireBody(message: SecAggMessage): WireBodyInit {
  switch (message.type) {
    case 'setup': {
      const { version, jobId, round, clientId, clientIndex, neighbours } = message
      return {
        case: 'setup',
        value: { version, jobId, round, clientId, clientIndex, params: message.params, neighbours: [...neighbours] },
      }
    }
    case 'advertise-keys': {
      const { jobId, round, sender, channelPublicKey, maskPublicKey, signature, selfMaskCommitment } = message
      return {
        case: 'advertiseKeys',
        value: { jobId, round, sender, channelPublicKey, maskPublicKey, signature, selfMaskCommitment },
      }
    }
    case 'neighbour-keys': {
      const { jobId, round, recipient, keys } = message
      return { case: 'neighbourKeys', value: { jobId, round, recipient, keys: [...keys] } }
    }
    case 'share-keys': {
      const { jobId, round, sender, bundles } = message
      return { case: 'shareKeys', value: { jobId, round, sender, bundles: [...bundles] } }
    }
    case 'routed-shares': {
      const { jobId, round, recipient, bundles } = message
      return { case: 'routedShares', value: { jobId, round, recipient, bundles: [...bundles] } }
    }
    case 'masked-input': {
      const { jobId, round, sender, modulusBits, bits, vector } = message
      return {
        case: 'maskedInput',
        value: { jobId, round, sender, modulusBits, bits, vectorLength: vector.length, vector: bytesFromWords(vector) },
      }
    }
    case 'unmask-request': {
      const { jobId, round, recipient, dropped, survivors } = message
      return { case: 'unmaskRequest', value: { jobId, round, recipient, dropped: [...dropped], survivors: [...survivors] } }
    }
    case 'unmask-response': {
      const { jobId, round, sender, shares } = message
      return {
        case: 'unmaskResponse',
        value: { jobId, round, sender, shares: shares.map((share) => ({ ...share, kind: toWireKind(share.kind) })) },
      }
    }
    default:
      return assertNever(message)
  }
}

function fromWireBody(body: WireMessage['body']): DecodedSecAggMessage {
  switch (body.case) {
    case 'setup': {
      const { version, jobId, round, clientId, clientIndex, params, neighbours } = body.value
      checkCount('setup.neighbours', neighbours.length, SECAGG_WIRE_LIMITS.maxNeighbours)
      return {
        type: 'setup',
        version,
        jobId: checkId('setup.jobId', jobId),
        round,
        clientId: checkId('setup.clientId', clientId),
        clientIndex,
        params: fromWireParams(params),
        neighbours: neighbours.map(({ id, index }) => ({ id: checkId('setup.neighbours.id', id), index })),
      }
    }
    case 'advertiseKeys': {
      const { jobId, round, sender, channelPublicKey, maskPublicKey, signature, selfMaskCommitment } = body.value
      return {
        type: 'advertise-keys',
        jobId: checkId('advertiseKeys.jobId', jobId),
        round,
        sender: checkId('advertiseKeys.sender', sender),
        channelPublicKey: checkBytes('advertiseKeys.channelPublicKey', channelPublicKey, KEY_BYTES),
        maskPublicKey: checkBytes('advertiseKeys.maskPublicKey', maskPublicKey, KEY_BYTES),
        signature: checkSignature('advertiseKeys.signature', signature),
        selfMaskCommitment: checkBytes('advertiseKeys.selfMaskCommitment', selfMaskCommitment, COMMITMENT_BYTES),
      }
    }
    case 'neighbourKeys': {
      const { jobId, round, recipient, keys } = body.value
      checkCount('neighbourKeys.keys', keys.length, SECAGG_WIRE_LIMITS.maxNeighbours)
      return {
        type: 'neighbour-keys',
        jobId: checkId('neighbourKeys.jobId', jobId),
        round,
        recipient: checkId('neighbourKeys.recipient', recipient),
        keys: keys.map(({ id, channelPublicKey, maskPublicKey, signature }) => ({
          id: checkId('neighbourKeys.keys.id', id),
          channelPublicKey: checkBytes('neighbourKeys.keys.channelPublicKey', channelPublicKey, KEY_BYTES),
          maskPublicKey: checkBytes('neighbourKeys.keys.maskPublicKey', maskPublicKey, KEY_BYTES),
          signature: checkSignature('neighbourKeys.keys.signature', signature),
        })),
      }
    }
    case 'shareKeys': {
      const { jobId, round, sender, bundles } = body.value
      return {
        type: 'share-keys',
        jobId: checkId('shareKeys.jobId', jobId),
        round,
        sender: checkId('shareKeys.sender', sender),
        bundles: fromWireBundles('shareKeys', bundles),
      }
    }
    case 'routedShares': {
      const { jobId, round, recipient, bundles } = body.value
      return {
        type: 'routed-shares',
        jobId: checkId('routedShares.jobId', jobId),
        round,
        recipient: checkId('routedShares.recipient', recipient),
        bundles: fromWireBundles('routedShares', bundles),
      }
    }
    case 'maskedInput':
      return fromWireMaskedInput(body.value)
    case 'unmaskRequest': {
      const { jobId, round, recipient, dropped, survivors } = body.value
      checkCount('unmaskRequest.dropped + survivors', dropped.length + survivors.length, SECAGG_WIRE_LIMITS.maxNeighbours)
      return {
        type: 'unmask-request',
        jobId: checkId('unmaskRequest.jobId', jobId),
        round,
        recipient: checkId('unmaskRequest.recipient', recipient),
        dropped: dropped.map((id) => checkId('unmaskRequest.dropped', id)),
        survivors: survivors.map((id) => checkId('unmaskRequest.survivors', id)),
      }
    }
    case 'unmaskResponse': {
      const { jobId, round, sender, shares } = body.value
      checkCount('unmaskResponse.shares', shares.length, SECAGG_WIRE_LIMITS.maxNeighbours)
      return {
        type: 'unmask-response',
        jobId: checkId('unmaskResponse.jobId', jobId),
        round,
        sender: checkId('unmaskResponse.sender', sender),
        shares: shares.map(
          ({ owner, kind, share }): SecretShare => ({
            owner: checkId('unmaskResponse.shares.owner', owner),
            kind: fromWireKind(kind),
            share: checkBytes('unmaskResponse.shares.share', share, SHARE_BYTES),
          }),
        ),
      }
    }
    case undefined:
      throw new MalformedMessageError('secagg message has no body')
    default:
      return assertNever(body)
  }
}

function fromWireParams(params: SecAggRoundParams | undefined): RoundParams {
  if (params === undefined) throw new MalformedMessageError('setup.params is missing')
  const { clients, degree, threshold, bits, modulusBits, clip, vectorLength, graphSeed } = params
  if (clients < 2 || clients > SECAGG_WIRE_LIMITS.maxClients) {
    throw new MalformedMessageError(`setup.params.clients must be in [2, ${SECAGG_WIRE_LIMITS.maxClients}], got ${clients}`)
  }
  checkCount('setup.params.degree', degree, SECAGG_WIRE_LIMITS.maxNeighbours)
  if (!Number.isFinite(clip) || clip <= 0) throw new MalformedMessageError(`setup.params.clip must be finite and positive, got ${clip}`)
  if (vectorLength === 0) throw new MalformedMessageError('setup.params.vectorLength must be positive, got 0')
  return {
    clients,
    degree,
    threshold,
    bits,
    modulusBits,
    clip,
    vectorLength,
    graphSeed: checkBytes('setup.params.graphSeed', graphSeed, KEY_BYTES),
  }
}

function fromWireBundles(where: string, bundles: readonly SecAggShareBundle[]): ShareBundle[] {
  checkCount(`${where}.bundles`, bundles.length, SECAGG_WIRE_LIMITS.maxNeighbours)
  return bundles.map(({ sender, recipient, nonce, ciphertext }) => {
    if (ciphertext.length > SECAGG_WIRE_LIMITS.maxBundleBytes) {
      throw new MalformedMessageError(
        `${where}.bundles.ciphertext has ${ciphertext.length} bytes, the limit is ${SECAGG_WIRE_LIMITS.maxBundleBytes}`,
      )
    }
    return {
      sender: checkId(`${where}.bundles.sender`, sender),
      recipient: checkId(`${where}.bundles.recipient`, recipient),
      nonce: checkBytes(`${where}.bundles.nonce`, nonce, NONCE_BYTES),
      ciphertext,
    }
  })
}

function fromWireMaskedInput(value: Extract<WireMessage['body'], { case: 'maskedInput' }>['value']): DecodedSecAggMessage {
  const { jobId, round, sender, modulusBits, bits, vectorLength, vector } = value
  const header = {
    jobId: checkId('maskedInput.jobId', jobId),
    round,
    sender: checkId('maskedInput.sender', sender),
    modulusBits,
    bits,
  }
  if (vectorLength === 0) throw new MalformedMessageError('maskedInput.vectorLength must be positive, got 0')
  if (vector.length === 0) return { type: 'masked-input-header', ...header, vectorLength }
  if (vector.length !== vectorLength * 4) {
    throw new MalformedMessageError(
      `maskedInput.vector has ${vector.length} bytes, vectorLength ${vectorLength} needs ${vectorLength * 4}`,
    )
  }
  return { type: 'masked-input', ...header, vector: wordsFromBytes(vector) }
}

function checkId(field: string, id: string): string {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes, so the exact count is only needed near the limit.
  const bytes = id.length * 3 <= SECAGG_WIRE_LIMITS.maxIdBytes ? id.length : new TextEncoder().encode(id).length
  if (id.length === 0 || bytes > SECAGG_WIRE_LIMITS.maxIdBytes) {
    throw new MalformedMessageError(`${field} must be 1 to ${SECAGG_WIRE_LIMITS.maxIdBytes} UTF-8 bytes, got ${bytes}`)
  }
  return id
}

function checkBytes(field: string, bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) throw new MalformedMessageError(`${field} must be ${length} bytes, got ${bytes.length}`)
  return bytes
}

/** A signature is 64 bytes, or empty from an unauthenticated client (which an authenticating neighbour refuses). */
function checkSignature(field: string, signature: Uint8Array): Uint8Array {
  if (signature.length !== 0 && signature.length !== SIGNATURE_BYTES) {
    throw new MalformedMessageError(`${field} must be ${SIGNATURE_BYTES} bytes, got ${signature.length}`)
  }
  return signature
}

function checkCount(field: string, count: number, limit: number): void {
  if (count > limit) throw new MalformedMessageError(`${field} has ${count} entries, the limit is ${limit}`)
}

function toWireKind(kind: SecretKind): SecAggSecretKind {
  return kind === 'mask-key' ? SecAggSecretKind.MASK_KEY : SecAggSecretKind.SELF_MASK_SEED
}

function fromWireKind(kind: SecAggSecretKind): SecretKind {
  switch (kind) {
    case SecAggSecretKind.MASK_KEY:
      return 'mask-key'
    case SecAggSecretKind.SELF_MASK_SEED:
      return 'self-mask-seed'
    default:
      throw new MalformedMessageError(`unmaskResponse.shares.kind must be SELF_MASK_SEED or MASK_KEY, got ${kind}`)
  }
}

function assertNever(value: never): never {
  throw new TypeError(`unhandled secagg message ${JSON.stringify(value)}`)
}
