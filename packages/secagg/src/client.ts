// The client's side of a SecAgg+ round: a state machine with one method per phase, no transport.
import { bytesToHex } from '@noble/hashes/utils.js'
import type { SecAggComponents } from './components.js'
import {
  channelKey,
  KEY_BYTES,
  type KeyAgreement,
  NONCE_BYTES,
  nobleX25519,
  openBundle,
  pairMaskSeed,
  type RoundRef,
  SECAGG_PROTOCOL_VERSION,
  sealBundle,
  selfMaskCommitment,
} from './crypto.js'
import { checkJobAndRound, MessageRejectedError } from './errors.js'
import { advertisedKeysMessage, type SecAggIdentity } from './identity.js'
import type {
  AdvertiseKeysMessage,
  MaskedInputMessage,
  NeighbourKeysMessage,
  RoundParams,
  RoutedSharesMessage,
  SecretShare,
  SetupMessage,
  ShareKeysMessage,
  UnmaskRequestMessage,
  UnmaskResponseMessage,
} from './messages.js'
import { applyMask, PRG_NONCES } from './prg.js'
import { checkQuantization, MODULUS_BITS, quantize } from './quantize.js'
import { type RandomBytes, systemRandomBytes } from './random.js'
import { SHARE_BYTES, shareValueFromBytes, shareValueToBytes, splitSecret } from './shamir.js'

/** Who the client is and which round it expects; messages for any other job or round are refused. */
export interface SecAggClientInit {
  readonly id: string
  readonly jobId: string
  readonly round: number
  /**
   * Fewest clients a session may have (default 2): the job's minimum. A server that runs a victim with a handful of
   * its own clients learns the victim's input from the sum, so the client refuses smaller cohorts at setup.
   */
  readonly minClients?: number
}

/** A share bundle the client could not accept; its sender still counts as a masking partner. */
export interface BundleRejection {
  readonly from: string
  readonly error: MessageRejectedError
}

/** What `receiveShares` made of the routed bundles. */
export interface ShareReceipt {
  /** Neighbours that took part in the share exchange: the client masks its input with each of them. */
  readonly partners: readonly string[]
  /** Bundles that did not open or did not parse (their shares are missing, the round may still complete). */
  readonly rejected: readonly BundleRejection[]
}

type ClientPhase = 'awaiting-setup' | 'awaiting-keys' | 'awaiting-shares' | 'ready-to-mask' | 'masked' | 'done'

interface RoundSecrets {
  channelSecret: Uint8Array
  maskSecret: Uint8Array
  selfMaskSeed: Uint8Array
}

interface Peer {
  readonly index: number
  /** Seed of the pairwise mask with this peer. */
  readonly pairSeed: Uint8Array
  /** X25519 secret of the two channel keys, for opening the peer's bundle. */
  readonly channelShared: Uint8Array
}

interface HeldShares {
  readonly selfMaskSeed: Uint8Array
  readonly maskKey: Uint8Array
}

/** Plaintext of a share bundle: the share of the self-mask seed, then the share of the mask key. */
const BUNDLE_PLAINTEXT_BYTES = 2 * SHARE_BYTES

/**
 * A client of one SecAgg+ round. Call, in order: `advertiseKeys(setup)`, `shareKeys(neighbourKeys)`,
 * `receiveShares(routed)`, `maskInput(x)`, `unmask(request)`. Every method that takes a server message checks it and
 * throws MessageRejectedError (with a `reason`) without changing state when it is wrong.
 */
export class SecAggClient {
  readonly id: string
  readonly jobId: string
  readonly round: number
  readonly #randomBytes: RandomBytes
  readonly #keyAgreement: KeyAgreement
  readonly #identity: SecAggIdentity
  readonly #minClients: number
  #phase: ClientPhase = 'awaiting-setup'
  #index = -1
  #params: RoundParams | undefined
  #neighbours = new Map<string, number>()
  #secrets: RoundSecrets | undefined
  #peers = new Map<string, Peer>()
  #partners = new Set<string>()
  #held = new Map<string, HeldShares>()

  /**
   * @throws RangeError for an empty id, a round that is not a uint32 or a minClients below 2.
   * @throws TypeError when `components.identity` is missing.
   */
  constructor(init: SecAggClientInit, components: SecAggComponents) {
    if (init.id.length === 0) throw new RangeError('client id must not be empty')
    const minClients = init.minClients ?? 2
    if (!Number.isInteger(minClients) || minClients < 2) throw new RangeError(`minClients must be an integer >= 2, got ${minClients}`)
    if (components.identity === undefined) {
      throw new TypeError('components.identity is required: ed25519Identity(...), or unauthenticatedIdentityUnsafe in tests')
    }
    this.#identity = components.identity
    this.#minClients = minClients
    if (!Number.isInteger(init.round) || init.round < 0 || init.round > 0xffffffff) {
      throw new RangeError(`round must be a uint32, got ${init.round}`)
    }
    this.id = init.id
    this.jobId = init.jobId
    this.round = init.round
    this.#randomBytes = components.randomBytes ?? systemRandomBytes
    this.#keyAgreement = components.keyAgreement ?? nobleX25519
  }

  /**
   * Phase 0 to 1: checks the round's parameters and the neighbour list, draws this round's secrets and advertises the
   * two public keys.
   * @throws MessageRejectedError (`wrong-version`, `wrong-job`, `wrong-round`, `misaddressed`, `wrong-phase`,
   * `wrong-modulus`, `insecure-params`, `cohort-too-small`, `not-neighbour`, `duplicate`).
   */
  advertiseKeys(setup: SetupMessage): AdvertiseKeysMessage {
    if (setup.version !== SECAGG_PROTOCOL_VERSION) {
      throw new MessageRejectedError(
        'wrong-version',
        `setup is for protocol version ${setup.version}, this client speaks ${SECAGG_PROTOCOL_VERSION}`,
      )
    }
    this.#checkEnvelope('setup', setup, setup.clientId, 'awaiting-setup')
    checkParams(setup.params)
    if (setup.params.clients < this.#minClients) {
      throw new MessageRejectedError(
        'cohort-too-small',
        `setup refused: the session has ${setup.params.clients} clients, the job's minimum is ${this.#minClients}; ` +
          "so small a cohort's sum would expose this client's input",
      )
    }
    this.#neighbours = checkNeighbours(setup, this.id)
    this.#params = setup.params
    this.#index = setup.clientIndex
    const secrets = {
      channelSecret: this.#randomBytes(KEY_BYTES),
      maskSecret: this.#randomBytes(KEY_BYTES),
      selfMaskSeed: this.#randomBytes(KEY_BYTES),
    }
    const channelPublicKey = this.#keyAgreement.publicKey(secrets.channelSecret)
    const maskPublicKey = this.#keyAgreement.publicKey(secrets.maskSecret)
    const signature = this.#identity.sign(advertisedKeysMessage(this.#ref(), this.id, channelPublicKey, maskPublicKey))
    this.#secrets = secrets
    this.#phase = 'awaiting-keys'
    return {
      type: 'advertise-keys',
      jobId: this.jobId,
      round: this.round,
      sender: this.id,
      channelPublicKey,
      maskPublicKey,
      signature,
      selfMaskCommitment: selfMaskCommitment(secrets.selfMaskSeed, this.#ref(), this.id),
    }
  }

  /**
   * Phase 2: agrees keys with each live neighbour, splits the self-mask seed and the mask key into Shamir shares
   * (threshold t, one point per neighbour) and seals each neighbour's pair of shares for it.
   * Every neighbour's keys must carry that neighbour's signature: a server that swapped a key is refused.
   * @throws MessageRejectedError (`wrong-job`, `wrong-round`, `misaddressed`, `wrong-phase`, `not-neighbour`,
   * `duplicate`, `invalid-key`, `bad-signature`, `too-few-neighbours`).
   */
  shareKeys(message: NeighbourKeysMessage): ShareKeysMessage {
    this.#checkEnvelope('neighbour keys', message, message.recipient, 'awaiting-keys')
    const params = this.#params!
    const secrets = this.#secrets!
    if (message.keys.length < params.threshold) {
      throw new MessageRejectedError(
        'too-few-neighbours',
        `${message.keys.length} neighbours of ${this.id} advertised keys, the threshold is ${params.threshold}: its ` +
          'secrets could never be rebuilt',
      )
    }
    const peers = this.#agreeWithPeers(message, secrets)
    const ids = [...peers.keys()]
    const points = ids.map((id) => peers.get(id)!.index + 1)
    const seedShares = splitSecret(secrets.selfMaskSeed, params.threshold, points, this.#randomBytes)
    const keyShares = splitSecret(secrets.maskSecret, params.threshold, points, this.#randomBytes)
    const ref = this.#ref()
    const bundles = ids.map((id, i) => {
      const plaintext = new Uint8Array(BUNDLE_PLAINTEXT_BYTES)
      plaintext.set(shareValueToBytes(seedShares[i]!.y), 0)
      plaintext.set(shareValueToBytes(keyShares[i]!.y), SHARE_BYTES)
      const key = channelKey(peers.get(id)!.channelShared, ref, this.id, id)
      const nonce = this.#randomBytes(NONCE_BYTES)
      return { sender: this.id, recipient: id, nonce, ciphertext: sealBundle(key, nonce, ref, this.id, id, plaintext) }
    })
    this.#peers = peers
    this.#phase = 'awaiting-shares'
    return { type: 'share-keys', jobId: this.jobId, round: this.round, sender: this.id, bundles }
  }

  /**
   * Phase 2 to 3: opens the bundles the server routed to this client. The senders are the neighbours that completed
   * the share exchange, and become this client's masking partners, even when their bundle does not open (the sender
   * masks with this client all the same); such bundles are listed in the receipt.
   * @throws MessageRejectedError (`wrong-job`, `wrong-round`, `misaddressed`, `wrong-phase`, `not-neighbour`,
   * `duplicate`, `too-few-neighbours`) for the message as a whole.
   */
  receiveShares(message: RoutedSharesMessage): ShareReceipt {
    this.#checkEnvelope('routed shares', message, message.recipient, 'awaiting-shares')
    const senders = new Set<string>()
    for (const bundle of message.bundles) {
      if (!this.#peers.has(bundle.sender)) {
        throw new MessageRejectedError('not-neighbour', `routed bundle from ${bundle.sender}, not a live neighbour of ${this.id}`)
      }
      if (senders.has(bundle.sender)) {
        throw new MessageRejectedError('duplicate', `two routed bundles from ${bundle.sender}`)
      }
      senders.add(bundle.sender)
    }
    const threshold = this.#params!.threshold
    if (senders.size < threshold) {
      throw new MessageRejectedError(
        'too-few-neighbours',
        `${senders.size} neighbours of ${this.id} completed the share exchange, the threshold is ${threshold}`,
      )
    }
    const rejected: BundleRejection[] = []
    const held = new Map<string, HeldShares>()
    for (const bundle of message.bundles) {
      try {
        held.set(bundle.sender, this.#openBundle(bundle))
      } catch (error) {
        if (!(error instanceof MessageRejectedError)) throw error
        rejected.push({ from: bundle.sender, error })
      }
    }
    this.#held = held
    this.#partners = senders
    this.#phase = 'ready-to-mask'
    return { partners: [...senders], rejected }
  }

  /**
   * Phase 3: quantizes the input (clip, fixed point, stochastic rounding) and masks it.
   * @param input one float per coordinate of the round's vector.
   * @throws RangeError when the length differs from the round's or a coordinate is NaN.
   * @throws MessageRejectedError (`wrong-phase`) before `receiveShares` or after masking.
   */
  maskInput(input: Float32Array): MaskedInputMessage {
    this.#checkPhase('mask an input', 'ready-to-mask')
    const params = this.#params!
    checkLength(input.length, params.vectorLength)
    return this.maskQuantized(quantize(input, params, this.#randomBytes))
  }

  /**
   * Phase 3, for callers that quantize themselves: y = q + PRG(b) + sum over partners v of +-PRG(s_uv) mod 2^32, with
   * + towards partners of higher index and - towards lower, so that every pairwise mask cancels in the sum. The
   * client then forgets its own secrets: only its neighbours' shares are needed from here on.
   * @param quantized one value below 2^bits per coordinate.
   * @throws RangeError for a wrong length or a value of 2^bits or more.
   * @throws MessageRejectedError (`wrong-phase`).
   */
  maskQuantized(quantized: Uint32Array): MaskedInputMessage {
    this.#checkPhase('mask an input', 'ready-to-mask')
    const params = this.#params!
    checkLength(quantized.length, params.vectorLength)
    const limit = 2 ** params.bits
    for (let i = 0; i < quantized.length; i++) {
      if (quantized[i]! >= limit) {
        throw new RangeError(`quantized[${i}] is ${quantized[i]}, it must be below 2^${params.bits} = ${limit}`)
      }
    }
    const vector = quantized.slice()
    applyMask(vector, this.#secrets!.selfMaskSeed, PRG_NONCES.selfMask, 1)
    for (const id of this.#partners) {
      const peer = this.#peers.get(id)!
      applyMask(vector, peer.pairSeed, PRG_NONCES.pairMask, this.#index < peer.index ? 1 : -1)
    }
    this.#secrets = undefined
    this.#phase = 'masked'
    return {
      type: 'masked-input',
      jobId: this.jobId,
      round: this.round,
      sender: this.id,
      modulusBits: MODULUS_BITS,
      bits: params.bits,
      vector,
    }
  }

  /**
   * Phase 4: answers the server's one unmasking request with mask-key shares of the partners it reports dropped and
   * self-mask-seed shares of those it reports alive. Refuses any request that could reveal both secrets of one
   * client: one naming a client in both lists, asking for a seed share of a neighbour reported dropped before the
   * share exchange, or coming after an answer was already given.
   * @throws MessageRejectedError (`wrong-job`, `wrong-round`, `misaddressed`, `wrong-phase`, `duplicate`,
   * `conflicting-request`, `not-neighbour`).
   */
  unmask(request: UnmaskRequestMessage): UnmaskResponseMessage {
    if (this.#phase === 'done') {
      throw new MessageRejectedError(
        'duplicate',
        `${this.id} already answered an unmasking request in round ${this.round}; a second could reveal both ` +
          'secrets of a neighbour',
      )
    }
    this.#checkEnvelope('unmask request', request, request.recipient, 'masked')
    this.#checkUnmaskRequest(request)
    const shares: SecretShare[] = []
    for (const owner of request.dropped) {
      const held = this.#held.get(owner)
      if (held !== undefined) shares.push({ owner, kind: 'mask-key', share: held.maskKey })
    }
    for (const owner of request.survivors) {
      const held = this.#held.get(owner)
      if (held !== undefined) shares.push({ owner, kind: 'self-mask-seed', share: held.selfMaskSeed })
    }
    this.#held.clear()
    this.#phase = 'done'
    return { type: 'unmask-response', jobId: this.jobId, round: this.round, sender: this.id, shares }
  }

  #ref(): RoundRef {
    return { jobId: this.jobId, round: this.round }
  }

  #checkEnvelope(
    what: string,
    message: { readonly jobId: string; readonly round: number },
    recipient: string,
    phase: ClientPhase,
  ): void {
    checkJobAndRound(what, message, this, `client ${this.id}`)
    if (recipient !== this.id) {
      throw new MessageRejectedError('misaddressed', `${what} is addressed to ${recipient}, this client is ${this.id}`)
    }
    this.#checkPhase(`accept ${what}`, phase)
  }

  #checkPhase(action: string, phase: ClientPhase): void {
    if (this.#phase !== phase) {
      throw new MessageRejectedError('wrong-phase', `${this.id} cannot ${action} in phase ${this.#phase}, only in ${phase}`)
    }
  }

  /** Checks the neighbours' keys and derives the channel secret and pair-mask seed with each; changes no state. */
  #agreeWithPeers(message: NeighbourKeysMessage, secrets: RoundSecrets): Map<string, Peer> {
    const peers = new Map<string, Peer>()
    const seenKeys = new Set<string>()
    const ref = this.#ref()
    for (const keys of message.keys) {
      const index = this.#neighbours.get(keys.id)
      if (index === undefined) throw new MessageRejectedError('not-neighbour', `keys of ${keys.id}, not a neighbour of ${this.id}`)
      if (peers.has(keys.id)) throw new MessageRejectedError('duplicate', `two sets of keys for ${keys.id}`)
      for (const key of [keys.channelPublicKey, keys.maskPublicKey]) {
        if (key.length !== KEY_BYTES) {
          throw new MessageRejectedError('invalid-key', `a key of ${keys.id} has ${key.length} bytes, expected ${KEY_BYTES}`)
        }
        const hex = bytesToHex(key)
        if (seenKeys.has(hex)) throw new MessageRejectedError('invalid-key', `a key of ${keys.id} repeats another advertised key`)
        seenKeys.add(hex)
      }
      const signed = advertisedKeysMessage(ref, keys.id, keys.channelPublicKey, keys.maskPublicKey)
      if (!this.#identity.verify(keys.id, signed, keys.signature)) {
        throw new MessageRejectedError(
          'bad-signature',
          `the keys given for ${keys.id} are not signed by ${keys.id}'s identity: the server altered or substituted them`,
        )
      }
      try {
        const channelShared = this.#keyAgreement.sharedSecret(secrets.channelSecret, keys.channelPublicKey)
        const maskShared = this.#keyAgreement.sharedSecret(secrets.maskSecret, keys.maskPublicKey)
        const [lower, higher] = this.#index < index ? [this.id, keys.id] : [keys.id, this.id]
        peers.set(keys.id, { index, channelShared, pairSeed: pairMaskSeed(maskShared, ref, lower, higher) })
      } catch (cause) {
        throw new MessageRejectedError('invalid-key', `the keys of ${keys.id} give no X25519 shared secret`, { cause })
      }
    }
    return peers
  }

  #openBundle(bundle: RoutedSharesMessage['bundles'][number]): HeldShares {
    if (bundle.recipient !== this.id) {
      throw new MessageRejectedError(
        'misaddressed',
        `bundle from ${bundle.sender} is addressed to ${bundle.recipient}, this client is ${this.id}`,
      )
    }
    const ref = this.#ref()
    const key = channelKey(this.#peers.get(bundle.sender)!.channelShared, ref, bundle.sender, this.id)
    const plaintext = openBundle(key, bundle.nonce, ref, bundle.sender, this.id, bundle.ciphertext)
    if (plaintext.length !== BUNDLE_PLAINTEXT_BYTES) {
      throw new MessageRejectedError(
        'wrong-length',
        `bundle from ${bundle.sender} holds ${plaintext.length} bytes, expected ${BUNDLE_PLAINTEXT_BYTES}`,
      )
    }
    const selfMaskSeed = plaintext.slice(0, SHARE_BYTES)
    const maskKey = plaintext.slice(SHARE_BYTES)
    try {
      shareValueFromBytes(selfMaskSeed)
      shareValueFromBytes(maskKey)
    } catch (cause) {
      throw new MessageRejectedError('wrong-length', `bundle from ${bundle.sender} holds a share outside the field`, { cause })
    }
    return { selfMaskSeed, maskKey }
  }

  #checkUnmaskRequest(request: UnmaskRequestMessage): void {
    const dropped = distinctIds(request.dropped, 'dropped')
    const survivors = distinctIds(request.survivors, 'survivors')
    for (const id of survivors) {
      if (dropped.has(id)) {
        throw new MessageRejectedError(
          'conflicting-request',
          `unmask request names ${id} both dropped and alive: answering would reveal both of its secrets`,
        )
      }
    }
    for (const id of [...dropped, ...survivors]) {
      if (id === this.id) throw new MessageRejectedError('conflicting-request', `unmask request asks ${this.id} about itself`)
      if (this.#partners.has(id)) continue
      if (survivors.has(id) && this.#neighbours.has(id)) {
        throw new MessageRejectedError(
          'conflicting-request',
          `unmask request asks for the self-mask seed share of ${id}, which the server reported dropped before the ` +
            'share exchange',
        )
      }
      throw new MessageRejectedError('not-neighbour', `unmask request names ${id}, not a masking partner of ${this.id}`)
    }
  }
}

function distinctIds(ids: readonly string[], list: string): Set<string> {
  const set = new Set(ids)
  if (set.size !== ids.length) {
    const repeated = ids.find((id, i) => ids.indexOf(id) !== i)
    throw new MessageRejectedError('duplicate', `unmask request lists ${repeated} twice among the ${list}`)
  }
  return set
}

function checkLength(length: number, expected: number): void {
  if (length !== expected) throw new RangeError(`input has ${length} coordinates, the round expects ${expected}`)
}

/** The security and arithmetic conditions every client insists on, whatever the server proposes. */
function checkParams(params: RoundParams): void {
  const insecure = (why: string) => new MessageRejectedError('insecure-params', `setup refused: ${why}`)
  if (params.modulusBits !== MODULUS_BITS) {
    throw new MessageRejectedError(
      'wrong-modulus',
      `setup uses modulus 2^${params.modulusBits}, this client computes mod 2^${MODULUS_BITS}`,
    )
  }
  const { clients, degree, threshold, vectorLength } = params
  if (!Number.isInteger(clients) || clients < 2) throw insecure(`clients must be an integer >= 2, got ${clients}`)
  if (!Number.isInteger(degree) || degree < 1 || degree > clients - 1) {
    throw insecure(`degree must be an integer in [1, ${clients - 1}], got ${degree}`)
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > degree) {
    throw insecure(`threshold must be an integer in [1, degree ${degree}], got ${threshold}`)
  }
  if (2 * threshold <= degree) {
    throw insecure(
      `threshold ${threshold} must exceed half the degree ${degree}, or the server could collect shares of both ` +
        "secrets of a client from its honest neighbours' answers",
    )
  }
  if (!Number.isInteger(vectorLength) || vectorLength < 1) {
    throw insecure(`vectorLength must be a positive integer, got ${vectorLength}`)
  }
  if (params.graphSeed.length !== KEY_BYTES) throw insecure(`graphSeed must be ${KEY_BYTES} bytes, got ${params.graphSeed.length}`)
  try {
    checkQuantization(params, clients)
  } catch (cause) {
    throw new MessageRejectedError('insecure-params', `setup refused: ${(cause as Error).message}`, { cause })
  }
}

/** The neighbour list must have exactly `degree` distinct other clients with distinct indices in range. */
function checkNeighbours(setup: SetupMessage, selfId: string): Map<string, number> {
  const { clients, degree } = setup.params
  if (!Number.isInteger(setup.clientIndex) || setup.clientIndex < 0 || setup.clientIndex >= clients) {
    throw new MessageRejectedError('insecure-params', `clientIndex must be in [0, ${clients - 1}], got ${setup.clientIndex}`)
  }
  if (setup.neighbours.length !== degree) {
    throw new MessageRejectedError(
      'insecure-params',
      `setup lists ${setup.neighbours.length} neighbours, the degree is ${degree}`,
    )
  }
  const byId = new Map<string, number>()
  const indices = new Set<number>([setup.clientIndex])
  for (const { id, index } of setup.neighbours) {
    if (id === selfId) throw new MessageRejectedError('not-neighbour', `setup lists ${selfId} as its own neighbour`)
    if (!Number.isInteger(index) || index < 0 || index >= clients) {
      throw new MessageRejectedError('insecure-params', `neighbour ${id} has index ${index}, outside [0, ${clients - 1}]`)
    }
    if (byId.has(id) || indices.has(index)) {
      throw new MessageRejectedError('duplicate', `setup lists neighbour ${id} (index ${index}) twice`)
    }
    byId.set(id, index)
    indices.add(index)
  }
  return byId
}
