// FL model hand-outs by CID across node processes (issue 16, deliverable 5): a coordinator and ten client processes
// on 127.0.0.1. Every round's model reaches the ten clients through the block store, most of it from other clients,
// and the job ends with the same model as the same job with direct sends.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import type { JobView } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'

const TIMING = ['--ad-interval', '1000', '--ad-ttl', '15000', '--no-probe', '--log-level', 'warn']
const CLIENTS = 10
const SPEC = {
  name: 'handout',
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 2,
  clients: { min: CLIENTS },
  train: { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.2 } },
  timeouts: { roundSeconds: 120, waitSeconds: 120 },
  seed: 11,
}

describe('FL hand-outs by CID across ten client processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-fl-handout-'))
  const clients: LocalNode[] = []
  let coordinator: LocalNode

  beforeAll(async () => {
    const cdir = join(root, 'coordinator')
    mkdirSync(cdir, { recursive: true })
    writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false } }))
    coordinator = await startLocalNode({ startTimeoutMs: 120_000, dataDir: cdir, args: [...TIMING, '--config', join(cdir, 'weft.json')] })
    const bootstrap = coordinator.addrs.find((a) => !a.includes('/ws')) as string
    for (let i = 0; i < CLIENTS; i++) {
      const dir = join(root, `client-${i}`)
      mkdirSync(dir, { recursive: true })
      writeSyntheticCsv(join(dir, 'train.csv'), 100, i + 1)
      writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets: [{ name: 'synth', source: join(dir, 'train.csv'), label: 'label' }] }))
    }
    clients.push(
      ...(await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) => {
          const dir = join(root, `client-${i}`)
          return startLocalNode({ startTimeoutMs: 120_000, dataDir: dir, args: [...TIMING, '--config', join(dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId] })
        }),
      )),
    )
    await waitUntil(async () => (await coordinator.api.peers('alive')).filter((p) => p.ad?.datasets.some((d) => d.name === 'synth')).length === CLIENTS, 120_000, 'ten clients', 500)
  }, 300_000)

  afterAll(async () => {
    await Promise.all([coordinator, ...clients].map((n) => n?.stop()))
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  const run = async (spec: object): Promise<JobView> => {
    const { id } = await coordinator.api.submitJob(spec)
    for (let after = 0; ; ) {
      const { events, status } = await coordinator.api.jobEvents(id, after, 5)
      for (const e of events) after = e.seq
      if (status !== 'running' && events.length === 0) break
    }
    const view = await coordinator.api.job(id)
    expect(view.status, view.error).toBe('finished')
    return view
  }

  const handoutBlocks = async (): Promise<{ coordinator: number; client: number }> => {
    const text = await coordinator.api.metrics()
    const count = (p: string) => Number(text.match(new RegExp(`weft_fl_handout_blocks_total\\{provider="${p}"\\} (\\d+)`))?.[1] ?? 0)
    return { coordinator: count('coordinator'), client: count('client') }
  }

  it('hands every round model to the ten clients by CID, mostly from other clients, with the same model as direct sends', async () => {
    // By CID first: a client that holds a model by its hash fetches nothing, so the direct job goes second.
    const byCid = await run({ ...SPEC, handout: 'cid' })
    const blocks = await handoutBlocks()
    // One block per model: each round, one fetch from the coordinator at least and the rest from clients.
    expect(blocks.coordinator + blocks.client).toBe(CLIENTS * SPEC.rounds)
    expect(blocks.client).toBeGreaterThanOrEqual(CLIENTS * SPEC.rounds / 2)
    expect(byCid.history.map((h) => h.metrics?.results)).toEqual([CLIENTS, CLIENTS])
    const direct = await run(SPEC)
    expect(byCid.modelHash).toBe(direct.modelHash)
  }, 400_000)
})
