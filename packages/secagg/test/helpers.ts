// Shared test helpers: a native X25519 for speed (checked against noble in key-agreement.test.ts), inputs, and a
// step-by-step round driver for tests that tamper with messages between phases.
import {
  type AggregateResult,
  type KeyAgreement,
  type MaskedInputMessage,
  type NeighbourKeysMessage,
  type Outcome,
  type RoutedSharesMessage,
  SecAggClient,
  type SecAggPlan,
  SecAggServer,
  createEd25519Directory,
  type Ed25519Directory,
  seededRandomBytesUnsafe,
} from '@weft/secagg'
import { nativeX25519 as createNativeX25519 } from '@weft/secagg/node'

/** Node's OpenSSL X25519: rounds of 100 clients on a complete graph (about 20,000 agreements) stay within seconds. */
export const nativeX25519: KeyAgreement = createNativeX25519()

/** A 32-byte seed from a small number. */
export function seedOf(n: number): Uint8Array {
  const seed = new Uint8Array(32)
  new DataView(seed.buffer).setUint32(0, n >>> 0)
  return seed
}

/** Deterministic inputs in [-0.9 clip, 0.9 clip]. */
export function makeInputs(clients: number, length: number, clip: number, seed = 1): Float32Array[] {
  const random = seededRandomBytesUnsafe(seedOf(seed))
  return Array.from({ length: clients }, () => {
    const words = new Uint32Array(random(length * 4).buffer)
    return Float32Array.from(words, (word) => ((word / 2 ** 32) * 2 - 1) * 0.9 * clip)
  })
}

/** The index of client `c<i>`. */
export function indexOf(id: string): number {
  return Number(id.slice(1))
}

/** A server and its clients `c0`, `c1`, … for one round, each with its own seeded randomness. */
export interface TestRound {
  readonly server: SecAggServer
  readonly clients: SecAggClient[]
  /** The clients' Ed25519 identities. */
  readonly directory: Ed25519Directory
}

/** A message and its sender, as the server's `receive*` methods take them when the sender is the peer asked. */
export function own<M extends { readonly sender: string }>(message: M): [M, string] {
  return [message, message.sender]
}

export function createRound(plan: SecAggPlan, length: number, options: { round?: number; seed?: number } = {}): TestRound {
  const round = options.round ?? 1
  const seed = options.seed ?? 7
  const ids = Array.from({ length: plan.clients }, (_, i) => `c${i}`)
  const server = new SecAggServer(
    { jobId: 'job', round, clients: ids, plan, vectorLength: length, graphSeed: seedOf(seed) },
    { keyAgreement: nativeX25519, randomBytes: seededRandomBytesUnsafe(seedOf(seed * 1000 + round)) },
  )
  const directory = createEd25519Directory(seededRandomBytesUnsafe(seedOf(seed * 7 + 3)))
  const clients = ids.map(
    (id, i) =>
      new SecAggClient(
        { id, jobId: 'job', round },
        {
          keyAgreement: nativeX25519,
          randomBytes: seededRandomBytesUnsafe(seedOf(seed * 100_000 + round * 1000 + i)),
          identity: directory.identityOf(id),
        },
      ),
  )
  return { server, clients, directory }
}

/** Setup and key advertisement for every client; returns what the server sends each client back. */
export function keyPhase(round: TestRound): NeighbourKeysMessage[] {
  for (const setup of round.server.setup()) round.server.receiveKeys(...own(round.clients[indexOf(setup.clientId)]!.advertiseKeys(setup)))
  return round.server.closeKeyPhase()
}

/** Share exchange for the clients given their neighbours' keys; returns the routed bundles. */
export function sharePhase(round: TestRound, neighbourKeys: readonly NeighbourKeysMessage[]): RoutedSharesMessage[] {
  for (const keys of neighbourKeys) round.server.receiveShares(...own(round.clients[indexOf(keys.recipient)]!.shareKeys(keys)))
  return round.server.closeSharePhase()
}

/** Each recipient of routed shares takes them and sends its masked input (client i sends inputs[i]). */
export function maskPhase(round: TestRound, routed: readonly RoutedSharesMessage[], inputs: readonly Float32Array[]): MaskedInputMessage[] {
  return routed.map((message) => {
    const i = indexOf(message.recipient)
    const client = round.clients[i]!
    client.receiveShares(message)
    const masked = client.maskInput(inputs[i]!)
    round.server.receiveMaskedInput(...own(masked))
    return masked
  })
}

/** Closes the masked-input phase, has every asked survivor answer, and finalizes. */
export function unmaskPhase(round: TestRound): Outcome<AggregateResult> {
  const requests = round.server.closeMaskedInputPhase()
  if (!requests.ok) return requests
  for (const request of requests.value) round.server.receiveUnmask(...own(round.clients[indexOf(request.recipient)]!.unmask(request)))
  return round.server.finalize()
}
