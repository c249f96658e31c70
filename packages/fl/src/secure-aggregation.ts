// Secure aggregation in federated rounds: the coordinator's driver of one SecAgg+ session per round attempt, and
// the client's sessions. Transport-free: the coordinator reaches clients through CoordinatorTransport.secagg and
// receives masked inputs through Coordinator.deliverMasked; a mesh node and the simulator both plug in here.
import { abortAfter } from '@weft/protocol'
import {
  type KeyAgreement,
  type MaskedInputMessage,
  MessageRejectedError,
  planSecAgg,
  SecAggClient,
  type SecAggComponents,
  type SecAggIdentity,
  type SecAggMessage,
  type SecAggPlan,
  SecAggServer,
} from '@weft/secagg'
import { systemClock, timeoutSignal } from './clock.js'
import type { Clock } from './contracts/clock.js'
import type { SecureTaskHint } from './contracts/strategy.js'
import type { SecAggTransport } from './contracts/transport.js'
import { type JobSpec, minResults } from './job-spec.js'
import type { SecureAggregationConfig } from './privacy.js'

/** A secure session's id on the wire: the round and the attempt at it (an aborted round is run again). */
export function secureSessionId(round: number, attempt: number): number {
  if (attempt < 0 || attempt >= SECURE_ATTEMPTS) throw new RangeError(`attempt must be in [0, ${SECURE_ATTEMPTS}), got ${attempt}`)
  return round * SECURE_ATTEMPTS + attempt
}

/** Attempts at one round before the job fails. */
export const SECURE_ATTEMPTS = 4

/** The round a session id belongs to. */
export function roundOfSession(session: number): number {
  return Math.floor(session / SECURE_ATTEMPTS)
}

/** What one secure round produced. */
export interface SecureSumResult {
  /** Dequantized Σ over the survivors of (weight × update). */
  readonly total: Float32Array
  readonly survivors: readonly string[]
  /** Bytes of the protocol's own messages (keys, shares, unmasking), both ways. */
  readonly protocolBytes: number
  readonly plan: SecAggPlan
}

/**
 * The coordinator's side of one attempt at a secure round. `start` runs key advertisement and share exchange with
 * every participant (in parallel with their training); masked inputs then arrive through `receiveMasked`; `finish`
 * asks the survivors for the shares that remove the masks.
 */
export class SecureRound {
  readonly session: number
  readonly plan: SecAggPlan
  readonly vectorLength: number
  readonly #server: SecAggServer
  readonly #transport: SecAggTransport
  readonly #phaseMs: number
  readonly #signal: AbortSignal
  readonly #clock: Clock
  #protocolBytes = 0
  /** Clients that completed the share exchange: only they may send a masked input. */
  readonly ready = new Set<string>()
  /** Clients that failed a phase, with the reason. */
  readonly failed = new Map<string, string>()

  constructor(init: {
    jobId: string
    round: number
    attempt: number
    participants: readonly string[]
    config: SecureAggregationConfig
    vectorLength: number
    transport: SecAggTransport
    phaseMs: number
    signal: AbortSignal
    /** Times each phase (default the system clock). */
    clock?: Clock
    components?: SecAggComponents
  }) {
    this.session = secureSessionId(init.round, init.attempt)
    this.plan = planSecAgg({
      clients: init.participants.length,
      dropoutRate: init.config.dropoutRate,
      corruptRate: init.config.corruptRate,
      clip: init.config.clip,
      ...(init.config.bits === undefined ? {} : { bits: init.config.bits }),
    })
    this.vectorLength = init.vectorLength
    this.#server = new SecAggServer(
      { jobId: init.jobId, round: this.session, clients: init.participants, plan: this.plan, vectorLength: init.vectorLength },
      init.components ?? {},
    )
    this.#transport = init.transport
    this.#phaseMs = init.phaseMs
    this.#signal = init.signal
    this.#clock = init.clock ?? systemClock
  }

  /**
   * Sends each message to its client and feeds the replies to `accept` with the client asked: the server attributes a
   * reply to that client, never to the sender the reply names (a reply claiming another sender fails the client asked).
   * A client that fails is recorded with the reason.
   */
  async #exchange(
    messages: readonly SecAggMessage[],
    recipientOf: (m: SecAggMessage) => string,
    accept?: (reply: SecAggMessage, from: string) => void,
  ): Promise<void> {
    const signal = timeoutSignal(this.#clock, this.#phaseMs, this.#signal)
    await Promise.all(
      messages.map(async (message) => {
        const client = recipientOf(message)
        const r = await this.#transport.secagg(client, message, signal)
        if (!r.ok) {
          this.failed.set(client, r.reason)
          return
        }
        this.#protocolBytes += r.bytes
        if (accept === undefined) return
        if (r.reply === undefined) {
          this.failed.set(client, 'no reply')
          return
        }
        try {
          accept(r.reply, client)
        } catch (err) {
          this.failed.set(client, err instanceof MessageRejectedError ? `${err.reason}: ${err.message}` : (err as Error).message)
        }
      }),
    )
  }

  /** Phases 0-2: keys and shares. Resolves with the clients that may send a masked input. */
  async start(): Promise<ReadonlySet<string>> {
    const setup = this.#server.setup()
    await this.#exchange(setup, (m) => (m as { clientId: string }).clientId, (reply, from) => {
      if (reply.type !== 'advertise-keys') throw new Error(`expected advertise-keys, got ${reply.type}`)
      this.#server.receiveKeys(reply, from)
    })
    await this.#exchange(this.#server.closeKeyPhase(), (m) => (m as { recipient: string }).recipient, (reply, from) => {
      if (reply.type !== 'share-keys') throw new Error(`expected share-keys, got ${reply.type}`)
      this.#server.receiveShares(reply, from)
    })
    const routed = this.#server.closeSharePhase()
    // Ready before the bundles go out: a client that already trained masks and sends the moment its shares land,
    // which can beat the acknowledgement of the message that carried them.
    for (const m of routed) this.ready.add(m.recipient)
    await this.#exchange(routed, (m) => (m as { recipient: string }).recipient)
    return this.ready
  }

  /**
   * Phase 3: one client's masked input, from the peer that sent it.
   * @throws MessageRejectedError with the reason (another sender, wrong length, session, duplicate, not in the round)
   */
  receiveMasked(message: MaskedInputMessage, from: string): void {
    if (!this.ready.has(from)) throw new MessageRejectedError('wrong-phase', `${from} did not complete the share exchange of session ${this.session}`)
    this.#server.receiveMaskedInput(message, from)
  }

  /** Phase 4 and the sum; `ok: false` when too few shares came back (nothing individual is revealed). */
  async finish(): Promise<{ ok: true; value: SecureSumResult } | { ok: false; reason: string }> {
    const requests = this.#server.closeMaskedInputPhase()
    if (!requests.ok) return { ok: false, reason: requests.error.message }
    await this.#exchange(requests.value, (m) => (m as { recipient: string }).recipient, (reply, from) => {
      if (reply.type !== 'unmask-response') throw new Error(`expected unmask-response, got ${reply.type}`)
      this.#server.receiveUnmask(reply, from)
    })
    const result = this.#server.finalize()
    if (!result.ok) return { ok: false, reason: result.error.message }
    return { ok: true, value: { total: result.value.total, survivors: result.value.survivors, protocolBytes: this.#protocolBytes, plan: this.plan } }
  }
}

interface Deferred {
  readonly promise: Promise<void>
  resolve(): void
}

/** A promise with its resolver (Promise.withResolvers, which this browser-safe package cannot assume). */
function deferred(): Deferred {
  let resolve = (): void => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** What a client's sessions need beyond its id. */
export interface SecureClientComponents {
  /** X25519 (default: @noble/curves). */
  readonly keyAgreement?: KeyAgreement
  /** The client's signing identity and its check of the neighbours' (on a mesh: the node's peer-id key). */
  readonly identity: SecAggIdentity
  /**
   * The fewest clients a session of this job may have (the job's minimum from the spec the client holds); undefined
   * for a job the client does not know, whose setup is refused.
   */
  readonly minClients: (jobId: string) => number | undefined
}

/**
 * The fewest clients a secure session of a job may have, as its clients check it: the job's minimum results per
 * round (never below 2), which the coordinator also needs before it unmasks.
 */
export function secureCohortMinimum(spec: JobSpec): number {
  return Math.max(2, minResults(spec))
}

/** A client's secure-aggregation sessions, across jobs: one SecAggClient per (job, session). */
export class SecureClientSessions {
  readonly #id: string
  readonly #components: SecAggComponents
  readonly #minClients: (jobId: string) => number | undefined
  /** Sessions by job and id; a session a finished training waits for exists before its setup arrives (no client yet). */
  readonly #sessions = new Map<string, { jobId: string; session: number; client?: SecAggClient; sharesIn: Deferred; ready: boolean }>()

  constructor(id: string, components: SecureClientComponents) {
    this.#id = id
    this.#components = {
      identity: components.identity,
      ...(components.keyAgreement === undefined ? {} : { keyAgreement: components.keyAgreement }),
    }
    this.#minClients = components.minClients
  }

  #key(jobId: string, session: number): string {
    return `${jobId}/${session}`
  }

  /**
   * Handles a message from the job's coordinator: setup → advertised keys, neighbour keys → share bundles, routed
   * shares → nothing (the client is then ready to mask), unmask request → shares. A setup for a cohort smaller than
   * the job's minimum is refused (`cohort-too-small`), and so are neighbours' keys not signed by those neighbours.
   * @throws MessageRejectedError when the message is wrong for the session's state
   */
  handle(message: SecAggMessage): SecAggMessage | undefined {
    const key = this.#key(message.jobId, message.round)
    if (message.type === 'setup') {
      const waiting = this.#sessions.get(key)
      if (waiting?.client !== undefined) throw new MessageRejectedError('duplicate', `session ${message.round} of job ${message.jobId} already set up`)
      const minClients = this.#minClients(message.jobId)
      if (minClients === undefined) throw new MessageRejectedError('wrong-job', `setup for job ${message.jobId}, which this client has not joined`)
      const client = new SecAggClient({ id: this.#id, jobId: message.jobId, round: message.round, minClients }, this.#components)
      const reply = client.advertiseKeys(message)
      if (waiting === undefined) this.#sessions.set(key, { jobId: message.jobId, session: message.round, client, sharesIn: deferred(), ready: false })
      else waiting.client = client
      this.#forgetOld(message.jobId, message.round)
      return reply
    }
    const session = this.#sessions.get(key)
    if (session?.client === undefined) throw new MessageRejectedError('wrong-round', `no session ${message.round} of job ${message.jobId} here`)
    switch (message.type) {
      case 'neighbour-keys':
        return session.client.shareKeys(message)
      case 'routed-shares':
        session.client.receiveShares(message)
        session.ready = true
        session.sharesIn.resolve()
        return undefined
      case 'unmask-request': {
        const reply = session.client.unmask(message)
        this.#sessions.delete(key)
        return reply
      }
      default:
        throw new MessageRejectedError('wrong-phase', `a client does not take ${message.type} messages`)
    }
  }

  /**
   * Masks a client's (weighted, clipped) update once its shares are in.
   * @throws Error when the shares do not arrive within `timeoutMs`, or the session is unknown
   */
  async mask(jobId: string, session: number, input: Float32Array, timeoutMs: number, signal?: AbortSignal): Promise<MaskedInputMessage> {
    const key = this.#key(jobId, session)
    let s = this.#sessions.get(key)
    if (s === undefined) {
      // Training can finish before the coordinator's setup arrives: wait for the whole exchange.
      s = { jobId, session, sharesIn: deferred(), ready: false }
      this.#sessions.set(key, s)
    }
    if (!s.ready) {
      const timeout = abortAfter(timeoutMs, signal)
      await Promise.race([
        s.sharesIn.promise,
        new Promise((_, reject) => timeout.addEventListener('abort', () => reject(new Error(`shares of session ${session} did not arrive within ${timeoutMs} ms`)), { once: true })),
      ])
    }
    if (s.client === undefined) throw new Error(`secure session ${session} of job ${jobId} was never set up`)
    return s.client.maskInput(input)
  }

  /** Forgets the job's sessions of earlier rounds (they can no longer complete). */
  #forgetOld(jobId: string, session: number): void {
    for (const [key, s] of this.#sessions) if (s.jobId === jobId && roundOfSession(s.session) < roundOfSession(session)) this.#sessions.delete(key)
  }

  /** Drops every session of a job (it ended or the node left it). */
  forgetJob(jobId: string): void {
    for (const [key, s] of this.#sessions) if (s.jobId === jobId) this.#sessions.delete(key)
  }
}

/**
 * The vector a client masks: weight × its (clipped) update, then, under adaptive DP clipping, the clip bit scaled
 * to the quantization range (so it survives clipping to ±range and can be read back from the sum).
 */
export function secureInput(delta: Float32Array, hint: SecureTaskHint, withinClip: boolean | undefined, range: number): Float32Array {
  const out = new Float32Array(delta.length + (hint.clipBit ? 1 : 0))
  for (let i = 0; i < delta.length; i++) out[i] = (delta[i] as number) * hint.weight
  if (hint.clipBit) out[delta.length] = withinClip === false ? 0 : range
  return out
}
