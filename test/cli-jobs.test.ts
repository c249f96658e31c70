// `weft batch|job|ledger|work` as a user runs them against three node processes on 127.0.0.1: a stats map over six
// shards of Fashion-MNIST's test split, replicated and verified by a quorum of two, followed to the end; its status,
// cost and the owner's ledger agree; a worker's ledger verifies across the mesh; an impossible constraint is refused
// with its reason and the job cancelled; a bad spec file is refused naming the field.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FabricJobCost, FabricJobView, LedgerCheck, LedgerPage, WorkView } from '@weft/api-client'
import { type LocalNode, waitUntil } from '@weft/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { weftJson as json, startOpenFleet, weft } from './fixtures/job-fleet.js'
import { requirement } from './requirements.js'

/** Fast heartbeats and leases, and enough placement attempts that the impossible job is still refusing when cancelled. */
const JOBS = { cores: 1, heartbeatMs: 300, leaseMs: 3_000, maxAttempts: 20 }

const fashionMnist = await requirement('fashion-mnist', 'weft batch submit of a stats map over Fashion-MNIST on three node processes')

describe.skipIf(!fashionMnist.available)(`weft batch, job, ledger and work on three node processes${fashionMnist.note}`, () => {
  let root: string
  const nodes: LocalNode[] = []
  const file = (name: string, text: string): string => {
    const path = join(root, name)
    writeFileSync(path, text)
    return path
  }
  let owner: LocalNode
  let batch: FabricJobView

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'weft-cli-jobs-'))
    // Each node has the others' ads (and with them their work offers) once the fleet is up.
    nodes.push(...(await startOpenFleet(root, 3, () => ({ jobs: JOBS }))))
    owner = nodes[0] as LocalNode
  }, 90_000)

  afterAll(async () => {
    await Promise.all(nodes.filter((n) => n !== undefined).map((n) => n.stop(5000)))
    if (root !== undefined) rmSync(root, { recursive: true, force: true })
  }, 30_000)

  it('batch submit --follow maps stats over 6 shards, accepts every task by a quorum and prints the results', async () => {
    const tasks = file(
      'stats.yaml',
      ['task: stats', 'params: { source: fashion-mnist, split: test }', 'shards: 6', 'quorum: 2', 'strategy: spread', 'resources: { cores: 0.5, memory: 64MiB }', ''].join('\n'),
    )
    const { stdout, stderr } = await weft(owner, 'batch', 'submit', tasks, '--replicas', '3', '--follow', '--json')
    batch = JSON.parse(stdout) as FabricJobView
    expect(batch, batch.reason).toMatchObject({ kind: 'batch', state: 'done', owner: owner.peerId, tasks: { total: 6, accepted: 6, failed: 0, pending: 0 } })
    expect(batch.placements).toHaveLength(3)
    // Each task was printed as it was accepted.
    const accepted = stderr.split('\n').filter((l) => / accepted \(\d+ results\): /.test(l))
    expect(accepted.map((l) => l.split(' ')[0]).sort()).toEqual(['t0000', 't0001', 't0002', 't0003', 't0004', 't0005'])
    // The six shards' class counts add up to the test split: 1,000 per class.
    const counts = new Array<number>(10).fill(0)
    for (const t of batch.tasks.list) {
      expect(t.params).toMatchObject({ source: 'fashion-mnist', split: 'test', shard: { count: 6 } })
      expect(t.workers.length).toBeGreaterThanOrEqual(2)
      expect(new Set(t.workers).size).toBe(t.workers.length)
      for (const [i, n] of (t.result as { classCounts: number[] }).classCounts.entries()) counts[i] = (counts[i] ?? 0) + n
    }
    expect(counts).toEqual(new Array(10).fill(1000))
    expect(batch.tasks.replication).toBeGreaterThanOrEqual(2)
    expect(batch.tasks.replication).toBe(batch.tasks.results / 6)
    // The human form: one row per accepted task and the replication factor.
    const human = (await weft(owner, 'job', 'status', batch.id)).stdout
    expect(human).toMatch(new RegExp(`job ${batch.id} \\(batch, batch\\): done`))
    expect(human).toMatch(/tasks: 6 \(accepted 6, pending 0, failed 0\)/)
    expect(human).toMatch(/site=s\d/)
  }, 90_000)

  it('job status, job cost and the owner’s ledger agree with the batch', async () => {
    const status = await json<FabricJobView>(owner, 'job', 'status', batch.id)
    const cost = await json<FabricJobCost>(owner, 'job', 'cost', batch.id)
    expect(status).toMatchObject({ id: batch.id, state: 'done', receipts: batch.receipts, receiptCredit: batch.receiptCredit, tasks: { accepted: 6, results: batch.tasks.results } })
    expect(status.tasks.list.map((t) => t.resultCid)).toEqual(batch.tasks.list.map((t) => t.resultCid))
    expect(cost).toMatchObject({ id: batch.id, state: 'done', receipts: status.receipts, receiptCredit: status.receiptCredit })
    expect(cost.total).toBeCloseTo(status.cost, 9)
    expect(cost.placements.map((p) => [p.name, p.peerId])).toEqual(status.placements.map((p) => [p.name, p.peerId]))
    expect(cost.total).toBeCloseTo(
      cost.placements.reduce((s, p) => s + p.cost, 0),
      9,
    )
    expect(cost.total).toBeGreaterThan(0)
    expect((await weft(owner, 'job', 'cost', batch.id)).stdout).toMatch(/^total\s/m)

    // One receipt per accepted result: for each task, one entry per worker whose result was accepted.
    const page = await json<LedgerPage>(owner, 'ledger', 'show', '--limit', '256')
    const mine = page.entries.filter((e) => e.receipt.jobId === batch.id)
    expect(mine).toHaveLength(status.receipts)
    expect(status.receipts).toBe(status.tasks.results)
    for (const t of status.tasks.list) {
      const entries = mine.filter((e) => e.receipt.taskId === t.id)
      expect(entries.map((e) => e.receipt.worker).sort()).toEqual([...t.workers].sort())
      for (const e of entries) expect(e.receipt.resultCid).toBe(t.resultCid)
    }
    expect(page.head.seq).toBe(page.entries.length)
    expect((await weft(owner, 'ledger', 'show')).stdout).toMatch(/credit per worker/)
    const credit = mine.reduce((s, e) => s + e.receipt.credit, 0)
    expect(credit).toBeCloseTo(status.receiptCredit, 9)
  }, 30_000)

  it('ledger verify --node checks a worker’s chain across the mesh and says ok', async () => {
    const worker = batch.tasks.list.flatMap((t) => t.workers).find((w) => w !== owner.peerId)
    expect(worker, 'a task ran on another node').toBeDefined()
    let check: LedgerCheck | undefined
    await waitUntil(
      async () => {
        check = await json<LedgerCheck>(owner, 'ledger', 'verify', '--node', worker as string)
        return check.entries > 0
      },
      15_000,
      'the worker to keep its receipts',
      300,
    )
    expect(check).toMatchObject({ holder: worker, verdict: { ok: true } })
    expect(check?.credit.find((c) => c.peerId === worker)?.receipts).toBe(check?.entries)
    expect((await weft(owner, 'ledger', 'verify', '--node', worker as string)).stdout).toMatch(/: ok: \d+ entries/)
  }, 30_000)

  it('an impossible constraint is refused with its reason in job status, and job cancel cancels it', async () => {
    const spec = file('gpu.yaml', ['kind: batch', 'name: gpu', 'resources: { accelerators: 4 }', 'batch: { task: stats, params: {}, items: [1] }', ''].join('\n'))
    const submitted = await json<FabricJobView>(owner, 'job', 'submit', spec)
    expect(submitted).toMatchObject({ kind: 'batch', name: 'gpu' })
    await waitUntil(async () => ((await json<FabricJobView>(owner, 'job', 'status', submitted.id)).placements[0]?.attempts ?? 0) > 0, 15_000, 'a placement attempt', 300)
    const human = (await weft(owner, 'job', 'status', submitted.id)).stdout
    expect(human).toMatch(/slot-0 .*pending .*unschedulable: /)
    expect(human).toMatch(/accelerator/)
    const cancelled = await json<FabricJobView>(owner, 'job', 'cancel', submitted.id)
    expect(cancelled).toMatchObject({ id: submitted.id, state: 'cancelled' })
    expect((await json<FabricJobView>(owner, 'job', 'status', submitted.id)).state).toBe('cancelled')
    const list = await json<{ jobs: FabricJobView[] }>(owner, 'job', 'ls')
    expect(list.jobs.map((j) => [j.id, j.state])).toEqual(expect.arrayContaining([[batch.id, 'done'], [submitted.id, 'cancelled']]))
    // Nothing is held for either job any more.
    const work = await json<WorkView>(owner, 'work')
    expect(work.offer.cores).toBe(1)
    expect(work.reserved.cores).toBe(0)
  }, 30_000)

  it('job submit --kind fl wraps an existing FL spec file, --label places it, and cancel releases it', async () => {
    const fl = file(
      'fl.yaml',
      [
        'model: { architecture: logreg, inputShape: [4], numClasses: 2 }',
        'dataset: synth',
        'rounds: 1',
        'clients: { min: 2 }',
        'train: { epochs: 1, batchSize: 4, optimizer: { kind: sgd, lr: 0.01 } }',
        'timeouts: { roundSeconds: 600, waitSeconds: 600 }',
        '',
      ].join('\n'),
    )
    const submitted = await json<FabricJobView>(owner, 'job', 'submit', fl, '--kind', 'fl', '--label', 'site=s1')
    expect(submitted).toMatchObject({ kind: 'fl', spec: { kind: 'fl', fl: { dataset: 'synth', rounds: 1 }, constraints: { labels: { site: 's1' } } } })
    const labelled = nodes[1] as LocalNode
    await waitUntil(async () => (await json<FabricJobView>(owner, 'job', 'status', submitted.id)).placements[0]?.peerId === labelled.peerId, 15_000, 'the coordinator placed on site s1', 300)
    expect(await json<FabricJobView>(owner, 'job', 'cancel', submitted.id)).toMatchObject({ state: 'cancelled' })
    await waitUntil(async () => (await json<WorkView>(labelled, 'work')).reserved.cores === 0, 15_000, 'site s1 to release the placement', 300)
  }, 45_000)

  it('a bad spec file is refused naming the field, with exit code 1', async () => {
    const spec = file('bad.yaml', ['kind: batch', 'replicas: 0', 'batch: { task: stats, params: {}, shards: 2 }', ''].join('\n'))
    const err = await weft(owner, 'job', 'submit', spec).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 1, stdout: '' })
    expect((err as { stderr: string }).stderr).toMatch(/^weft: .*invalid job spec: replicas: /)
    const batchErr = await weft(owner, 'batch', 'submit', file('bad-batch.yaml', 'task: stats\nshard: 3\n')).catch((e: unknown) => e)
    expect(batchErr).toMatchObject({ code: 1 })
    expect((batchErr as { stderr: string }).stderr).toMatch(/batch/)
  }, 30_000)
})
