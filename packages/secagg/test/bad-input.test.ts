// Bad input is refused with a reason, leaves the party's state as it was, and the round still completes.
import {
  MessageRejectedError,
  type RejectionReason,
  type SetupMessage,
  SecAggClient,
  planSecAgg,
} from '@weft/secagg'
import { describe, expect, it } from 'vitest'
import { createRound, indexOf, keyPhase, makeInputs, maskPhase, own, sharePhase, unmaskPhase } from './helpers.js'

const plan = planSecAgg({ clients: 8, dropoutRate: 0.25, corruptRate: 0, clip: 1 })
const length = 16
const inputs = makeInputs(8, length, 1, 4)

function rejection(action: () => unknown): { reason: RejectionReason; message: string } {
  try {
    action()
  } catch (error) {
    if (error instanceof MessageRejectedError) return { reason: error.reason, message: error.message }
    throw error
  }
  throw new Error('expected a MessageRejectedError, nothing was thrown')
}

function expectCompletes(round: ReturnType<typeof createRound>, count = 8) {
  const outcome = unmaskPhase(round)
  if (!outcome.ok) throw outcome.error
  expect(outcome.value.count).toBe(count)
}

describe('the server refuses', () => {
  it('a masked vector of the wrong length, another modulus or other bits, then accepts the right one', () => {
    const round = createRound(plan, length)
    const routed = sharePhase(round, keyPhase(round))
    const client = round.clients[0]!
    client.receiveShares(routed[0]!)
    const masked = client.maskInput(inputs[0]!)
    expect(rejection(() => round.server.receiveMaskedInput(...own({ ...masked, vector: masked.vector.subarray(1) })))).toMatchObject({
      reason: 'wrong-length',
      message: expect.stringMatching(/15 coordinates, the round has 16/),
    })
    expect(rejection(() => round.server.receiveMaskedInput(...own({ ...masked, modulusBits: 64 })))).toMatchObject({
      reason: 'wrong-modulus',
      message: expect.stringMatching(/2\^64.*2\^32/),
    })
    expect(rejection(() => round.server.receiveMaskedInput(...own({ ...masked, bits: 20 })))).toMatchObject({ reason: 'wrong-bits' })
    round.server.receiveMaskedInput(...own(masked))
    expect(rejection(() => round.server.receiveMaskedInput(...own(masked))).reason).toBe('duplicate')
    maskPhase(round, routed.slice(1), inputs)
    expectCompletes(round)
  })

  it('a share bundle addressed to a client that is not a live neighbour of the sender', () => {
    const round = createRound(plan, length)
    const neighbourKeys = keyPhase(round)
    const shares = round.clients[0]!.shareKeys(neighbourKeys[0]!)
    const misaddressed = { ...shares, bundles: shares.bundles.map((b, i) => (i === 0 ? { ...b, recipient: 'c0' } : b)) }
    expect(rejection(() => round.server.receiveShares(...own(misaddressed)))).toMatchObject({
      reason: 'misaddressed',
      message: expect.stringMatching(/to c0/),
    })
    expect(rejection(() => round.server.receiveShares(...own({ ...shares, bundles: shares.bundles.slice(1) }))).reason).toBe(
      'incomplete',
    )
    round.server.receiveShares(...own(shares))
    for (const keys of neighbourKeys.slice(1)) round.server.receiveShares(...own(round.clients[indexOf(keys.recipient)]!.shareKeys(keys)))
    maskPhase(round, round.server.closeSharePhase(), inputs)
    expectCompletes(round)
  })

  it('messages from clients not in the round, for another round, or in the wrong phase', () => {
    const round = createRound(plan, length)
    const [setup] = round.server.setup()
    const advert = round.clients[0]!.advertiseKeys(setup!)
    expect(rejection(() => round.server.receiveKeys(...own({ ...advert, sender: 'mallory' }))).reason).toBe('unknown-client')
    expect(rejection(() => round.server.receiveKeys(...own({ ...advert, round: 0 })))).toMatchObject({
      reason: 'wrong-round',
      message: expect.stringMatching(/round 0, the server is in round 1/),
    })
    expect(rejection(() => round.server.receiveKeys(...own({ ...advert, jobId: 'other' }))).reason).toBe('wrong-job')
    round.server.receiveKeys(...own(advert))
    expect(rejection(() => round.server.receiveKeys(...own(advert))).reason).toBe('duplicate')
  })
})

describe('share bundles that reach the wrong peer or another round', () => {
  it('fail to open (authentication-failed) and the round completes without them', () => {
    const round = createRound(plan, length)
    const routed = sharePhase(round, keyPhase(round))
    // The server hands c1 the bundle c0 sealed for c2, relabelled as if for c1.
    const forC2 = routed.find((m) => m.recipient === 'c2')!.bundles.find((b) => b.sender === 'c0')!
    const forC1 = routed.find((m) => m.recipient === 'c1')!
    const swapped = { ...forC1, bundles: forC1.bundles.map((b) => (b.sender === 'c0' ? { ...forC2, recipient: 'c1' } : b)) }
    const receipt = round.clients[1]!.receiveShares(swapped)
    expect(receipt.rejected).toHaveLength(1)
    expect(receipt.rejected[0]).toMatchObject({ from: 'c0', error: { reason: 'authentication-failed' } })
    expect(receipt.partners).toContain('c0') // c0 still masks with c1, so c1 masks with c0
    for (const message of routed) {
      const i = indexOf(message.recipient)
      if (i !== 1) round.clients[i]!.receiveShares(message)
      round.server.receiveMaskedInput(...own(round.clients[i]!.maskInput(inputs[i]!)))
    }
    expectCompletes(round)
  })

  it('a bundle replayed from an earlier round does not open, and a replayed message is refused', () => {
    const earlier = createRound(plan, length, { round: 1 })
    const earlierRouted = sharePhase(earlier, keyPhase(earlier))
    const earlierMasked = maskPhase(earlier, earlierRouted, inputs)
    expectCompletes(earlier)

    const round = createRound(plan, length, { round: 2 })
    const routed = sharePhase(round, keyPhase(round))
    const old = earlierRouted.find((m) => m.recipient === 'c3')!
    expect(rejection(() => round.clients[3]!.receiveShares(old))).toMatchObject({
      reason: 'wrong-round',
      message: expect.stringMatching(/round 1, client c3 is in round 2/),
    })
    // The same bundles relabelled as round 2 still carry round 1 in their associated data (and its keys).
    const relabelled = { ...routed.find((m) => m.recipient === 'c3')!, bundles: old.bundles }
    const receipt = round.clients[3]!.receiveShares(relabelled)
    expect(receipt.rejected.map((r) => r.error.reason)).toEqual(Array(7).fill('authentication-failed'))
    expect(rejection(() => round.server.receiveMaskedInput(...own(earlierMasked[0]!))).reason).toBe('wrong-round')
  })
})

describe('a client refuses an unmasking request', () => {
  function toUnmasking(drop: number[] = []) {
    const round = createRound(plan, length)
    const routed = sharePhase(round, keyPhase(round))
    maskPhase(
      round,
      routed.filter((m) => !drop.includes(indexOf(m.recipient))),
      inputs,
    )
    const requests = round.server.closeMaskedInputPhase()
    if (!requests.ok) throw requests.error
    return { round, requests: requests.value }
  }

  it('that asks for both shares of one neighbour, then answers the honest request', () => {
    const { round, requests } = toUnmasking()
    const request = requests[0]!
    const greedy = { ...request, dropped: [request.survivors[0]!] }
    expect(rejection(() => round.clients[0]!.unmask(greedy))).toMatchObject({
      reason: 'conflicting-request',
      message: expect.stringMatching(/c1 both dropped and alive/),
    })
    for (const r of requests) round.server.receiveUnmask(...own(round.clients[indexOf(r.recipient)]!.unmask(r)))
    // A second request could ask for the other secret: refused.
    expect(rejection(() => round.clients[0]!.unmask({ ...request, survivors: [], dropped: request.survivors })).reason).toBe(
      'duplicate',
    )
    const outcome = round.server.finalize()
    expect(outcome.ok && outcome.value.count).toBe(8)
  })

  it('that asks for the self-mask seed share of a neighbour reported dropped before the share exchange', () => {
    const round = createRound(plan, length)
    const neighbourKeys = keyPhase(round)
    const routed = sharePhase(
      round,
      neighbourKeys.filter((m) => m.recipient !== 'c5'),
    )
    maskPhase(round, routed, inputs)
    const requests = round.server.closeMaskedInputPhase()
    if (!requests.ok) throw requests.error
    const request = requests.value[0]!
    expect(request.survivors).not.toContain('c5')
    expect(rejection(() => round.clients[0]!.unmask({ ...request, survivors: [...request.survivors, 'c5'] }))).toMatchObject({
      reason: 'conflicting-request',
      message: expect.stringMatching(/seed share of c5, which the server reported dropped before the share exchange/),
    })
  })

  it('the server refuses a share of a kind it did not ask for', () => {
    const { round, requests } = toUnmasking([6])
    const response = round.clients[0]!.unmask(requests[0]!)
    const wrongKind = {
      ...response,
      shares: response.shares.map((s) => (s.owner === 'c6' ? { ...s, kind: 'self-mask-seed' as const } : s)),
    }
    expect(rejection(() => round.server.receiveUnmask(...own(wrongKind)))).toMatchObject({
      reason: 'unexpected-share',
      message: expect.stringMatching(/self-mask-seed share of c6.*request was for its mask-key/),
    })
    round.server.receiveUnmask(...own(response))
    for (const r of requests.slice(1)) round.server.receiveUnmask(...own(round.clients[indexOf(r.recipient)]!.unmask(r)))
    const outcome = round.server.finalize()
    expect(outcome.ok && outcome.value.count).toBe(7)
  })
})

describe('a client refuses a setup', () => {
  it('whose threshold is at most half the degree, or another protocol version', () => {
    const round = createRound(plan, length)
    const setup = round.server.setup()[0]!
    const weak: SetupMessage = { ...setup, params: { ...setup.params, threshold: 3 } }
    const client = new SecAggClient({ id: 'c0', jobId: 'job', round: 1 }, { identity: round.directory.identityOf('c0') })
    expect(rejection(() => client.advertiseKeys(weak))).toMatchObject({
      reason: 'insecure-params',
      message: expect.stringMatching(/threshold 3 must exceed half the degree 7/),
    })
    expect(rejection(() => client.advertiseKeys({ ...setup, version: 2 })).reason).toBe('wrong-version')
    expect(rejection(() => client.advertiseKeys({ ...setup, clientId: 'c1' })).reason).toBe('misaddressed')
    expect(client.advertiseKeys(setup).type).toBe('advertise-keys')
  })
})
