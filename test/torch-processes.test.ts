// The PyTorch engine in node processes: `weft node start --runtime torch` advertises it, trains federated jobs with
// it (alone, or beside tfjs-wasm clients in one job), falls back to tfjs-wasm with the reason when Python has no
// torch, and survives its worker being killed mid-job.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import { isJobEvent } from '@weft/fl'
import type { JobView } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { torchAvailable } from '../packages/runtime-torch/test/available.js'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'

const TIMING = ['--ad-interval', '1000', '--ad-ttl', '10000', '--no-probe', '--log-level', 'info']

function jobSpec(extra: Record<string, unknown> = {}) {
  return {
    name: 'engines',
    model: { architecture: 'mlp', inputShape: [4], hidden: [16], numClasses: 2 },
    dataset: 'synth',
    rounds: 4,
    clients: { min: 2 },
    train: { epochs: 2, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.2 } },
    evaluation: { centralized: { dataset: 'synth-test' } },
    timeouts: { roundSeconds: 60, waitSeconds: 60 },
    seed: 5,
    ...extra,
  }
}

describe.skipIf(!torchAvailable)('the torch engine in node processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-torch-'))
  const lines: Record<string, string[]> = { torch: [], tfjs: [], fallback: [] }
  let coordinator: LocalNode
  let torchNode: LocalNode
  let tfjsNode: LocalNode
  let fallbackNode: LocalNode

  const follow = async (node: LocalNode, id: string, timeoutMs: number): Promise<JobView> => {
    const end = Date.now() + timeoutMs
    let after = 0
    for (;;) {
      if (Date.now() > end) throw new Error(`job ${id} did not finish in ${timeoutMs} ms`)
      const { events, status } = await node.api.jobEvents(id, after, 2)
      for (const e of events) after = e.seq
      if (status !== 'running' && events.length === 0) return node.api.job(id)
    }
  }

  const client = (name: string, runtime: string[], seed: number): Promise<LocalNode> => {
    const dir = join(root, name)
    mkdirSync(dir, { recursive: true })
    writeSyntheticCsv(join(dir, 'train.csv'), 240, seed)
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets: [{ name: 'synth', source: join(dir, 'train.csv'), label: 'label' }] }))
    const bootstrap = coordinator.addrs[0] as string
    return startLocalNode({
      startTimeoutMs: 90_000,
      dataDir: dir,
      args: [...TIMING, '--config', join(dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId, ...runtime],
      output: (line) => lines[name]?.push(line),
    })
  }

  beforeAll(async () => {
    const cdir = join(root, 'coordinator')
    mkdirSync(cdir, { recursive: true })
    writeSyntheticCsv(join(root, 'test.csv'), 400, 99)
    writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false }, datasets: [{ name: 'synth-test', source: join(root, 'test.csv'), label: 'label' }] }))
    coordinator = await startLocalNode({ startTimeoutMs: 60_000, dataDir: cdir, args: [...TIMING, '--config', join(cdir, 'weft.json')] })
    // allSettled: when one node fails to start, the others are still recorded, so afterAll stops them.
    const started = await Promise.allSettled([
      client('torch', ['--runtime', 'torch', '--torch-threads', '1'], 1),
      client('tfjs', ['--runtime', 'tfjs'], 2),
      client('fallback', ['--runtime', 'torch', '--torch-python', join(root, 'no-such-python')], 3),
    ])
    const ok = (i: number) => (started[i]?.status === 'fulfilled' ? started[i].value : undefined) as LocalNode
    ;[torchNode, tfjsNode, fallbackNode] = [ok(0), ok(1), ok(2)]
    const failed = started.find((s) => s.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    await waitUntil(
      async () => (await coordinator.api.peers('alive')).filter((p) => p.ad?.datasets.some((d) => d.name === 'synth')).length === 3,
      60_000,
      'the coordinator to see three clients with the data set',
      200,
    )
  }, 180_000)

  afterAll(async () => {
    await Promise.all([coordinator, torchNode, tfjsNode, fallbackNode].map((n) => n?.stop()))
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('advertises torch with its device, and says why a node fell back to tfjs-wasm', async () => {
    const view = await torchNode.api.node()
    expect(view.engine).toMatchObject({ requested: 'torch', preferred: 'torch', available: ['torch', 'tfjs'] })
    expect(view.engine.torch).toMatchObject({ device: 'cpu', threads: 1 })
    expect(view.resources.runtimes.map((r) => `${r.name}/${r.backend}`)).toEqual(['torch/cpu', 'tfjs/wasm'])
    const seen = (await coordinator.api.peers('alive')).find((p) => p.peerId === torchNode.peerId)
    expect(seen?.ad?.runtimes.map((r) => r.name)).toEqual(['torch', 'tfjs'])

    const fallback = await fallbackNode.api.node()
    expect(fallback.engine).toMatchObject({ requested: 'torch', preferred: 'tfjs', available: ['tfjs'] })
    expect(fallback.engine.fallbackReason).toContain('no-such-python')
    expect(fallback.resources.runtimes.map((r) => r.name)).toEqual(['tfjs'])
    expect(lines['fallback']!.some((l) => l.includes('falling back to tfjs-wasm') && l.includes('no-such-python'))).toBe(true)
    expect((await tfjsNode.api.node()).engine).toMatchObject({ requested: 'tfjs', preferred: 'tfjs' })
  })

  it('a job that needs torch gets only the torch node; a job that names no engine trains on both engines and learns', async () => {
    const only = await coordinator.api.submitJob(jobSpec({ clients: { min: 1, eligibility: { runtime: 'torch' } } }))
    const onlyView = await follow(coordinator, only.id, 120_000)
    expect(onlyView.status, onlyView.error).toBe('finished')
    expect(onlyView.history.every((h) => h.metrics?.results === 1)).toBe(true)
    expect(onlyView.history.at(-1)?.metrics?.evaluation?.centralized?.accuracy).toBeGreaterThan(0.85)

    const mixed = await coordinator.api.submitJob(jobSpec({ clients: { min: 3 } }))
    const view = await follow(coordinator, mixed.id, 120_000)
    expect(view.status, view.error).toBe('finished')
    expect(view.history.every((h) => h.metrics?.results === 3)).toBe(true)
    expect(view.history.at(-1)?.metrics?.evaluation?.centralized?.accuracy).toBeGreaterThan(0.85)
    const joined = (name: string) => lines[name]!.find((l) => l.includes('joined a federated job') && l.includes(mixed.id)) ?? ''
    expect(joined('torch')).toContain('"engine":"torch"')
    expect(joined('tfjs')).toContain('"engine":"tfjs"')
    expect(joined('fallback')).toContain('"engine":"tfjs"')
  })

  it('a killed PyTorch worker fails its round’s task with the reason; the node restarts it and the next job trains', { timeout: 180_000 }, async () => {
    const before = (await torchNode.api.node()).engine.torch!
    // One long round: 400 epochs of 60 steps, so that the worker is surely training when it is killed.
    const { id } = await coordinator.api.submitJob(
      jobSpec({ rounds: 1, clients: { min: 1, eligibility: { runtime: 'torch' } }, train: { epochs: 400, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.05 } }, timeouts: { roundSeconds: 120, waitSeconds: 60 } }),
    )
    await waitUntil(
      async () => (await torchNode.api.node()).activities.some((a) => a.kind === 'fl-client' && a.jobId === id),
      60_000,
      'the torch node to start training',
      50,
    )
    process.kill(before.pid, 'SIGKILL')
    await waitUntil(async () => (await torchNode.api.node()).engine.torch?.restarts === 1, 60_000, 'the worker to be restarted', 100)
    await waitUntil(async () => lines['torch']!.some((l) => l.includes('local training failed')), 30_000, 'the task to fail', 100)
    const failed = lines['torch']!.find((l) => l.includes('local training failed'))
    expect(failed).toContain(id)
    expect(failed).toContain('TorchWorkerCrashedError')
    expect(failed).toContain(`pid ${before.pid}`)
    expect(failed).toContain('SIGKILL')
    expect((await torchNode.api.node()).engine.torch!.pid).not.toBe(before.pid)
    // The coordinator hears of it at once, with the reason, rather than at the round's 120 s deadline.
    await waitUntil(
      async () => (await coordinator.api.jobEvents(id, 0)).events.some((e) => e.type === 'client-dropped' && e.data.reason.includes('TorchWorkerCrashedError')),
      30_000,
      'the coordinator to drop the client with the reason',
      100,
    )
    const dropped = (await coordinator.api.jobEvents(id, 0)).events.filter(isJobEvent('client-dropped'))[0]
    expect(dropped?.data.client).toBe(torchNode.peerId)
    expect(dropped?.data.reason).toContain('SIGKILL')
    await coordinator.api.cancelJob(id)
    // The restarted worker trains the next job.
    const next = await coordinator.api.submitJob(jobSpec({ rounds: 2, clients: { min: 1, eligibility: { runtime: 'torch' } } }))
    const view = await follow(coordinator, next.id, 120_000)
    expect(view.status, view.error).toBe('finished')
    expect(view.history.every((h) => h.metrics?.results === 1)).toBe(true)
  })
})
