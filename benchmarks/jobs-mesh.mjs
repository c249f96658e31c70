// Verified batch work on a real mesh: 4 `weft node start` processes on 127.0.0.1 (one submits, all four take work),
// one batch job of `stats` tasks over shards of Fashion-MNIST's training split, run four ways on the same nodes:
// no verification (quorum 1), adaptive replication (quorum 2) twice: cold (no worker trusted yet) and warm (the
// first run's valid results made workers trusted), and always-replicate (quorum 2, adaptive off). Reports wall time,
// results computed per task, and each against the unverified run.
// Usage: npm run build, then node benchmarks/jobs-mesh.mjs [--tasks 200] [--nodes 4]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLocalNode, waitUntil } from '@weft/cli'

const { values: args } = parseArgs({ options: { tasks: { type: 'string', default: '200' }, nodes: { type: 'string', default: '4' }, json: { type: 'boolean', default: false } } })
const TASKS = Number(args.tasks)
const NODES = Number(args.nodes)
const log = args.json ? (...xs) => console.error(...xs) : (...xs) => console.log(...xs)
const root = mkdtempSync(join(tmpdir(), 'weft-jobs-bench-'))
const nodes = []

const batch = (label, quorum, adaptive) => ({
  kind: 'batch',
  name: label.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'bench',
  replicas: NODES,
  strategy: 'spread',
  resources: { cores: 0.5, memory: '256MiB' },
  batch: { task: 'stats', params: { source: 'fashion-mnist', split: 'train' }, shards: TASKS, quorum, adaptive },
})

async function run(owner, spec, label = spec.name) {
  const t0 = performance.now()
  const submitted = await owner.api.submitFabricJob(spec)
  let view
  await waitUntil(
    async () => {
      view = await owner.api.fabricJob(submitted.id)
      return view.state !== 'pending' && view.state !== 'running'
    },
    600_000,
    `job ${spec.name}`,
    100,
  )
  const seconds = (performance.now() - t0) / 1000
  if (view.state !== 'done') throw new Error(`${spec.name} ended ${view.state}: ${view.reason}`)
  return { name: label, seconds, resultsPerTask: view.tasks.results / view.tasks.total, accepted: view.tasks.accepted }
}

try {
  for (let i = 0; i < NODES; i++) {
    const dir = join(root, `n${i}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, jobs: { cores: 1, heartbeatMs: 500 } }))
    const bootstrap = nodes[0]?.addrs.find((a) => !a.includes('/ws'))
    nodes.push(
      await startLocalNode({
        startTimeoutMs: 60_000,
        dataDir: dir,
        args: ['--no-probe', '--log-level', 'warn', '--jobs-from', '*', '--ad-interval', '500', '--config', join(dir, 'weft.json'), ...(bootstrap ? ['--bootstrap', bootstrap] : [])],
      }),
    )
  }
  const owner = nodes[0]
  await waitUntil(async () => (await owner.api.peers('alive')).length === NODES - 1, 60_000, 'the mesh', 200)
  // Each node loads the training split once: a warm-up job with one task per node.
  await run(owner, { ...batch('warm-up', 1, false), batch: { ...batch('', 1, false).batch, shards: NODES } })
  const rows = []
  for (const [label, quorum, adaptive] of [
    // Lone results (quorum 1) move no reputation, so the first adaptive run starts with no worker trusted.
    ['quorum 1 (no verification)', 1, false],
    ['adaptive, cold', 2, true],
    ['adaptive, warm', 2, true],
    ['always-replicate (quorum 2)', 2, false],
  ]) {
    rows.push(await run(owner, batch(label, quorum, adaptive), label))
  }
  const base = rows[0]
  log(`jobs-mesh ${new Date().toISOString()}: ${NODES} node processes, ${TASKS} stats tasks over shards of Fashion-MNIST train`)
  log('')
  log('run                             seconds  results/task  time vs quorum 1  results vs quorum 1')
  for (const r of rows) {
    log(`${r.name.padEnd(30)} ${r.seconds.toFixed(2).padStart(8)}  ${r.resultsPerTask.toFixed(3).padStart(12)}  ${(r.seconds / base.seconds).toFixed(2).padStart(15)}×  ${(r.resultsPerTask / base.resultsPerTask).toFixed(3).padStart(18)}×`)
  }
  console.log(JSON.stringify({ benchmark: 'jobs-mesh', nodes: NODES, tasks: TASKS, rows }))
} finally {
  await Promise.all(nodes.map((n) => n.stop()))
  rmSync(root, { recursive: true, force: true })
}
