// Hierarchical simulation: 2 sites × 4 virtual clients, each site one aggregator client to the coordinator, learn as
// well as flat FedAvg over the same 8 clients while the coordinator receives a quarter of the update bytes, with
// secure aggregation at both levels too; jobs a site cannot run (differential privacy) are refused with the reason.
import { type JobSpec, parseJobSpec } from '@weft/fl'
import { createSimulationTransport, runSimulation, type SimulationResult } from '@weft/fl-sim'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { afterAll, describe, expect, it } from 'vitest'
import { synthetic } from './fixtures.js'

const train = synthetic('train', 1600, 1)
const test = synthetic('test', 500, 2)
const pool = createWorkerPool({ size: 1 })
afterAll(() => pool.close())

function spec(extra: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    model: { architecture: 'mlp', inputShape: [4], hidden: [16], numClasses: 2 },
    dataset: 'synth',
    rounds: 5,
    clients: { fraction: 1, min: 2 },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: 0.1 } },
    evaluation: { centralized: { dataset: 'test', every: 5 } },
    seed: 3,
    ...extra,
  })
}

const simulate = (s: JobSpec, extra: { sites?: number; siteFraction?: number } = {}): Promise<SimulationResult> =>
  runSimulation({ spec: s, clients: 8, partition: { scheme: 'dirichlet', alpha: 1 }, train, test, pool, ...extra })

const accuracy = (r: SimulationResult): number => r.rounds.at(-1)?.metrics?.evaluation?.centralized?.accuracy ?? 0

describe('hierarchical simulation', () => {
  it('2 sites × 4 clients reach flat FedAvg’s accuracy while the coordinator receives 4× fewer update bytes', async () => {
    const flat = await simulate(spec())
    const sites = await simulate(spec(), { sites: 2 })
    expect(flat.job.status).toBe('finished')
    expect(sites.job.status).toBe('finished')
    expect(sites.sites?.map((s) => s.members)).toEqual([
      ['sim-0000', 'sim-0001', 'sim-0002', 'sim-0003'],
      ['sim-0004', 'sim-0005', 'sim-0006', 'sim-0007'],
    ])
    // The coordinator sees sites as clients: 2 results a round, weighing all 8 clients' examples.
    for (const r of sites.rounds) expect(r.metrics).toMatchObject({ results: 2, examples: 1600 })
    for (const r of flat.rounds) expect(r.metrics).toMatchObject({ results: 8, examples: 1600 })
    expect(accuracy(flat)).toBeGreaterThan(0.85)
    expect(Math.abs(accuracy(sites) - accuracy(flat))).toBeLessThanOrEqual(0.01)
    expect(flat.updateBytes.toCoordinator / sites.updateBytes.toCoordinator).toBe(4)
    // Inside the sites, every client's update still moves once: as many bytes as reached the flat coordinator.
    expect(sites.updateBytes.withinSites).toBe(flat.updateBytes.toCoordinator)
    expect(flat.updateBytes.withinSites).toBe(0)
    expect(sites.updateBytes.modelWithinSites).toBe(sites.rounds.reduce((sum, r) => sum + (r.metrics?.bytesDown ?? 0), 0) * 4)
  })

  it('siteFraction trains a seeded half of each site per round, the update weighing only those clients', async () => {
    const r = await simulate(spec({ rounds: 2, evaluation: {} }), { sites: 2, siteFraction: 0.5 })
    expect(r.job.status).toBe('finished')
    for (const round of r.rounds) {
      expect(round.metrics?.results).toBe(2)
      expect(round.metrics?.examples).toBeLessThan(1600)
    }
    // Each sampled client's update moved inside its site: 2 per site per round.
    expect(r.updateBytes.withinSites).toBe(r.updateBytes.toCoordinator * 2)
  })

  it('with top-k compression and federated evaluation: sites compress their mean, and evaluate on all their members’ data', async () => {
    const s = spec({ compression: { kind: 'topk', fraction: 0.25 }, evaluation: { centralized: { dataset: 'test', every: 5 }, federated: { every: 5 } } })
    const flat = await simulate(s)
    const sites = await simulate(s, { sites: 2 })
    expect(sites.job.status).toBe('finished')
    expect(accuracy(sites)).toBeGreaterThan(0.8)
    // Each update on either link is one top-k encoding of the model: the coordinator gets 2 a round instead of 8.
    expect(flat.updateBytes.toCoordinator / sites.updateBytes.toCoordinator).toBeCloseTo(4, 1)
    const federated = sites.rounds.at(-1)?.metrics?.evaluation?.federated
    expect(federated).toMatchObject({ clients: 2, examples: 1600 })
    expect(federated?.accuracy).toBeGreaterThan(0.8)
  })

  it('under secure aggregation each site unmasks only its members’ sum and the coordinator only the sum over sites, at flat accuracy', async () => {
    // Two sites (and sites of four) are too few for SecAgg+ to plan for dropouts: this job assumes none.
    const s = spec({ privacy: { secureAggregation: { clip: 1, dropoutRate: 0 } } })
    const flat = await simulate(spec())
    const sites = await simulate(s, { sites: 2 })
    expect(sites.job.status).toBe('finished')
    for (const r of sites.rounds) {
      expect(r.metrics).toMatchObject({ results: 2, examples: 1600 })
      // The coordinator's session had the two site aggregators as its clients.
      expect(r.metrics?.secureAggregation?.survivors).toBe(2)
      expect([...(r.metrics?.secureAggregation?.contributors ?? [])].sort()).toEqual(['site-000', 'site-001'])
    }
    expect(Math.abs(accuracy(sites) - accuracy(flat))).toBeLessThanOrEqual(0.01)
  })

  it('refuses differential privacy with sites, naming why', async () => {
    const dp = spec({ privacy: { dp: { mode: 'client', clipNorm: 1, noiseMultiplier: 1 } } })
    await expect(simulate(dp, { sites: 2 })).rejects.toMatchObject({
      name: 'HierarchyUnsupportedError',
      message: expect.stringMatching(/privacy\.dp .*accountant counts sampled clients/),
    })
    await expect(simulate(spec({ clients: { fraction: 1, min: 8 } }), { sites: 2 })).rejects.toThrow(/clients\.min is 8, .* 2 site aggregators/)
    await expect(simulate(spec(), { sites: 9 })).rejects.toThrow(RangeError)
  })

  it('the transport’s candidates are the sites, each joining with its members’ examples', async () => {
    const clients = [5, 7, 11].map((examples, i) => ({ id: `c${i}`, examples, data: train.toShared(), pool }))
    const transport = createSimulationTransport({ clients, sites: [{ id: 'east', members: ['c0', 'c1'] }, { id: 'west', members: ['c2'] }] }, { coordinator: () => undefined })
    expect(transport.candidates(spec())).toEqual(['east', 'west'])
    const signal = new AbortController().signal
    expect(await transport.invite('east', 'j', spec(), signal)).toEqual({ ok: true, examples: 12 })
    expect(await transport.invite('c0', 'j', spec(), signal)).toMatchObject({ ok: false })
    expect(() => createSimulationTransport({ clients, sites: [{ id: 'a', members: ['c0'] }, { id: 'b', members: ['c0'] }] }, { coordinator: () => undefined })).toThrow(
      /c0 is in more than one site/,
    )
  })
})
