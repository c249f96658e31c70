// The server's side of a SecAgg+ round: routes keys and shares between neighbours, collects masked inputs, and
// rebuilds just enough secrets to remove the masks from their sum. A state machine with one method per phase.
// Over 500 lines on purpose: SecAgg+'s server is one state machine whose phases (keys, shares, masked inputs,
// unmasking) check each other's invariants; split by phase, each file would need the whole state.
import { bytesToHex } from '@noble/hashes/utils.js'
import { bytesEqual } from './bytes.js'
import type { SecAggComponents } from './components.js'
import {
  COMMITMENT_BYTES,
  KEY_BYTES,
  type KeyAgreement,
  NONCE_BYTES,
  nobleX25519,
  pairMaskSeed,
  type RoundRef,
  SECAGG_PROTOCOL_VERSION,
  sealedLength,
  selfMaskCommitment,
} from './crypto.js'
import { checkJobAndRound, MessageRejectedError, RoundAbortedError } from './errors.js'
import { drawSecAggGraph } from './graph.js'
import type {
  AdvertiseKeysMessage,
  MaskedInputMessage,
  NeighbourKeysMessage,
  RoundParams,
  RoutedSharesMessage,
  SecretKind,
  SetupMessage,
  ShareBundle,
  ShareKeysMessage,
  UnmaskRequestMessage,
  UnmaskResponseMessage,
} from './messages.js'
import type { SecAggPlan } from './plan.js'
import { applyMask, PRG_NONCES } from './prg.js'
import { checkQuantization, dequantizeSum, MODULUS_BITS } from './quantize.js'
import { systemRandomBytes } from './random.js'
import { combineShares, SHARE_BYTES, type Share, shareValueFromBytes } from './shamir.js'

/** One round as the server runs it. */
export interface SecAggServerInit {
  readonly jobId: string
  readonly round: number
  /** Client ids; a client's index in this list fixes its Shamir point (index + 1) and its mask signs. */
  readonly clients: readonly string[]
  /** Degree, threshold and quantization, from `planSecAgg` (its `clients` must equal `clients.length`). */
  readonly plan: SecAggPlan
  /** Coordinates per input vector. */
  readonly vectorLength: number
  /** 32-byte graph seed; default: drawn from the server's random source. */
  readonly graphSeed?: Uint8Array
}

/** The aggregate of one round. */
export interface AggregateResult {
  /** Sum of the survivors' quantized inputs in Z_{2^32} (exact). */
  readonly sum: Uint32Array
  /** Clients whose inputs are in the sum. */
  readonly count: number
  /** Their ids, in client-list order. */
  readonly survivors: readonly string[]
  /** The sum dequantized to floats. */
  readonly total: Float32Array
  /** total / count. */
  readonly mean: Float32Array
}

/** An expected outcome: the phase's result, or why the round had to stop. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RoundAbortedError }

type ServerPhase = 'keys' | 'shares' | 'masked-inputs' | 'unmasking' | 'done'

interface AdvertisedKeys {
  readonly channelPublicKey: Uint8Array
  readonly maskPublicKey: Uint8Array
  readonly signature: Uint8Array
  readonly selfMaskCommitment: Uint8Array
}

interface CollectedShares {
  readonly selfMaskSeed: Share[]
  readonly maskKey: Share[]
}

interface UnmaskAsk {
  readonly dropped: ReadonlySet<number>
  readonly survivors: ReadonlySet<number>
}

/** Longest client id, in UTF-8 bytes (matches the wire codec's limit). */
const MAX_ID_BYTES = 256
const BUNDLE_CIPHERTEXT_BYTES = sealedLength(2 * SHARE_BYTES)

/**
 * The server of one SecAgg+ round. Call, in order: `setup()`; `receiveKeys(m)` per client, `closeKeyPhase()`;
 * `receiveShares(m)` per client, `closeSharePhase()`; `receiveMaskedInput(m)` per client, `closeMaskedInputPhase()`;
 * `receiveUnmask(m)` per client, `finalize()`. A client that misses a phase is treated as dropped from then on.
 * `receive*` methods check the message and throw MessageRejectedError (with a `reason`) without changing state. Each
 * takes `from`, the client the transport asked (the authenticated peer): a message whose sender differs is refused
 * (`wrong-sender`), so no client can answer as another.
 */
export class SecAggServer {
  readonly jobId: string
  readonly round: number
  /** The parameters sent to every client. */
  readonly params: RoundParams
  readonly #plan: SecAggPlan
  readonly #keyAgreement: KeyAgreement
  readonly #ids: readonly string[]
  readonly #indexOf = new Map<string, number>()
  readonly #graph: number[][]
  #phase: ServerPhase = 'keys'
  readonly #keys = new Map<number, AdvertisedKeys>()
  /** Every advertised public key (hex): Bonawitz et al. require all keys of a round to differ. */
  readonly #keysInUse = new Set<string>()
  #advertised = new Set<number>()
  #sharers = new Set<number>()
  #inputs = new Set<number>()
  readonly #bundles = new Map<number, ShareBundle[]>()
  readonly #masked = new Map<number, Uint32Array>()
  readonly #asks = new Map<number, UnmaskAsk>()
  readonly #collected = new Map<number, CollectedShares>()
  readonly #answered = new Set<number>()

  /** @throws RangeError naming a bad argument (client list, plan, vector length, seed). */
  constructor(init: SecAggServerInit, components: SecAggComponents = {}) {
    const { clients, plan } = init
    if (clients.length !== plan.clients) {
      throw new RangeError(`the plan is for ${plan.clients} clients, the client list has ${clients.length}`)
    }
    if (!Number.isInteger(init.round) || init.round < 0 || init.round > 0xffffffff) {
      throw new RangeError(`round must be a uint32, got ${init.round}`)
    }
    if (!Number.isInteger(init.vectorLength) || init.vectorLength < 1) {
      throw new RangeError(`vectorLength must be a positive integer, got ${init.vectorLength}`)
    }
    checkQuantization(plan, plan.clients)
    clients.forEach((id, index) => {
      if (id.length === 0 || new TextEncoder().encode(id).length > MAX_ID_BYTES) {
        throw new RangeError(`client ids must be 1 to ${MAX_ID_BYTES} UTF-8 bytes, got ${JSON.stringify(id)}`)
      }
      if (this.#indexOf.has(id)) throw new RangeError(`client id ${id} appears twice in the client list`)
      this.#indexOf.set(id, index)
    })
    const randomBytes = components.randomBytes ?? systemRandomBytes
    const graphSeed = init.graphSeed ?? randomBytes(KEY_BYTES)
    this.#graph = drawSecAggGraph(clients.length, plan.degree, graphSeed)
    this.jobId = init.jobId
    this.round = init.round
    this.#plan = plan
    this.#ids = [...clients]
    this.#keyAgreement = components.keyAgreement ?? nobleX25519
    this.params = Object.freeze({
      clients: plan.clients,
      degree: plan.degree,
      threshold: plan.threshold,
      bits: plan.bits,
      clip: plan.clip,
      modulusBits: MODULUS_BITS,
      vectorLength: init.vectorLength,
      graphSeed: graphSeed.slice(),
    })
  }

  /** Phase 0: the setup message of every client (parameters and its neighbours). */
  setup(): SetupMessage[] {
    return this.#ids.map((clientId, clientIndex) => ({
      type: 'setup',
      version: SECAGG_PROTOCOL_VERSION,
      jobId: this.jobId,
      round: this.round,
      clientId,
      clientIndex,
      params: this.params,
      neighbours: this.#graph[clientIndex]!.map((index) => ({ id: this.#ids[index]!, index })),
    }))
  }

  /**
   * Phase 1: records a client's two public keys, their signature (forwarded to its neighbours, which check it) and its
   * self-mask seed commitment.
   * @throws MessageRejectedError (`wrong-sender`, `wrong-job`, `wrong-round`, `unknown-client`, `wrong-phase`,
   * `duplicate`, `invalid-key`, `wrong-length`).
   */
  receiveKeys(message: AdvertiseKeysMessage, from: string): void {
    const sender = this.#checkSender('keys', message, message.sender, from, 'keys', undefined)
    if (this.#keys.has(sender)) throw duplicateFrom('keys', message.sender)
    const advertised = [message.channelPublicKey, message.maskPublicKey]
    for (const key of advertised) {
      if (key.length !== KEY_BYTES) {
        throw new MessageRejectedError('invalid-key', `a key of ${message.sender} has ${key.length} bytes, expected ${KEY_BYTES}`)
      }
    }
    if (message.selfMaskCommitment.length !== COMMITMENT_BYTES) {
      throw new MessageRejectedError(
        'wrong-length',
        `the self-mask commitment of ${message.sender} has ${message.selfMaskCommitment.length} bytes, expected ${COMMITMENT_BYTES}`,
      )
    }
    const hexes = advertised.map(bytesToHex)
    if (hexes[0] === hexes[1] || hexes.some((hex) => this.#keysInUse.has(hex))) {
      throw new MessageRejectedError('invalid-key', `${message.sender} advertised a key that is already in use this round`)
    }
    for (const hex of hexes) this.#keysInUse.add(hex)
    const { channelPublicKey, maskPublicKey, signature } = message
    this.#keys.set(sender, { channelPublicKey, maskPublicKey, signature, selfMaskCommitment: message.selfMaskCommitment })
  }

  /**
   * Ends phase 1. The clients that advertised keys stay in the round, less any left with fewer than t live
   * neighbours (their secrets could never be rebuilt), repeated until every remaining client has t.
   * @returns one message per remaining client with its live neighbours' keys.
   */
  closeKeyPhase(): NeighbourKeysMessage[] {
    this.#advance('keys', 'shares')
    this.#advertised = this.#keepWellConnected(new Set(this.#keys.keys()))
    return [...this.#advertised].sort(byNumber).map((client) => ({
      type: 'neighbour-keys',
      jobId: this.jobId,
      round: this.round,
      recipient: this.#ids[client]!,
      keys: this.#liveNeighbours(client, this.#advertised).map((peer) => {
        const { channelPublicKey, maskPublicKey, signature } = this.#keys.get(peer)!
        return { id: this.#ids[peer]!, channelPublicKey, maskPublicKey, signature }
      }),
    }))
  }

  /**
   * Phase 2: records a client's sealed share bundles, one for each of its live neighbours.
   * @throws MessageRejectedError (`wrong-sender`, `wrong-job`, `wrong-round`, `unknown-client`, `wrong-phase`,
   * `excluded`, `duplicate`, `misaddressed`, `wrong-length`, `incomplete`).
   */
  receiveShares(message: ShareKeysMessage, from: string): void {
    const sender = this.#checkSender('shares', message, message.sender, from, 'shares', this.#advertised)
    if (this.#bundles.has(sender)) throw duplicateFrom('shares', message.sender)
    const expected = new Set(this.#liveNeighbours(sender, this.#advertised))
    const seen = new Set<number>()
    for (const bundle of message.bundles) {
      const recipient = this.#indexOf.get(bundle.recipient)
      if (bundle.sender !== message.sender || recipient === undefined || !expected.has(recipient)) {
        throw new MessageRejectedError(
          'misaddressed',
          `${message.sender} sent a bundle from ${bundle.sender} to ${bundle.recipient}; bundles must come from the ` +
            'sender and go to its live neighbours',
        )
      }
      if (seen.has(recipient)) throw new MessageRejectedError('duplicate', `${message.sender} sent two bundles to ${bundle.recipient}`)
      seen.add(recipient)
      if (bundle.nonce.length !== NONCE_BYTES || bundle.ciphertext.length !== BUNDLE_CIPHERTEXT_BYTES) {
        throw new MessageRejectedError(
          'wrong-length',
          `bundle from ${message.sender} to ${bundle.recipient} has a ${bundle.nonce.length}-byte nonce and a ` +
            `${bundle.ciphertext.length}-byte ciphertext, expected ${NONCE_BYTES} and ${BUNDLE_CIPHERTEXT_BYTES}`,
        )
      }
    }
    if (seen.size !== expected.size) {
      throw new MessageRejectedError(
        'incomplete',
        `${message.sender} sent ${seen.size} bundles, it has ${expected.size} live neighbours`,
      )
    }
    this.#bundles.set(sender, [...message.bundles])
  }

  /**
   * Ends phase 2: the clients that sent their bundles (again less those left with fewer than t such neighbours) get
   * the bundles their neighbours addressed to them.
   */
  closeSharePhase(): RoutedSharesMessage[] {
    this.#advance('shares', 'masked-inputs')
    this.#sharers = this.#keepWellConnected(new Set(this.#bundles.keys()))
    const inbox = new Map<number, ShareBundle[]>([...this.#sharers].map((client) => [client, []]))
    for (const sender of this.#sharers) {
      for (const bundle of this.#bundles.get(sender)!) inbox.get(this.#indexOf.get(bundle.recipient)!)?.push(bundle)
    }
    this.#bundles.clear()
    return [...inbox].sort(([a], [b]) => a - b).map(([client, bundles]) => ({
      type: 'routed-shares',
      jobId: this.jobId,
      round: this.round,
      recipient: this.#ids[client]!,
      bundles,
    }))
  }

  /**
   * Phase 3: records a client's masked input.
   * @throws MessageRejectedError (`wrong-sender`, `wrong-job`, `wrong-round`, `unknown-client`, `wrong-phase`,
   * `excluded`, `duplicate`, `wrong-modulus`, `wrong-bits`, `wrong-length`).
   */
  receiveMaskedInput(message: MaskedInputMessage, from: string): void {
    const sender = this.#checkSender('masked input', message, message.sender, from, 'masked-inputs', this.#sharers)
    if (this.#masked.has(sender)) throw duplicateFrom('masked input', message.sender)
    if (message.modulusBits !== MODULUS_BITS) {
      throw new MessageRejectedError(
        'wrong-modulus',
        `masked input from ${message.sender} claims modulus 2^${message.modulusBits}, the round uses 2^${MODULUS_BITS}`,
      )
    }
    if (message.bits !== this.params.bits) {
      throw new MessageRejectedError(
        'wrong-bits',
        `masked input from ${message.sender} claims ${message.bits} fixed-point bits, the round uses ${this.params.bits}`,
      )
    }
    if (message.vector.length !== this.params.vectorLength) {
      throw new MessageRejectedError(
        'wrong-length',
        `masked input from ${message.sender} has ${message.vector.length} coordinates, the round has ${this.params.vectorLength}`,
      )
    }
    this.#masked.set(sender, message.vector)
  }

  /**
   * Ends phase 3. Before anyone reveals a share, checks that every secret the unmasking will need has at least t
   * holders still in the round; otherwise the round stops here.
   * @returns one request per client that sent a masked input, or the abort (`no-inputs`, `below-threshold`).
   */
  closeMaskedInputPhase(): Outcome<UnmaskRequestMessage[]> {
    this.#advance('masked-inputs', 'unmasking')
    this.#inputs = new Set(this.#masked.keys())
    const abort = this.#inputs.size === 0 ? abortNoInputs() : this.#checkHolders()
    if (abort !== undefined) {
      this.#phase = 'done'
      return { ok: false, error: abort }
    }
    const requests = [...this.#inputs].sort(byNumber).map((client): UnmaskRequestMessage => {
      const neighbours = this.#liveNeighbours(client, this.#sharers)
      const dropped = neighbours.filter((peer) => !this.#inputs.has(peer))
      const survivors = neighbours.filter((peer) => this.#inputs.has(peer))
      this.#asks.set(client, { dropped: new Set(dropped), survivors: new Set(survivors) })
      return {
        type: 'unmask-request',
        jobId: this.jobId,
        round: this.round,
        recipient: this.#ids[client]!,
        dropped: dropped.map((peer) => this.#ids[peer]!),
        survivors: survivors.map((peer) => this.#ids[peer]!),
      }
    })
    return { ok: true, value: requests }
  }

  /**
   * Phase 4: records a client's shares, each of which must be of the kind asked for.
   * @throws MessageRejectedError (`wrong-sender`, `wrong-job`, `wrong-round`, `unknown-client`, `wrong-phase`,
   * `excluded`, `duplicate`, `unexpected-share`, `wrong-length`).
   */
  receiveUnmask(message: UnmaskResponseMessage, from: string): void {
    const sender = this.#checkSender('unmask response', message, message.sender, from, 'unmasking', this.#inputs)
    if (this.#answered.has(sender)) throw duplicateFrom('unmask response', message.sender)
    const ask = this.#asks.get(sender)!
    const owners = new Set<number>()
    const accepted: { owner: number; kind: SecretKind; share: Share }[] = []
    for (const { owner: ownerId, kind, share } of message.shares) {
      const owner = this.#indexOf.get(ownerId)
      const askedKind = owner === undefined ? undefined : ask.dropped.has(owner) ? 'mask-key' : ask.survivors.has(owner) ? 'self-mask-seed' : undefined
      if (owner === undefined || askedKind !== kind) {
        throw new MessageRejectedError(
          'unexpected-share',
          `${message.sender} sent a ${kind} share of ${ownerId}, which was not asked for` +
            (askedKind === undefined ? '' : ` (the request was for its ${askedKind})`),
        )
      }
      if (owners.has(owner)) throw new MessageRejectedError('duplicate', `${message.sender} sent two shares of ${ownerId}`)
      owners.add(owner)
      accepted.push({ owner, kind, share: { x: sender + 1, y: parseShare(share, message.sender, ownerId) } })
    }
    for (const { owner, kind, share } of accepted) {
      const collected = this.#collectedFor(owner)
      ;(kind === 'mask-key' ? collected.maskKey : collected.selfMaskSeed).push(share)
    }
    this.#answered.add(sender)
  }

  /**
   * Ends the round: rebuilds each survivor's self-mask seed and each needed dropped client's mask key from t shares,
   * and removes all masks from the sum of the masked inputs.
   * @returns the aggregate, or the abort (`below-threshold` naming the secret and its share count against t,
   * `inconsistent-shares`).
   * @throws MessageRejectedError (`wrong-phase`) before the unmasking phase.
   */
  finalize(): Outcome<AggregateResult> {
    this.#advance('unmasking', 'done')
    const shortfall = this.#findShortfall()
    if (shortfall !== undefined) return { ok: false, error: shortfall }
    const sum = new Uint32Array(this.params.vectorLength)
    for (const vector of this.#masked.values()) {
      for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + vector[i]!
    }
    this.#masked.clear()
    try {
      this.#removeSelfMasks(sum)
      this.#removeDroppedPairMasks(sum)
    } catch (error) {
      if (error instanceof RoundAbortedError) return { ok: false, error }
      throw error
    }
    const count = this.#inputs.size
    const total = dequantizeSum(sum, count, this.#plan)
    const mean = total.map((value) => value / count)
    const survivors = [...this.#inputs].sort(byNumber).map((client) => this.#ids[client]!)
    return { ok: true, value: { sum, count, survivors, total, mean } }
  }

  #ref(): RoundRef {
    return { jobId: this.jobId, round: this.round }
  }

  #checkSender(
    what: string,
    message: { readonly jobId: string; readonly round: number },
    senderId: string,
    from: string,
    phase: ServerPhase,
    eligible: ReadonlySet<number> | undefined,
  ): number {
    if (senderId !== from) {
      throw new MessageRejectedError(
        'wrong-sender',
        `${what} from ${from} claims to come from ${senderId}; a client may only answer for itself`,
      )
    }
    checkJobAndRound(`${what} from ${senderId}`, message, this, 'the server')
    const sender = this.#indexOf.get(senderId)
    if (sender === undefined) throw new MessageRejectedError('unknown-client', `${what} from ${senderId}, who is not in the round`)
    if (this.#phase !== phase) {
      throw new MessageRejectedError('wrong-phase', `${what} from ${senderId} arrived in phase ${this.#phase}, expected in ${phase}`)
    }
    if (eligible !== undefined && !eligible.has(sender)) {
      throw new MessageRejectedError(
        'excluded',
        `${what} from ${senderId}, who missed an earlier phase or lost its neighbours and no longer takes part`,
      )
    }
    return sender
  }

  #advance(from: ServerPhase, to: ServerPhase): void {
    if (this.#phase !== from) {
      throw new MessageRejectedError('wrong-phase', `the server is in phase ${this.#phase}; this step closes phase ${from}`)
    }
    this.#phase = to
  }

  #liveNeighbours(client: number, live: ReadonlySet<number>): number[] {
    return this.#graph[client]!.filter((peer) => live.has(peer))
  }

  /** Drops clients with fewer than t live neighbours until none is left with fewer (each drop can starve another). */
  #keepWellConnected(live: Set<number>): Set<number> {
    const threshold = this.#plan.threshold
    let changed = true
    while (changed) {
      changed = false
      for (const client of live) {
        if (this.#liveNeighbours(client, live).length < threshold) {
          live.delete(client)
          changed = true
        }
      }
    }
    return live
  }

  /** Owners whose secrets the unmasking needs, with the kind: survivors' seeds, and keys of dropped sharers with a surviving neighbour. */
  #neededSecrets(): { owner: number; kind: SecretKind }[] {
    const needed: { owner: number; kind: SecretKind }[] = []
    for (const owner of [...this.#sharers].sort(byNumber)) {
      if (this.#inputs.has(owner)) needed.push({ owner, kind: 'self-mask-seed' })
      else if (this.#liveNeighbours(owner, this.#inputs).length > 0) needed.push({ owner, kind: 'mask-key' })
    }
    return needed
  }

  #checkHolders(): RoundAbortedError | undefined {
    const threshold = this.#plan.threshold
    for (const { owner, kind } of this.#neededSecrets()) {
      const holders = this.#liveNeighbours(owner, this.#inputs).length
      if (holders < threshold) {
        return new RoundAbortedError(
          'below-threshold',
          `cannot unmask: only ${holders} neighbours of ${this.#ids[owner]} sent masked inputs, so at most ${holders} ` +
            `shares of its ${kind} are available, threshold is ${threshold}; no share has been requested`,
        )
      }
    }
    return undefined
  }

  #findShortfall(): RoundAbortedError | undefined {
    const threshold = this.#plan.threshold
    for (const { owner, kind } of this.#neededSecrets()) {
      const available = this.#sharesOf(owner, kind).length
      if (available < threshold) {
        return new RoundAbortedError(
          'below-threshold',
          `cannot unmask: ${available} shares of the ${kind} of ${this.#ids[owner]} are available, threshold is ` +
            `${threshold}; the sum stays masked`,
        )
      }
    }
    return undefined
  }

  #sharesOf(owner: number, kind: SecretKind): Share[] {
    const collected = this.#collected.get(owner)
    if (collected === undefined) return []
    return kind === 'mask-key' ? collected.maskKey : collected.selfMaskSeed
  }

  #collectedFor(owner: number): CollectedShares {
    let collected = this.#collected.get(owner)
    if (collected === undefined) {
      collected = { selfMaskSeed: [], maskKey: [] }
      this.#collected.set(owner, collected)
    }
    return collected
  }

  #rebuild(owner: number, kind: SecretKind): Uint8Array {
    try {
      return combineShares(this.#sharesOf(owner, kind).slice(0, this.#plan.threshold), KEY_BYTES)
    } catch (cause) {
      throw new RoundAbortedError('inconsistent-shares', `the shares of the ${kind} of ${this.#ids[owner]} disagree`, {
        cause,
      })
    }
  }

  /** Removes each survivor's self mask, once its rebuilt seed matches the commitment the survivor sent with its keys. */
  #removeSelfMasks(sum: Uint32Array): void {
    const ref = this.#ref()
    for (const owner of this.#inputs) {
      const seed = this.#rebuild(owner, 'self-mask-seed')
      if (!bytesEqual(selfMaskCommitment(seed, ref, this.#ids[owner]!), this.#keys.get(owner)!.selfMaskCommitment)) {
        throw new RoundAbortedError(
          'inconsistent-shares',
          `the rebuilt self-mask seed of ${this.#ids[owner]} does not match its commitment: a neighbour sent a wrong share`,
        )
      }
      applyMask(sum, seed, PRG_NONCES.selfMask, -1)
    }
  }

  /** Each surviving neighbour v of a dropped client u added sign(v, u) * PRG(s_uv); take those terms back out. */
  #removeDroppedPairMasks(sum: Uint32Array): void {
    const ref = this.#ref()
    for (const { owner, kind } of this.#neededSecrets()) {
      if (kind !== 'mask-key') continue
      const maskSecret = this.#rebuild(owner, 'mask-key')
      const advertised = this.#keys.get(owner)!.maskPublicKey
      if (!bytesEqual(this.#keyAgreement.publicKey(maskSecret), advertised)) {
        throw new RoundAbortedError(
          'inconsistent-shares',
          `the rebuilt mask key of ${this.#ids[owner]} does not match the key it advertised`,
        )
      }
      for (const peer of this.#liveNeighbours(owner, this.#inputs)) {
        const shared = this.#keyAgreement.sharedSecret(maskSecret, this.#keys.get(peer)!.maskPublicKey)
        const [lower, higher] = peer < owner ? [peer, owner] : [owner, peer]
        const seed = pairMaskSeed(shared, ref, this.#ids[lower]!, this.#ids[higher]!)
        applyMask(sum, seed, PRG_NONCES.pairMask, peer < owner ? -1 : 1)
      }
    }
  }
}

function byNumber(a: number, b: number): number {
  return a - b
}

function duplicateFrom(what: string, sender: string): MessageRejectedError {
  return new MessageRejectedError('duplicate', `a second ${what} message from ${sender}; the first one stands`)
}

function abortNoInputs(): RoundAbortedError {
  return new RoundAbortedError('no-inputs', 'no client sent a masked input; there is nothing to aggregate')
}

function parseShare(bytes: Uint8Array, sender: string, owner: string): bigint {
  try {
    return shareValueFromBytes(bytes)
  } catch (cause) {
    throw new MessageRejectedError('wrong-length', `${sender} sent a malformed share of ${owner}: ${(cause as Error).message}`, {
      cause,
    })
  }
}
