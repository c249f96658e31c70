// `weft fl submit`, `weft swarm start` and `weft serve` with `--place`, as a user runs them against two node processes
// on 127.0.0.1 labelled site=s0 and site=s1: each submits its spec, as it reads it today, as a job the owner's scheduler
// places (the FL coordinator on the labelled node, one swarm peer and one model server per site), the work runs where
// it was placed, and cancelling the jobs releases every placement; a placement option without --place is refused.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FabricJobView, WorkView } from '@weft/api-client'
import { type LocalNode, waitUntil } from '@weft/cli'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { weftJson as json, startOpenFleet, weft } from './fixtures/job-fleet.js'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'

/**
 * Fast heartbeats, and four cores each so one node can hold an FL coordinator, a swarm peer and a server at once. The
 * lease stays at its default: two processes loading a model on two cores can miss a few fast heartbeats.
 */
const JOBS = { cores: 4, heartbeatMs: 500 }

describe('fl submit, swarm start and serve with --place on two node processes', () => {
  let root: string
  const nodes: LocalNode[] = []
  const file = (name: string, text: string): string => {
    const path = join(root, name)
    writeFileSync(path, text)
    return path
  }
  const status = (id: string) => json<FabricJobView>(nodes[0] as LocalNode, 'job', 'status', id)
  /** Waits until every placement of the job runs, and answers the job. */
  const running = async (id: string, what: string): Promise<FabricJobView> => {
    let view: FabricJobView | undefined
    await waitUntil(
      async () => {
        view = await status(id)
        return view.placements.length > 0 && view.placements.every((p) => p.state === 'running')
      },
      30_000,
      what,
      300,
    )
    return view as FabricJobView
  }
  /** Cancels the job and waits until neither node holds any of its placements. */
  const cancelled = async (id: string): Promise<void> => {
    expect(await json<FabricJobView>(nodes[0] as LocalNode, 'job', 'cancel', id)).toMatchObject({ id, state: 'cancelled' })
    await waitUntil(
      async () => (await Promise.all(nodes.map((n) => json<WorkView>(n, 'work')))).every((w) => w.placements.every((p) => p.jobId !== id)),
      15_000,
      `both nodes to release the placements of ${id}`,
      300,
    )
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'weft-cli-place-'))
    nodes.push(
      ...(await startOpenFleet(root, 2, (i, dir) => {
        writeSyntheticCsv(join(dir, 'train.csv'), 200, i + 1)
        return { jobs: JOBS, datasets: [{ name: 'synth', source: join(dir, 'train.csv'), label: 'label' }] }
      })),
    )
  }, 90_000)

  afterAll(async () => {
    await Promise.all(nodes.filter((n) => n !== undefined).map((n) => n.stop(5000)))
    if (root !== undefined) rmSync(root, { recursive: true, force: true })
  }, 30_000)

  it('fl submit --place --label site=s1 places the coordinator on site s1, which coordinates the FL job', async () => {
    // Three clients at least: the job waits for a third, so it is still running when it is cancelled.
    const spec = file(
      'fl.yaml',
      [
        'name: placed-fl',
        'model: { architecture: logreg, inputShape: [4], numClasses: 2 }',
        'dataset: synth',
        'rounds: 1',
        'clients: { min: 3 }',
        'train: { epochs: 1, batchSize: 4, optimizer: { kind: sgd, lr: 0.01 } }',
        'timeouts: { roundSeconds: 600, waitSeconds: 600 }',
        '',
      ].join('\n'),
    )
    const [owner, labelled] = nodes as [LocalNode, LocalNode]
    const submitted = await json<FabricJobView>(owner, 'fl', 'submit', spec, '--place', '--label', 'site=s1', '--priority', '60')
    expect(submitted).toMatchObject({
      kind: 'fl',
      name: 'placed-fl',
      owner: owner.peerId,
      spec: { kind: 'fl', name: 'placed-fl', replicas: 1, priority: 60, constraints: { labels: { site: 's1' } }, fl: { dataset: 'synth', rounds: 1, clients: { min: 3 } } },
    })
    const view = await running(submitted.id, 'the FL coordinator to run')
    expect(view.placements.map((p) => p.peerId)).toEqual([labelled.peerId])
    const fl = await labelled.api.jobs()
    expect(fl.jobs.map((j) => j.name)).toContain('placed-fl')
    expect((await owner.api.jobs()).jobs.map((j) => j.name)).not.toContain('placed-fl')
    // The human form names the job and how to follow it.
    const other = await weft(owner, 'fl', 'submit', spec, '--place', '--site', 's0', '--cores', '0.5', '--memory', '64MiB')
    const id = /^job (\S+) \(fl, 1 placement\): /.exec(other.stdout)?.[1] as string
    expect(other.stdout).toContain(`follow it: weft job status ${id} --data-dir ${owner.dataDir}`)
    expect((await status(id)).spec).toMatchObject({ constraints: { sites: ['s0'] }, resources: { cores: 0.5, memoryBytes: 64 * 2 ** 20 } })
    await Promise.all([cancelled(submitted.id), cancelled(id)])
    await waitUntil(async () => (await labelled.api.jobs()).jobs.every((j) => j.name !== 'placed-fl' || j.status !== 'running'), 15_000, 'the FL job to stop on site s1', 300)
  }, 45_000)

  it('swarm start --place --replicas 2 --spread site puts one swarm peer on each node', async () => {
    // Waits for a third peer that never comes (for a minute at least), so the peers hold still until cancelled.
    const spec = file(
      'swarm.yaml',
      [
        'name: placed-swarm',
        'model: { architecture: logreg, inputShape: [4], numClasses: 2 }',
        'dataset: synth',
        'inner: { batchSize: 8, optimizer: { kind: adamw, lr: 0.05 } }',
        'targetSamples: 64',
        'totalSamples: 6400',
        'minPeers: 3',
        'memberExpiryMs: 60000',
        '',
      ].join('\n'),
    )
    const submitted = await json<FabricJobView>(nodes[0] as LocalNode, 'swarm', 'start', spec, '--place', '--replicas', '2', '--spread', 'site', '--strategy', 'spread')
    expect(submitted).toMatchObject({
      kind: 'swarm',
      name: 'placed-swarm',
      spec: { kind: 'swarm', replicas: 2, strategy: 'spread', constraints: { spread: { key: 'site', maxPerValue: 1 } }, swarm: { name: 'placed-swarm', dataset: 'synth', minPeers: 3 } },
    })
    const view = await running(submitted.id, 'both swarm peers to run')
    expect(new Set(view.placements.map((p) => p.peerId))).toEqual(new Set(nodes.map((n) => n.peerId)))
    const lists = await Promise.all(nodes.map((n) => n.api.swarms()))
    for (const list of lists) expect(list.map((s) => s.name)).toContain('placed-swarm')
    // The same spec is the same swarm on both nodes.
    expect(lists[0]?.find((s) => s.name === 'placed-swarm')?.id).toBe(lists[1]?.find((s) => s.name === 'placed-swarm')?.id)
    await cancelled(submitted.id)
  }, 45_000)

  it('serve --place --replicas 2 --spread site serves the model on each node', async () => {
    const submitted = await json<FabricJobView>(nodes[0] as LocalNode, 'serve', KJV_LM_PATH, '--blocks', '0-2', '--place', '--replicas', '2', '--spread', 'site')
    expect(submitted).toMatchObject({ kind: 'serve', spec: { kind: 'serve', replicas: 2, constraints: { spread: { key: 'site', maxPerValue: 1 } }, serve: { blocks: [0, 2], engine: 'tfjs' } } })
    // The checkpoint went into the owner's store: the job names it by CID, and each server fetches it from there.
    const model = (submitted.spec as { serve: { model: string } }).serve.model
    expect(model).not.toBe(KJV_LM_PATH)
    const view = await running(submitted.id, 'both servers to load the model')
    expect(new Set(view.placements.map((p) => p.peerId))).toEqual(new Set(nodes.map((n) => n.peerId)))
    for (const n of nodes) expect((await n.api.inference()).serving.map((s) => [s.model, s.start, s.end])).toEqual([[model, 0, 2]])
    await cancelled(submitted.id)
    // Nothing is held on either node any more.
    for (const n of nodes) expect(await json<WorkView>(n, 'work')).toMatchObject({ reserved: { cores: 0, memoryBytes: 0 }, placements: [] })
  }, 60_000)

  it('a placement option without --place is refused, naming it', async () => {
    const err = await weft(nodes[0] as LocalNode, 'swarm', 'start', join(root, 'swarm.yaml'), '--replicas', '2').catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 1, stdout: '' })
    expect((err as { stderr: string }).stderr).toMatch(/--replicas is a placement option: it applies only with --place/)
    expect((await (nodes[0] as LocalNode).api.swarms()).filter((s) => s.state === 'training')).toEqual([])
  }, 15_000)
})
