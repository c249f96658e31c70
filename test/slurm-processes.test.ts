// Weft on a real Slurm cluster (this machine's one-node cluster, scripts/slurm-cluster.sh): `weft slurm up` submits two
// Weft nodes as the tasks of one batch job, they join the mesh of a node process started here (labelled with the job
// and task), train a 2-round federated job for it, and `weft slurm down` leaves no job, no process and no live peer.
import { execFile } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import type { JobView } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'
import { requirement } from './requirements.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const slurm = await requirement('slurm', 'Weft nodes as Slurm tasks')
const TIMING = ['--ad-interval', '500', '--ad-ttl', '3000', '--no-probe', '--log-level', process.env['WEFT_TEST_LOGS'] === undefined ? 'warn' : 'info']

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Pids of `weft node start` processes whose data directory is under `dir` (where the launcher puts the Slurm nodes'). */
function nodeProcessesUnder(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      const dataDir = args[args.indexOf('--data-dir') + 1] ?? ''
      if (args.includes('node') && args.includes('start') && dataDir.startsWith(`${dir}/`)) pids.push(Number(entry))
    } catch {
      // Exited meanwhile.
    }
  }
  return pids
}

describe.skipIf(!slurm.available)(`Weft nodes as Slurm tasks${slurm.note}`, () => {
  let root = ''
  let workDir = ''
  let coordinator: LocalNode
  let jobId = ''
  let slurmPeers: string[] = []
  const logs = process.env['WEFT_TEST_LOGS']
  const output = (name: string) => (logs === undefined ? ('ignore' as const) : (line: string) => appendFileSync(join(logs, `${name}.log`), `${line}\n`))

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'weft-slurm-test-'))
    workDir = join(root, 'slurm')
    const port = await freePort()
    const cdir = join(root, 'coordinator')
    const ndir = join(root, 'slurm-node')
    mkdirSync(cdir, { recursive: true })
    mkdirSync(ndir, { recursive: true })
    writeSyntheticCsv(join(root, 'test.csv'), 300, 99)
    writeSyntheticCsv(join(ndir, 'train.csv'), 200, 3)
    writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false }, datasets: [{ name: 'synth-test', source: join(root, 'test.csv'), label: 'label' }] }))
    // One config for every task (the data directory comes from the launcher): each trains on the same synthetic share.
    writeFileSync(join(ndir, 'weft.json'), JSON.stringify({ datasets: [{ name: 'synth', source: join(ndir, 'train.csv'), label: 'label' }] }))
    coordinator = await startLocalNode({
      startTimeoutMs: 60_000,
      dataDir: cdir,
      loopback: false,
      args: [...TIMING, '--config', join(cdir, 'weft.json'), '--listen', `/ip4/127.0.0.1/tcp/${port}`],
      output: output('coordinator'),
    })
  }, 90_000)

  afterAll(async () => {
    if (jobId !== '') await run('scancel', [jobId]).catch(() => undefined)
    await coordinator?.stop()
    if (root !== '') rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('weft slurm up starts two nodes as the tasks of one job; they join the mesh with their Slurm labels', async () => {
    const bootstrap = coordinator.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws')) as string
    const nodeArgs = [...TIMING, '--config', join(root, 'slurm-node', 'weft.json'), '--listen', '/ip4/127.0.0.1/tcp/0', '--coordinator', coordinator.peerId]
    const started = Date.now()
    const { stdout } = await run(
      process.execPath,
      [
        BIN, 'slurm', 'up', '--nodes', '2', '--name', 'weft-test', '--cpus-per-node', '1', '--mem', '1G', '--time', '10:00',
        '--bootstrap', bootstrap, '--label', 'suite=slurm', ...nodeArgs.map((a) => `--node-arg=${a}`),
        '--work-dir', workDir, '--data-dir', coordinator.dataDir, '--wait', '--wait-timeout', '60', '--json',
      ],
      { timeout: 90_000 },
    )
    const up = JSON.parse(stdout) as { job: string; joinedSeconds: number; nodes: { peerId: string; task: number }[] }
    jobId = up.job
    process.stderr.write(`slurm up → 2 nodes joined in ${((Date.now() - started) / 1000).toFixed(1)} s (job ${jobId})\n`)
    expect(jobId).toMatch(/^\d+$/)
    expect(up.nodes.map((n) => n.task).sort()).toEqual([0, 1])
    slurmPeers = up.nodes.map((n) => n.peerId)

    const alive = await coordinator.api.peers('alive')
    const ours = alive.filter((p) => slurmPeers.includes(p.peerId))
    expect(ours.map((p) => p.ad.labels).sort((a, b) => Number(a['slurm.task']) - Number(b['slurm.task']))).toEqual([
      { suite: 'slurm', 'slurm.job': jobId, 'slurm.task': '0' },
      { suite: 'slurm', 'slurm.job': jobId, 'slurm.task': '1' },
    ])
    expect(ours.every((p) => p.ad.datasets.some((d) => d.name === 'synth'))).toBe(true)
    // Slurm runs them: the job is RUNNING with two tasks, and two `weft node start` processes use the work directory.
    const status = JSON.parse((await run(process.execPath, [BIN, 'slurm', 'status', jobId, '--json'])).stdout)
    expect(status).toMatchObject({ id: jobId, state: 'running', running: 2 })
    const pids = nodeProcessesUnder(workDir)
    expect(pids, pids.map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')).join('\n')).toHaveLength(2)
  }, 100_000)

  it('the two Slurm nodes train a 2-round federated job for the node here', async () => {
    expect(slurmPeers).toHaveLength(2)
    const { id } = await coordinator.api.submitJob({
      name: 'slurm-synthetic',
      model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
      dataset: 'synth',
      rounds: 2,
      clients: { min: 2 },
      train: { epochs: 2, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.2 } },
      evaluation: { centralized: { dataset: 'synth-test' } },
      timeouts: { roundSeconds: 30, waitSeconds: 30 },
      seed: 5,
    })
    let view: JobView = await coordinator.api.job(id)
    await waitUntil(
      async () => {
        view = await coordinator.api.job(id)
        return view.status !== 'running'
      },
      60_000,
      'the federated job to end',
      200,
    )
    expect(view.status, view.error).toBe('finished')
    expect(view.completedRounds).toBe(2)
    expect(view.history.every((h) => h.metrics?.results === 2 && h.metrics.examples === 400)).toBe(true)
    const accepted = (await coordinator.api.jobEvents(id, 0)).events.filter((e) => e.type === 'update-accepted').map((e) => e.data.client)
    expect(new Set(accepted)).toEqual(new Set(slurmPeers))
  }, 70_000)

  it('weft slurm down cancels the job: squeue forgets it, its processes are gone, the node here sees the peers gone', async () => {
    expect(jobId).not.toBe('')
    const { stdout } = await run(process.execPath, [BIN, 'slurm', 'down', jobId, '--json'], { timeout: 60_000 })
    expect(JSON.parse(stdout)).toMatchObject({ job: jobId, cancelled: true, status: { state: 'cancelled', running: 0 } })
    expect((await run('squeue', ['-h', '-j', jobId, '-o', '%T']).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }))).stdout.trim()).toBe('')
    expect(nodeProcessesUnder(workDir)).toEqual([])
    await waitUntil(
      async () => {
        const peers = await coordinator.api.peers()
        return slurmPeers.every((id) => peers.find((p) => p.peerId === id)?.status === 'gone')
      },
      20_000,
      'the node here to see both Slurm nodes gone',
      200,
    )
    jobId = ''
  }, 60_000)
})
