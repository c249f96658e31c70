// planSecAgg's degree and threshold meet the correctness and security inequalities; the graph is k-regular.
import { InfeasibleParamsError, drawSecAggGraph, planSecAgg } from '@weft/secagg'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const rates = [0, 0.05, 0.1, 0.2]

describe('planSecAgg', () => {
  for (const clients of [5, 10, 100, 1000]) {
    for (const dropoutRate of rates) {
      for (const corruptRate of rates) {
        it(`n = ${clients}, delta = ${dropoutRate}, gamma = ${corruptRate}: t <= floor(k (1 - delta)) and t > (k + gamma k) / 2`, () => {
          const plan = planSecAgg({ clients, dropoutRate, corruptRate, clip: 1 })
          const { degree: k, threshold: t } = plan
          expect(t).toBeLessThanOrEqual(Math.floor(k * (1 - dropoutRate)))
          expect(t).toBeGreaterThan((k + corruptRate * k) / 2)
          expect(k).toBeLessThanOrEqual(clients - 1)
          expect(plan.complete).toBe(k === clients - 1)
          if (plan.complete) {
            // Worst case: every corrupt client is a neighbour, every dropout too.
            expect(2 * t).toBeGreaterThan(k + Math.floor(corruptRate * clients))
            expect(t).toBeLessThanOrEqual(k - Math.floor(dropoutRate * clients))
          }
          expect(clients * (2 ** plan.bits - 1)).toBeLessThan(2 ** 32)
        })
      }
    }
  }

  it('uses full SecAgg for small rounds and a logarithmic degree for 1000 clients', () => {
    expect(planSecAgg({ clients: 10, dropoutRate: 0.1, corruptRate: 0.1, clip: 1 })).toMatchObject({
      degree: 9,
      complete: true,
    })
    const large = planSecAgg({ clients: 1000, dropoutRate: 0.1, corruptRate: 0.1, clip: 1 })
    expect(large.complete).toBe(false)
    expect(large.degree).toBeLessThan(200)
    // Ten times the clients needs only a little more degree.
    const larger = planSecAgg({ clients: 10_000, dropoutRate: 0.1, corruptRate: 0.1, clip: 1 })
    expect(larger.degree).toBeLessThan(large.degree * 1.5)
  })

  it('picks the smallest degree: the next smaller even degree fails the planner', () => {
    const plan = planSecAgg({ clients: 1000, dropoutRate: 0.1, corruptRate: 0.1, clip: 1, securityBits: 40 })
    const looser = planSecAgg({ clients: 1000, dropoutRate: 0.1, corruptRate: 0.1, clip: 1, securityBits: 20 })
    expect(looser.degree).toBeLessThan(plan.degree)
  })

  it('refuses impossible rates, naming the numbers', () => {
    const attempt = () => planSecAgg({ clients: 50, dropoutRate: 0.4, corruptRate: 0.3, clip: 1 })
    expect(attempt).toThrow(InfeasibleParamsError)
    expect(attempt).toThrow(/50 clients with dropoutRate 0.4 and corruptRate 0.3.*below 1 \(here 1.1/)
    expect(() => planSecAgg({ clients: 3, dropoutRate: 0.1, corruptRate: 0, clip: 1 })).toThrow(
      /3 clients.*t >= 2.*t <= 1.*too few clients/,
    )
  })

  it('refuses bad arguments with the value in the message', () => {
    expect(() => planSecAgg({ clients: 1, dropoutRate: 0, corruptRate: 0, clip: 1 })).toThrow(/got 1/)
    expect(() => planSecAgg({ clients: 10, dropoutRate: 1, corruptRate: 0, clip: 1 })).toThrow(/dropoutRate.*got 1/)
    expect(() => planSecAgg({ clients: 10, dropoutRate: 0, corruptRate: 0, clip: 0 })).toThrow(/clip.*got 0/)
    expect(() => planSecAgg({ clients: 300, dropoutRate: 0, corruptRate: 0, clip: 1, bits: 25 })).toThrow(
      /bits 25 is too many for 300 clients.*at most 23 bits/,
    )
  })
})

describe('drawSecAggGraph', () => {
  it('is k-regular, symmetric and loop-free, and the same seed gives the same graph', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (clients, fraction, seed) => {
          const degree = Math.max(2, 2 * Math.floor((fraction * (clients - 2)) / 2))
          const graph = drawSecAggGraph(clients, degree, seed)
          const edges = new Set(graph.flatMap((neighbours, client) => neighbours.map((peer) => `${client}-${peer}`)))
          const faults = graph.flatMap((neighbours, client) => [
            ...(new Set(neighbours).size === degree ? [] : [`client ${client} has ${new Set(neighbours).size} neighbours`]),
            ...neighbours.filter((peer) => peer === client || !edges.has(`${peer}-${client}`)).map((peer) => `${client}-${peer}`),
          ])
          expect(faults).toEqual([])
          expect(drawSecAggGraph(clients, degree, seed)).toEqual(graph)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('draws different graphs from different seeds', () => {
    const a = drawSecAggGraph(200, 10, new Uint8Array(32))
    const b = drawSecAggGraph(200, 10, new Uint8Array(32).fill(1))
    expect(a).not.toEqual(b)
  })

  it('gives the complete graph at degree n - 1 and refuses odd or oversized degrees', () => {
    expect(drawSecAggGraph(4, 3, new Uint8Array(32))).toEqual([
      [1, 2, 3],
      [0, 2, 3],
      [0, 1, 3],
      [0, 1, 2],
    ])
    expect(() => drawSecAggGraph(10, 5, new Uint8Array(32))).toThrow(/even integer in \[2, 8\].*got 5/)
    expect(() => drawSecAggGraph(10, 9, new Uint8Array(31))).toThrow(/32 bytes, got 31/)
  })
})
