// A whole SecAgg+ round in one process (server and clients, every message through the wire codec), with dropouts on
// demand: for tests, examples and benchmarks. Not a deployment: the parties share memory and a clock.
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { SecAggClient } from './client.js'
import { attachMaskedVector, decodeSecAggMessage, encodeMaskedInputHeader, encodeSecAggMessage, SECAGG_WIRE_LIMITS } from './codec.js'
import { contextBytes } from './bytes.js'
import type { KeyAgreement } from './crypto.js'
import { type SecAggIdentity, unauthenticatedIdentityUnsafe } from './identity.js'
import type { SecAggMessage } from './messages.js'
import type { SecAggPlan } from './plan.js'
import { quantize } from './quantize.js'
import { type RandomBytes, seededRandomBytesUnsafe, systemRandomBytes } from './random.js'
import { SecAggServer } from './server.js'

/** Clients (as indices into `inputs`) that vanish at a given point of the round. */
export interface SecAggDropouts {
  /** Advertise their keys, then vanish (they never share). */
  readonly afterKeys?: readonly number[]
  /** Send their share bundles, then vanish (no masked input). */
  readonly afterShares?: readonly number[]
  /** Send their masked input, then vanish (they never answer the unmasking request). */
  readonly afterMaskedInput?: readonly number[]
}

/** One simulated round. */
export interface SecAggRoundInit {
  /** One input vector per client, all of the same length. */
  readonly inputs: readonly Float32Array[]
  /** The round's parameters (`planSecAgg({ clients: inputs.length, ... })`). */
  readonly plan: SecAggPlan
  readonly drop?: SecAggDropouts
  /** 32 bytes: makes every party's randomness deterministic (UNSAFE outside tests); default: crypto.getRandomValues. */
  readonly seed?: Uint8Array
  /** X25519 implementation for every party (default: @noble/curves). */
  readonly keyAgreement?: KeyAgreement
  readonly jobId?: string
  readonly round?: number
  /**
   * Each client's signing identity (e.g. `createEd25519Directory().identityOf`); default
   * `unauthenticatedIdentityUnsafe`: this in-process simulation measures the arithmetic and has no server to distrust.
   */
  readonly identityOf?: (clientId: string) => SecAggIdentity
}

/** Bytes one party sent (up) and received (down), as encoded weft.secagg.v1 messages. */
export interface TrafficBytes {
  readonly up: number
  readonly down: number
}

/** Milliseconds spent in one phase: by all clients together, by the slowest client, by the server. */
export interface PhaseTiming {
  readonly clientsMs: number
  readonly slowestClientMs: number
  readonly serverMs: number
}

/** The phases timed by `runSecAggRound`. */
export type SecAggPhase = 'setup' | 'advertiseKeys' | 'shareKeys' | 'maskedInput' | 'unmask'

/** What a simulated round produced and cost. */
export interface SecAggRoundResult {
  /** Dequantized sum of the survivors' inputs. */
  readonly sum: Float32Array
  /** sum / count. */
  readonly mean: Float32Array
  /** The server's unmasked sum in Z_{2^32}. */
  readonly quantizedSum: Uint32Array
  /** The survivors' quantized inputs summed in the clear by the simulation, to check `quantizedSum` against. */
  readonly plainQuantizedSum: Uint32Array
  readonly count: number
  /** Indices of the clients whose inputs are in the sum. */
  readonly survivors: readonly number[]
  readonly bytes: { readonly clients: readonly TrafficBytes[]; readonly server: TrafficBytes }
  readonly timings: Readonly<Record<SecAggPhase, PhaseTiming>>
}

/**
 * Runs server and clients of one round in this process.
 * @returns the aggregate, the traffic and the timings.
 * @throws RoundAbortedError when the round aborts (too few shares or holders for a needed secret).
 * @throws RangeError for inputs that do not match the plan.
 */
export function runSecAggRound(init: SecAggRoundInit): SecAggRoundResult {
  const { inputs, plan } = init
  if (inputs.length !== plan.clients) {
    throw new RangeError(`the plan is for ${plan.clients} clients, got ${inputs.length} inputs`)
  }
  const vectorLength = inputs[0]?.length ?? 0
  const ids = inputs.map((_, i) => `client-${i}`)
  const jobId = init.jobId ?? 'simulation'
  const round = init.round ?? 0
  const randomFor = partyRandomness(init.seed)
  const keyAgreement = init.keyAgreement
  const identityOf = init.identityOf ?? (() => unauthenticatedIdentityUnsafe)
  const components = (party: string) => ({ randomBytes: randomFor(party), ...(keyAgreement && { keyAgreement }), identity: identityOf(party) })
  const net = new Network(inputs.length)
  const clock = new PhaseClock()
  const gone = new Set<number>()
  const leave = (list: readonly number[] | undefined) => {
    for (const i of list ?? []) gone.add(i)
  }
  const indexOf = (id: string) => Number(id.slice('client-'.length))

  const server = clock.server('setup', () => new SecAggServer({ jobId, round, clients: ids, plan, vectorLength }, components('server')))
  const clients = ids.map((id) => new SecAggClient({ id, jobId, round }, components(id)))
  const clientRandom = ids.map((id) => randomFor(`${id}/rounding`))
  const setups = clock.server('setup', () => server.setup())

  for (const setup of setups) {
    const i = indexOf(setup.clientId)
    const advert = clock.client('advertiseKeys', i, () => clients[i]!.advertiseKeys(net.down(i, setup)))
    clock.server('advertiseKeys', () => server.receiveKeys(net.up(i, advert), setup.clientId))
  }
  const neighbourKeys = clock.server('advertiseKeys', () => server.closeKeyPhase())
  leave(init.drop?.afterKeys)

  for (const keys of neighbourKeys) {
    const i = indexOf(keys.recipient)
    if (gone.has(i)) continue
    const shares = clock.client('shareKeys', i, () => clients[i]!.shareKeys(net.down(i, keys)))
    clock.server('shareKeys', () => server.receiveShares(net.up(i, shares), keys.recipient))
  }
  const routed = clock.server('shareKeys', () => server.closeSharePhase())
  leave(init.drop?.afterShares)

  const quantized = new Map<number, Uint32Array>()
  for (const bundleSet of routed) {
    const i = indexOf(bundleSet.recipient)
    if (gone.has(i)) continue
    const masked = clock.client('maskedInput', i, () => {
      clients[i]!.receiveShares(net.down(i, bundleSet))
      const q = quantize(inputs[i]!, plan, clientRandom[i]!)
      quantized.set(i, q)
      return clients[i]!.maskQuantized(q)
    })
    clock.server('maskedInput', () => server.receiveMaskedInput(net.up(i, masked), bundleSet.recipient))
  }
  const requests = clock.server('maskedInput', () => server.closeMaskedInputPhase())
  if (!requests.ok) throw requests.error
  leave(init.drop?.afterMaskedInput)

  for (const request of requests.value) {
    const i = indexOf(request.recipient)
    if (gone.has(i)) continue
    const response = clock.client('unmask', i, () => clients[i]!.unmask(net.down(i, request)))
    clock.server('unmask', () => server.receiveUnmask(net.up(i, response), request.recipient))
  }
  const outcome = clock.server('unmask', () => server.finalize())
  if (!outcome.ok) throw outcome.error

  const survivors = outcome.value.survivors.map(indexOf)
  const plainQuantizedSum = new Uint32Array(vectorLength)
  for (const i of survivors) {
    const q = quantized.get(i)!
    for (let j = 0; j < vectorLength; j++) plainQuantizedSum[j] = plainQuantizedSum[j]! + q[j]!
  }
  return {
    sum: outcome.value.total,
    mean: outcome.value.mean,
    quantizedSum: outcome.value.sum,
    plainQuantizedSum,
    count: outcome.value.count,
    survivors,
    bytes: net.totals(),
    timings: clock.totals(),
  }
}

/** Per-party random sources: independent deterministic streams under one seed, or the system CSPRNG. */
function partyRandomness(seed: Uint8Array | undefined): (party: string) => RandomBytes {
  if (seed === undefined) return () => systemRandomBytes
  if (seed.length !== 32) throw new RangeError(`seed must be 32 bytes, got ${seed.length}`)
  return (party) => seededRandomBytesUnsafe(hkdf(sha256, seed, undefined, contextBytes('simulation-party', [party]), 32))
}

/** Carries every message through the wire codec and counts its bytes for sender and receiver. */
class Network {
  readonly #clients: { up: number; down: number }[]

  constructor(clients: number) {
    this.#clients = Array.from({ length: clients }, () => ({ up: 0, down: 0 }))
  }

  up<M extends SecAggMessage>(client: number, message: M): M {
    const [decoded, bytes] = transmit(message)
    this.#clients[client]!.up += bytes
    return decoded
  }

  down<M extends SecAggMessage>(client: number, message: M): M {
    const [decoded, bytes] = transmit(message)
    this.#clients[client]!.down += bytes
    return decoded
  }

  totals(): { clients: TrafficBytes[]; server: TrafficBytes } {
    const clients = this.#clients.map((traffic) => ({ ...traffic }))
    return {
      clients,
      server: {
        up: clients.reduce((sum, traffic) => sum + traffic.down, 0),
        down: clients.reduce((sum, traffic) => sum + traffic.up, 0),
      },
    }
  }
}

/** Encodes and decodes a message; a masked vector over the inline limit goes as header plus raw tensor bytes. */
function transmit<M extends SecAggMessage>(message: M): [M, number] {
  if (message.type === 'masked-input' && message.vector.byteLength > SECAGG_WIRE_LIMITS.maxInlineVectorBytes) {
    const headerBytes = encodeMaskedInputHeader(message)
    const header = decodeSecAggMessage(headerBytes)
    if (header.type !== 'masked-input-header') throw new Error('a masked-input header decoded as another message')
    const vector = message.vector.slice()
    return [attachMaskedVector(header, vector) as M, headerBytes.length + vector.byteLength]
  }
  const bytes = encodeSecAggMessage(message)
  return [decodeSecAggMessage(bytes) as M, bytes.length]
}

/** Accumulates the time each party spends in each phase. */
class PhaseClock {
  readonly #server = new Map<SecAggPhase, number>()
  readonly #clients = new Map<SecAggPhase, Map<number, number>>()

  server<T>(phase: SecAggPhase, work: () => T): T {
    const start = performance.now()
    try {
      return work()
    } finally {
      this.#server.set(phase, (this.#server.get(phase) ?? 0) + performance.now() - start)
    }
  }

  client<T>(phase: SecAggPhase, client: number, work: () => T): T {
    const start = performance.now()
    try {
      return work()
    } finally {
      const perClient = this.#clients.get(phase) ?? new Map<number, number>()
      perClient.set(client, (perClient.get(client) ?? 0) + performance.now() - start)
      this.#clients.set(phase, perClient)
    }
  }

  totals(): Record<SecAggPhase, PhaseTiming> {
    const phases: SecAggPhase[] = ['setup', 'advertiseKeys', 'shareKeys', 'maskedInput', 'unmask']
    return Object.fromEntries(
      phases.map((phase) => {
        const perClient = [...(this.#clients.get(phase)?.values() ?? [])]
        return [
          phase,
          {
            clientsMs: perClient.reduce((sum, ms) => sum + ms, 0),
            slowestClientMs: Math.max(0, ...perClient),
            serverMs: this.#server.get(phase) ?? 0,
          },
        ]
      }),
    ) as Record<SecAggPhase, PhaseTiming>
  }
}
