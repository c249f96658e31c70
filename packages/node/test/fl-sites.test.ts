// Hierarchical FL on in-process nodes (issue 20, deliverable 4): two sites of four clients, each with a site
// aggregator (`fl.aggregator`), reach the accuracy of the flat job on the same data and seed; the coordinator sees two
// clients per round weighing their sites' examples, and receives about a site's size fewer update bytes. Under secure
// aggregation each aggregator unmasks only its members' sum and the coordinator only the sites'. A job that cannot run
// through sites (differential privacy) runs flat: the aggregators are not invited, their members are.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiClient } from '@weft/api-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSynthCsv } from './fixtures.js'
import { removeTestDirs, startTestNode as startNode, type TestNode, until } from './helpers.js'

// Eleven nodes share this process: ads every second, not the helpers' 300 ms (their signing and checking, eleven
// nodes over, took most of the event loop: a site's 268 KB model then took 3 s a hop, and a round of a job handed out
// by CID ran past its deadline on a loaded machine; at 2 s the same job took 10 s).
const startTestNode: typeof startNode = (overrides = {}, components = {}) => startNode({ ads: { intervalMs: 1000, ttlMs: 10_000 }, ...overrides }, components)

const SPEC = {
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 2,
  clients: { fraction: 1, min: 2 },
  train: { epochs: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.5 } },
  evaluation: { centralized: { dataset: 'synth-eval' } },
  timeouts: { roundSeconds: 60, waitSeconds: 30 },
  seed: 11,
}
const SITES = ['tucson', 'phoenix'] as const
const EXAMPLES = 120

describe('site aggregators (hierarchical FL on nodes)', () => {
  let coordinator: TestNode
  const clients: TestNode[] = []
  const aggregators: TestNode[] = []

  beforeAll(async () => {
    const data = mkdtempSync(join(tmpdir(), 'weft-sites-data-'))
    writeSynthCsv(join(data, 'eval.csv'), 400, 99)
    coordinator = await startTestNode({
      // Model transfers four at a time keep the flat job's rounds short on a loaded machine.
      fl: { participate: false, dispatchConcurrency: 4 } as never,
      datasets: [{ name: 'synth-eval', source: join(data, 'eval.csv'), label: 'label' } as never],
    })
    const bootstrap = [coordinator.addrs[0] as string]
    const started = Array.from({ length: 8 }, (_, i) => {
      const path = join(data, `client-${i}.csv`)
      writeSynthCsv(path, EXAMPLES, i + 1)
      const site = SITES[i < 4 ? 0 : 1]
      return startTestNode({ bootstrap, labels: { site }, datasets: [{ name: 'synth', source: path, label: 'label' } as never] })
    })
    clients.push(...(await Promise.all(started)))
    await until(() => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0).length === 8, 30_000, 'eight clients')
  }, 60_000)

  afterAll(async () => {
    await Promise.all([coordinator, ...clients, ...aggregators].map((n) => n?.stop()))
    removeTestDirs()
  })

  const run = async (spec: object) => {
    const t0 = Date.now()
    const view = coordinator.fl.submit(spec)
    // A loaded machine (another fleet beside this one) makes each of a site's two hops slow: wait generously, and say
    // where the job stood when it did not finish.
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 150_000, 'the job to finish').catch((err: Error) => {
      const events = coordinator.fl.events(view.id, 0).map((e) => `${e.at - t0} ms ${e.message}`)
      throw new Error(`${err.message}; its events:\n${events.join('\n')}`)
    })
    const done = await coordinator.fl.view(view.id)
    expect(done?.status, done?.error).toBe('finished')
    console.info(`job ${done?.id} took ${Date.now() - t0} ms`)
    return done as NonNullable<typeof done>
  }
  const accuracy = (v: Awaited<ReturnType<typeof run>>) => v.history.at(-1)?.metrics?.evaluation?.centralized?.accuracy as number
  const bytesUp = (v: Awaited<ReturnType<typeof run>>) => v.history.reduce((a, h) => a + (h.metrics?.bytesUp ?? 0), 0)
  let flatAccuracy = Number.NaN
  const accepted = (id: string) => coordinator.fl.events(id, 0).flatMap((e) => (e.type === 'update-accepted' ? [{ round: e.round, ...e.data }] : []))

  it('two sites with an aggregator each reach the flat accuracy with a site size fewer update bytes at the coordinator', async () => {
    const flat = await run(SPEC)
    expect(flat.history.map((h) => h.metrics?.results)).toEqual([8, 8])

    const bootstrap = [coordinator.addrs[0] as string]
    aggregators.push(...(await Promise.all(SITES.map((site) => startTestNode({ bootstrap, fl: { aggregator: { site } } as never })))))
    // Each aggregator sees its four members, and the coordinator sees both aggregators.
    for (const [i, a] of aggregators.entries()) {
      expect(a.config.labels).toMatchObject({ site: SITES[i], 'fl-aggregator': SITES[i] })
      await until(() => a.peers.list().filter((p) => p.status === 'alive' && p.ad.labels['site'] === SITES[i]).length === 4, 30_000, 'the site members')
    }
    await until(() => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.labels['fl-aggregator'] !== undefined).length === 2, 30_000, 'two aggregators')

    const sites = await run(SPEC)
    // The coordinator's rounds saw two clients, the aggregators, each weighing its site's examples.
    expect(sites.history.map((h) => [h.metrics?.sampled, h.metrics?.results])).toEqual([
      [2, 2],
      [2, 2],
    ])
    const updates = accepted(sites.id)
    expect(updates).toHaveLength(4)
    expect(new Set(updates.map((u) => u.client))).toEqual(new Set(aggregators.map((a) => a.peerId)))
    // Each site's update weighs the examples of the members that delivered: all four, unless a member could not be
    // reached in three tries (a stream that failed to open; seen in about 1 run of 10 on this machine's in-process
    // fleet), when the site sends the other three's mean.
    expect(updates.every((u) => u.examples % EXAMPLES === 0 && u.examples >= 3 * EXAMPLES && u.examples <= 4 * EXAMPLES)).toBe(true)
    expect(updates.filter((u) => u.examples === 4 * EXAMPLES).length).toBeGreaterThanOrEqual(3)

    // FedAvg of the sites' FedAvg is FedAvg of every client: the same accuracy within a point.
    const [a, b] = [accuracy(flat), accuracy(sites)]
    flatAccuracy = a
    console.info(`flat accuracy ${a.toFixed(4)}, sites ${b.toFixed(4)}; update bytes at the coordinator: flat ${bytesUp(flat)}, sites ${bytesUp(sites)}`)
    expect(a).toBeGreaterThan(0.8)
    expect(Math.abs(a - b)).toBeLessThanOrEqual(0.01)
    // Four clients a site: about four times fewer update bytes reach the coordinator.
    expect(bytesUp(flat) / bytesUp(sites)).toBeGreaterThanOrEqual(3)
  }, 400_000)

  it('a job that hands models out by CID: each site gets the round model from the coordinator once, its members from the site', async () => {
    const metric = async (node: TestNode, name: string): Promise<number> => {
      const text = await createApiClient({ url: node.apiUrl }).metrics()
      const line = text.split('\n').find((l) => l.startsWith(`${name} `))
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    const served = async () => Promise.all([coordinator, ...aggregators].map((n) => metric(n, 'weft_store_served_bytes_total')))
    const fetched = async () => Promise.all(clients.map((n) => metric(n, 'weft_store_fetched_bytes_total')))
    const [servedBefore, fetchedBefore] = [await served(), await fetched()]
    const rounds = 2
    // A 2NN-like model of 67k parameters (268 KB a round model), handed out through the block store.
    const job = await run({ ...SPEC, rounds, handout: 'cid', model: { architecture: 'mlp', inputShape: [4], numClasses: 2, hidden: [256, 256] } })
    const modelBytes = (4 * 256 + 256 + 256 * 256 + 256 + 256 * 2 + 2) * 4
    const [servedAfter, fetchedAfter] = [await served(), await fetched()]
    const [byCoordinator, ...byAggregators] = servedAfter.map((v, i) => v - (servedBefore[i] as number))
    const byMembers = fetchedAfter.reduce((a, v, i) => a + v - (fetchedBefore[i] as number), 0)
    console.info(`by CID: the coordinator served ${byCoordinator} bytes, the aggregators ${byAggregators.join(' and ')}; the members fetched ${byMembers}`)
    expect(job.history.map((h) => h.metrics?.results)).toEqual([2, 2])
    // Every member got every round's model...
    expect(byMembers).toBeGreaterThanOrEqual(clients.length * rounds * modelBytes)
    // ... while the coordinator sent each round's model to the two sites only (not to eight clients).
    expect(byCoordinator).toBeLessThanOrEqual(SITES.length * rounds * modelBytes * 1.05)
    expect(byAggregators.every((b) => b >= modelBytes)).toBe(true)
  }, 300_000)

  it('runs a secure-aggregation job through the sites: each aggregator unmasks only its members’ sum, the coordinator only the sites’ sum', async () => {
    // Two sites are too few for SecAgg+ to plan for dropouts: the job assumes none (an attempt that loses a member is
    // run again with a new session).
    const secure = await run({ ...SPEC, privacy: { secureAggregation: { clip: 4, dropoutRate: 0 } } })
    expect(secure.history.map((h) => [h.metrics?.results, h.metrics?.secureAggregation?.survivors])).toEqual([
      [2, 2],
      [2, 2],
    ])
    // What reached the coordinator: one masked input per aggregator per round.
    const updates = accepted(secure.id)
    expect(new Set(updates.map((u) => u.client))).toEqual(new Set(aggregators.map((a) => a.peerId)))
    expect(updates.every((u) => typeof u.session === 'number')).toBe(true)
    // Inside each site, every round was a secure session over its members that the aggregator unmasked as a sum.
    for (const a of aggregators) {
      const unmasked = a.logs.filter((l) => l['msg'] === 'the site unmasked its members’ sum' && l['job'] === secure.id)
      expect(unmasked.map((l) => l['round'])).toEqual([1, 2])
      for (const l of unmasked) expect((l['secure'] as { survivors: number }).survivors).toBeGreaterThanOrEqual(3)
    }
    const b = accuracy(secure)
    console.info(`flat accuracy ${flatAccuracy.toFixed(4)}, secure sites ${b.toFixed(4)}`)
    expect(Math.abs(flatAccuracy - b)).toBeLessThanOrEqual(0.02)
  }, 300_000)

  it('runs a job that cannot go through sites (differential privacy) flat: members are invited, aggregators are not', async () => {
    const dp = await run({
      ...SPEC,
      rounds: 1,
      privacy: { dp: { mode: 'client', clipNorm: 5, noiseMultiplier: 0.1, delta: 1e-5 } },
    })
    const clientsOfRound = new Set(accepted(dp.id).map((u) => u.client))
    expect(clientsOfRound).toEqual(new Set(clients.map((c) => c.peerId)))
  }, 200_000)
})
