// Batch tasks as Slurm jobs, with no Weft node running (this machine's one-node cluster, scripts/slurm-cluster.sh):
// `weft batch submit --slurm` runs a stats map over three shards of Fashion-MNIST's test split as two Slurm jobs of
// `weft batch run-task` per shard, verifies each shard by a quorum of two, and leaves nothing queued; the same task
// run here gives the result the jobs agreed on; `weft batch run-task` refuses a task it does not know, naming it.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type ReplicaOutcome, type ReplicaRunner, type ReplicatedBatch, runReplicatedBatch } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requirement } from './requirements.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const slurm = await requirement('slurm', 'batch tasks as Slurm jobs')
const fashionMnist = slurm.available ? await requirement('fashion-mnist', 'batch tasks as Slurm jobs') : slurm

/** What a failed command printed and its exit code. */
async function failure(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [BIN, ...args], { timeout: 30_000 })
  } catch (err) {
    const e = err as { code?: number; stderr?: string }
    return { code: e.code ?? -1, stderr: e.stderr ?? '' }
  }
  throw new Error(`weft ${args.join(' ')} succeeded`)
}

describe('weft batch run-task', () => {
  it('exits 1 naming a task it does not know, and the tasks it runs', async () => {
    const { code, stderr } = await failure(['batch', 'run-task', '--task', 'mine-bitcoin', '--params', '{}', '--seed', '1'])
    expect(code).toBe(1)
    expect(stderr).toMatch(/unknown batch task "mine-bitcoin"/)
    expect(stderr).toMatch(/stats, train-eval/)
  })
})

/** A runner of fake workers: `answer(taskId, replica)` is what each writes; it records the replicas it started. */
function fakeRunner(answer: (task: string, replica: number) => ReplicaOutcome): ReplicaRunner & { started: string[] } {
  const started: string[] = []
  return {
    started,
    async start(task, replica) {
      started.push(`${task.id}-${replica}`)
      return `w-${task.id}-${replica}`
    },
    async result(_worker, task, replica) {
      return answer(task.id, replica)
    },
  }
}

describe('the quorum loop of batch replicas (runReplicatedBatch)', () => {
  const body = { task: 'stats', params: {}, items: [{ a: 1 }, { a: 2 }], quorum: 2, maxAttempts: 3 }

  it('a disagreement starts one more replica; the agreeing pair is accepted and the odd one named', async () => {
    const runner = fakeRunner((task, replica) => ({ ok: true, text: task === 't0000' && replica === 0 ? '{"n":666}' : '{"n":1}' }))
    const b = await runReplicatedBatch(body, runner)
    expect(runner.started.sort()).toEqual(['t0000-0', 't0000-1', 't0000-2', 't0001-0', 't0001-1'])
    expect(b.tasks.map((t) => [t.id, t.state, t.result])).toEqual([
      ['t0000', 'accepted', { n: 1 }],
      ['t0001', 'accepted', { n: 1 }],
    ])
    expect(b.tasks[0]?.runs.map((r) => [r.worker, r.valid])).toEqual([
      ['w-t0000-0', false],
      ['w-t0000-1', true],
      ['w-t0000-2', true],
    ])
  })

  it('a task fails once no quorum can be reached within maxAttempts runs; a result that is not canonical JSON never counts', async () => {
    const runner = fakeRunner((task, replica) =>
      task === 't0000' ? (replica === 0 ? { ok: false, reason: 'job FAILED' } : { ok: true, text: `{"n":${replica}}` }) : { ok: true, text: '{ "n": 1 }' },
    )
    const b = await runReplicatedBatch(body, runner)
    expect(b.tasks.map((t) => t.state)).toEqual(['failed', 'failed'])
    expect(b.tasks[0]?.runs.map((r) => r.error ?? 'result')).toEqual(['job FAILED', 'result', 'result'])
    expect(b.tasks[0]?.reason).toMatch(/no 2 agreeing results/)
    // Two non-canonical results and one run left cannot make a quorum: t0001 fails without a third run.
    expect(runner.started.filter((s) => s.startsWith('t0001'))).toHaveLength(2)
    expect(b.tasks[1]?.runs.every((r) => r.valid === false && r.resultCid !== undefined)).toBe(true)
  })

  it('refuses a bad batch body naming the field, before starting anything', async () => {
    const runner = fakeRunner(() => ({ ok: true, text: '{}' }))
    await expect(runReplicatedBatch({ task: 'stats', shards: 2, quorum: 0 }, runner)).rejects.toThrow(/quorum/)
    expect(runner.started).toEqual([])
  })
})

describe.skipIf(!fashionMnist.available)(`batch tasks as Slurm jobs${fashionMnist.note}`, () => {
  let root = ''
  let outcome: ReplicatedBatch & { workDir: string }
  let jobIds: string[] = []

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'weft-slurm-batch-'))
  })

  afterAll(async () => {
    if (jobIds.length > 0) await run('scancel', jobIds).catch(() => undefined)
    if (root !== '') rmSync(root, { recursive: true, force: true })
  })

  it('weft batch submit --slurm runs each of 3 shards as 2 Slurm jobs, accepts every shard by quorum and leaves squeue empty', async () => {
    const spec = join(root, 'stats.yaml')
    writeFileSync(spec, 'task: stats\nparams: {source: fashion-mnist, split: test}\nshards: 3\nquorum: 2\nseed: 7\n')
    const started = Date.now()
    const { stdout } = await run(
      process.execPath,
      [BIN, 'batch', 'submit', spec, '--slurm', '--time', '5:00', '--wait-timeout', '90', '--work-dir', join(root, 'work'), '--json'],
      { timeout: 100_000 },
    )
    outcome = JSON.parse(stdout) as typeof outcome
    jobIds = outcome.tasks.flatMap((t) => t.runs.map((r) => r.worker))
    process.stderr.write(`batch submit --slurm: 3 tasks × 2 Slurm jobs verified in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)

    expect(outcome).toMatchObject({ task: 'stats', quorum: 2, tolerance: 0 })
    expect(outcome.tasks.map((t) => [t.id, t.params['shard'], t.state])).toEqual([
      ['t0000', { index: 0, count: 3 }, 'accepted'],
      ['t0001', { index: 1, count: 3 }, 'accepted'],
      ['t0002', { index: 2, count: 3 }, 'accepted'],
    ])
    // Six Slurm jobs, two per task, all distinct, each with a result that agreed.
    for (const t of outcome.tasks) {
      expect(t.runs).toHaveLength(2)
      expect(t.runs.every((r) => /^\d+$/.test(r.worker) && r.valid === true && r.resultCid === t.resultCid)).toBe(true)
    }
    expect(new Set(jobIds).size).toBe(6)
    // Each job wrote its own result file, and Slurm its log.
    for (const t of outcome.tasks) for (const i of [0, 1]) expect(existsSync(join(root, 'work', `${t.id}-${i}.json`))).toBe(true)
    // The three shards cover the test split: 1,000 examples of each class.
    const results = outcome.tasks.map((t) => t.result as { examples: number; classCounts: number[] })
    expect(results.reduce((s, r) => s + r.examples, 0)).toBe(10_000)
    expect(Array.from({ length: 10 }, (_, c) => results.reduce((s, r) => s + (r.classCounts[c] ?? 0), 0))).toEqual(new Array(10).fill(1000))
    // Nothing of the batch is left queued or running.
    const { stdout: queue } = await run('squeue', ['-h', '-o', '%i'])
    expect(queue.split('\n').filter((id) => jobIds.includes(id.trim()))).toEqual([])
    jobIds = []
  }, 110_000)

  it('weft batch run-task here gives the result the Slurm jobs agreed on, with the same CID', async () => {
    const task = outcome.tasks[1]
    expect(task?.state).toBe('accepted')
    if (task === undefined) return
    const out = join(root, 'here.json')
    const { stderr } = await run(process.execPath, [BIN, 'batch', 'run-task', '--task', 'stats', '--params', JSON.stringify(task.params), '--seed', String(task.seed), '--out', out])
    expect(stderr).toContain(`stats result ${task.resultCid}`)
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(task.result)
  }, 30_000)
})
