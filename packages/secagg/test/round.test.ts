// Whole rounds: the secure sum equals the plain sum of the quantized inputs exactly, under dropouts at every phase.
import { InfeasibleParamsError, RoundAbortedError, type SecAggPlan, planSecAgg, quantizationErrorBound, runSecAggRound } from '@weft/secagg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { makeInputs, nativeX25519, seedOf } from './helpers.js'

function floatSum(inputs: readonly Float32Array[], survivors: readonly number[]): Float64Array {
  const sum = new Float64Array(inputs[0]!.length)
  for (const i of survivors) for (let j = 0; j < sum.length; j++) sum[j]! += inputs[i]![j]!
  return sum
}

/** Coordinates where the secure mean is further than the quantization bound (plus float32 rounding) from the float mean. */
function meanErrors(mean: Float32Array, inputs: readonly Float32Array[], survivors: readonly number[], bound: number) {
  const exact = floatSum(inputs, survivors).map((value) => value / survivors.length)
  return [...mean].flatMap((value, j) => {
    const error = Math.abs(value - exact[j]!)
    return error <= bound + Math.abs(exact[j]!) * 2 ** -23 ? [] : [{ j, error, bound }]
  })
}

function feasiblePlan(init: Parameters<typeof planSecAgg>[0]): SecAggPlan | undefined {
  try {
    return planSecAgg(init)
  } catch (error) {
    if (error instanceof InfeasibleParamsError) return undefined
    throw error
  }
}

describe('runSecAggRound', () => {
  it('sums exactly in Z_2^32 for 3 to 40 clients with dropouts after keys, shares and masked input', () => {
    const scenario = fc
      .record({
        clients: fc.integer({ min: 3, max: 40 }),
        dropoutRate: fc.constantFrom(0, 0.1, 0.2, 0.3),
        corruptRate: fc.constantFrom(0, 0.1),
        seed: fc.integer({ min: 0, max: 2 ** 31 }),
      })
      .map((round) => ({ round, plan: feasiblePlan({ ...round, clip: 1 }) }))
      // Three or four clients cannot tolerate every rate; the planner says so (tested in plan.test.ts).
      .filter((scenario): scenario is { round: typeof scenario.round; plan: SecAggPlan } => scenario.plan !== undefined)
      .chain(({ round, plan }) => {
        // At most k - t dropouts, and no more than the declared rate: every neighbourhood keeps t members.
        const maxDrops = Math.min(Math.floor(round.dropoutRate * round.clients), plan.degree - plan.threshold)
        return fc.record({
          round: fc.constant(round),
          plan: fc.constant(plan),
          // Each dropped client is assigned to one phase: 0 after keys, 1 after shares, 2 after masked input.
          drops: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: round.clients - 1 }), fc.integer({ min: 0, max: 2 })), {
            maxLength: maxDrops,
            selector: ([client]) => client,
          }),
        })
      })
    fc.assert(
      fc.property(scenario, ({ round, plan, drops }) => {
        const inputs = makeInputs(round.clients, 50, 1, round.seed)
        const at = (phase: number) => drops.filter(([, p]) => p === phase).map(([client]) => client)
        const result = runSecAggRound({
          inputs,
          plan,
          seed: seedOf(round.seed),
          keyAgreement: nativeX25519,
          drop: { afterKeys: at(0), afterShares: at(1), afterMaskedInput: at(2) },
        })
        const expectedSurvivors = inputs.map((_, i) => i).filter((i) => !at(0).includes(i) && !at(1).includes(i))
        expect(result.survivors).toEqual(expectedSurvivors)
        expect(result.count).toBe(expectedSurvivors.length)
        expect(result.quantizedSum).toEqual(result.plainQuantizedSum)
        const bound = quantizationErrorBound(plan, result.count) / result.count
        expect(meanErrors(result.mean, inputs, result.survivors, bound)).toEqual([])
      }),
      { numRuns: 12 },
    )
  })

  it('aggregates 100 clients x 10,000 coordinates with 10 dropouts', () => {
    const plan = planSecAgg({ clients: 100, dropoutRate: 0.1, corruptRate: 0.1, clip: 0.5 })
    const inputs = makeInputs(100, 10_000, 0.5, 3)
    const start = performance.now()
    const result = runSecAggRound({
      inputs,
      plan,
      seed: seedOf(3),
      keyAgreement: nativeX25519,
      drop: { afterKeys: [1, 2, 3], afterShares: [10, 11, 12], afterMaskedInput: [20, 21, 22, 23] },
    })
    const seconds = (performance.now() - start) / 1000
    expect(result.count).toBe(94)
    expect(result.quantizedSum).toEqual(result.plainQuantizedSum)
    const bound = quantizationErrorBound(plan, result.count) / result.count
    expect(meanErrors(result.mean, inputs, result.survivors, bound)).toEqual([])
    // Each client uploads its masked vector (4 bytes per coordinate) plus keys and 99 sealed bundles.
    const upload = result.bytes.clients[0]!.up
    expect(upload).toBeGreaterThan(40_000)
    expect(upload).toBeLessThan(40_000 + 30_000)
    console.info(`100 clients x 10k coordinates: ${seconds.toFixed(1)} s, ${upload} bytes up for client 0`)
  })

  it('runs on a sparse SecAgg+ graph (k < n - 1) and still sums exactly', () => {
    const plan = planSecAgg({ clients: 120, dropoutRate: 0.05, corruptRate: 0.05, clip: 1, securityBits: 20 })
    expect(plan.complete).toBe(false)
    expect(plan.degree).toBeLessThan(119)
    const inputs = makeInputs(120, 100, 1, 5)
    const result = runSecAggRound({
      inputs,
      plan,
      seed: seedOf(5),
      keyAgreement: nativeX25519,
      drop: { afterShares: [7], afterMaskedInput: [50] },
    })
    expect(result.count).toBe(119)
    expect(result.quantizedSum).toEqual(result.plainQuantizedSum)
    // Sparse: each client talks to k neighbours, not n - 1: its upload grows with k.
    const bundlesUp = result.bytes.clients[0]!.up - 100 * 4
    expect(bundlesUp).toBeLessThan((plan.degree + 10) * 250)
  })

  it('uses @noble/curves by default (a small round, no injected key agreement)', () => {
    const plan = planSecAgg({ clients: 5, dropoutRate: 0.2, corruptRate: 0, clip: 1 })
    const inputs = makeInputs(5, 20, 1, 9)
    const result = runSecAggRound({ inputs, plan, drop: { afterShares: [4] } })
    expect(result.count).toBe(4)
    expect(result.quantizedSum).toEqual(result.plainQuantizedSum)
  })

  describe('below the threshold', () => {
    const plan = planSecAgg({ clients: 10, dropoutRate: 0.1, corruptRate: 0.1, clip: 1 })
    const inputs = makeInputs(10, 20, 1, 11)

    it('aborts before any share is requested when too few neighbours sent masked inputs', () => {
      expect(plan).toMatchObject({ degree: 9, threshold: 7 })
      const run = () =>
        runSecAggRound({ inputs, plan, seed: seedOf(1), keyAgreement: nativeX25519, drop: { afterShares: [1, 2, 3] } })
      expect(run).toThrow(RoundAbortedError)
      expect(run).toThrow(/only 6 neighbours of client-0 sent masked inputs.*at most 6 shares.*threshold is 7/)
    })

    it('aborts at unmasking when too few survivors answer, with the counts', () => {
      const run = () =>
        runSecAggRound({ inputs, plan, seed: seedOf(1), keyAgreement: nativeX25519, drop: { afterMaskedInput: [1, 2, 3] } })
      expect(run).toThrow(/6 shares of the self-mask-seed of client-0 are available, threshold is 7/)
    })
  })
})
