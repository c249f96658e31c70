// A hostile server or client (issue 15, finding 5): replies are bound to the client asked, round keys are signed by
// their owner's identity, small cohorts are refused, and a rebuilt self-mask seed must match its owner's commitment.
import {
  ed25519Identity,
  MessageRejectedError,
  nobleX25519,
  planSecAgg,
  type RejectionReason,
  SecAggClient,
  SecAggServer,
  seededRandomBytesUnsafe,
  type NeighbourKeysMessage,
} from '@weft/secagg'
import { describe, expect, it } from 'vitest'
import { createRound, indexOf, keyPhase, makeInputs, maskPhase, own, seedOf, sharePhase, unmaskPhase } from './helpers.js'

const plan = planSecAgg({ clients: 8, dropoutRate: 0.25, corruptRate: 0, clip: 1 })
const length = 16
const inputs = makeInputs(8, length, 1, 5)

function rejection(action: () => unknown): { reason: RejectionReason; message: string } {
  try {
    action()
  } catch (error) {
    if (error instanceof MessageRejectedError) return { reason: error.reason, message: error.message }
    throw error
  }
  throw new Error('expected a MessageRejectedError, nothing was thrown')
}

function plainMean(clients: readonly number[]): Float32Array {
  const mean = new Float32Array(length)
  for (const i of clients) for (let j = 0; j < length; j++) mean[j]! += inputs[i]![j]! / clients.length
  return mean
}

describe('issue 15, finding 5: a hostile server', () => {
  it('that swaps a client’s round keys for its own is detected by that client’s neighbours, which refuse the session', () => {
    const round = createRound(plan, length)
    const neighbourKeys = keyPhase(round)
    // The server's own X25519 keys, which would let it open c2's share bundles and derive c2's pairwise masks.
    const random = seededRandomBytesUnsafe(seedOf(99))
    const fake = { channelPublicKey: nobleX25519.publicKey(random(32)), maskPublicKey: nobleX25519.publicKey(random(32)) }
    const ownIdentity = ed25519Identity({ secretKey: random(32), publicKeyOf: () => undefined })
    const swap = (message: NeighbourKeysMessage, resign: boolean): NeighbourKeysMessage => ({
      ...message,
      keys: message.keys.map((k) =>
        k.id !== 'c2'
          ? k
          : { ...k, ...fake, signature: resign ? ownIdentity.sign(new Uint8Array([1, 2, 3])) : k.signature },
      ),
    })
    const victims = neighbourKeys.filter((m) => m.keys.some((k) => k.id === 'c2'))
    expect(victims.length).toBeGreaterThan(0)
    for (const message of victims) {
      const client = round.clients[indexOf(message.recipient)]!
      for (const resign of [false, true]) {
        expect(rejection(() => client.shareKeys(swap(message, resign)))).toMatchObject({
          reason: 'bad-signature',
          message: expect.stringMatching(/the keys given for c2 are not signed by c2's identity/),
        })
      }
    }
    // Refusing left every client as it was: the honest keys still give the right sum.
    maskPhase(round, sharePhase(round, neighbourKeys), inputs)
    const outcome = unmaskPhase(round)
    if (!outcome.ok) throw outcome.error
    expect(outcome.value.count).toBe(8)
    const expected = plainMean([0, 1, 2, 3, 4, 5, 6, 7])
    for (let j = 0; j < length; j++) expect(Math.abs(outcome.value.mean[j]! - expected[j]!)).toBeLessThan(1e-3)
  })

  it('that runs a session of a victim and one client of its own is refused by the victim, naming the job minimum', () => {
    const two = planSecAgg({ clients: 2, dropoutRate: 0, corruptRate: 0, clip: 1 })
    const server = new SecAggServer({ jobId: 'job', round: 1, clients: ['victim', 'sybil'], plan: two, vectorLength: length })
    const setup = server.setup()[0]!
    const random = seededRandomBytesUnsafe(seedOf(5))
    const identity = ed25519Identity({ secretKey: random(32), publicKeyOf: () => undefined })
    const victim = new SecAggClient({ id: 'victim', jobId: 'job', round: 1, minClients: 3 }, { identity })
    expect(rejection(() => victim.advertiseKeys(setup))).toMatchObject({
      reason: 'cohort-too-small',
      message: expect.stringMatching(/the session has 2 clients, the job's minimum is 3/),
    })
    // The same setup passes a client whose job allows two: the refusal is the minimum's doing.
    const lenient = new SecAggClient({ id: 'victim', jobId: 'job', round: 1, minClients: 2 }, { identity })
    expect(lenient.advertiseKeys(setup).type).toBe('advertise-keys')
  })
})

describe('issue 15, finding 5: a hostile client', () => {
  it('that answers as another is refused (wrong-sender) and the one it named can still answer', () => {
    const round = createRound(plan, length)
    const [first, second] = round.server.setup()
    const a = round.clients[indexOf(first!.clientId)]!
    const b = round.clients[indexOf(second!.clientId)]!
    const forged = { ...a.advertiseKeys(first!), sender: b.id }
    expect(rejection(() => round.server.receiveKeys(forged, a.id))).toMatchObject({
      reason: 'wrong-sender',
      message: `keys from ${a.id} claims to come from ${b.id}; a client may only answer for itself`,
    })
    round.server.receiveKeys(...own(b.advertiseKeys(second!)))
  })

  it('that sends a wrong share of a survivor’s self-mask seed makes the round abort instead of changing the sum', () => {
    const round = createRound(plan, length)
    maskPhase(round, sharePhase(round, keyPhase(round)), inputs)
    const requests = round.server.closeMaskedInputPhase()
    if (!requests.ok) throw requests.error
    let tampered = false
    for (const request of requests.value) {
      const response = round.clients[indexOf(request.recipient)]!.unmask(request)
      const shares = response.shares.map((s) => {
        if (tampered || s.kind !== 'self-mask-seed') return s
        tampered = true
        const share = s.share.slice()
        share[share.length - 1]! ^= 1
        return { ...s, share }
      })
      round.server.receiveUnmask(...own({ ...response, shares }))
    }
    expect(tampered).toBe(true)
    const outcome = round.server.finalize()
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.error.reason).toBe('inconsistent-shares')
    expect(outcome.error.message).toMatch(/self-mask seed of c\d+ does not match its commitment/)
  })
})
