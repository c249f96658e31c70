// Serverless training across node processes (the test at full scale): 4 `weft node start` processes on
// 127.0.0.1, each with its own Dirichlet(0.5) share of Fashion-MNIST, train an MLP [200, 200] with DiLoCo (H = 50,
// groups of 4) for 480,000 samples in all, with no coordinator; then the simulator with the same spec and shares.
// Reports each peer's final test accuracy, wall time, utilisation (seconds in inner steps / wall seconds) and bytes.
// Usage: npm run build, then node benchmarks/swarm-processes.mjs [--samples 480000] [--peers 4] [--outer diloco|average]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLocalNode, waitUntil } from '@weft/cli'
import { partition } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { parseSwarmSpec, runSwarmSimulation } from '@weft/swarm'

const { values: args } = parseArgs({ options: { samples: { type: 'string', default: '480000' }, peers: { type: 'string', default: '4' }, outer: { type: 'string', default: 'diloco' } } })
const PEERS = Number(args.peers)
const spec = {
  name: 'bench',
  model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10, hidden: [200, 200] },
  dataset: 'fmnist',
  evaluation: { dataset: 'fmnist-test', every: 25 },
  inner: { batchSize: 32, optimizer: { kind: 'adamw', lr: 0.001, weightDecay: 0.01 } },
  outer: { kind: args.outer },
  targetSamples: PEERS * 50 * 32,
  totalSamples: Number(args.samples),
  averaging: { groupSize: 4, partTimeoutMs: 15_000 },
  minPeers: PEERS,
  memberExpiryMs: 10_000,
  seed: 7,
}
const root = mkdtempSync(join(tmpdir(), 'weft-swarm-bench-'))
const nodes = []
try {
  for (let i = 0; i < PEERS; i++) {
    const dir = join(root, `n${i}`)
    mkdirSync(dir)
    const datasets = [
      { name: 'fmnist', source: 'fashion-mnist', partition: { scheme: 'dirichlet', clients: PEERS, part: i, seed: 1, alpha: 0.5 } },
      { name: 'fmnist-test', source: 'fashion-mnist', split: 'test' },
    ]
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets }))
    const bootstrap = nodes[0]?.addrs.find((a) => !a.includes('/ws'))
    nodes.push(await startLocalNode({ startTimeoutMs: 60_000, dataDir: dir, args: ['--no-probe', '--log-level', 'warn', '--config', join(dir, 'weft.json'), ...(bootstrap ? ['--bootstrap', bootstrap] : [])] }))
  }
  await waitUntil(async () => (await nodes[0].api.peers('alive')).length === PEERS - 1, 30_000, 'the mesh', 200)
  const t0 = Date.now()
  const started = await Promise.all(nodes.map((n) => n.api.startSwarm(spec)))
  const id = started[0].id
  const views = []
  for (const n of nodes) {
    for (;;) {
      const v = await n.api.swarm(id)
      if (v.state !== 'training') {
        views.push(v)
        break
      }
      await new Promise((r) => setTimeout(r, 2000))
    }
  }
  const wall = (Date.now() - t0) / 1000
  console.log(`distributed: ${PEERS} processes, ${args.outer}, ${spec.totalSamples} samples, ${wall.toFixed(1)} s`)
  for (const [i, v] of views.entries()) {
    const last = v.history.at(-1)
    console.log(
      `  peer ${i}: ${v.state}, ${v.history.length} outer steps, accuracy ${(last.accuracy * 100).toFixed(2)}%, utilisation ${(v.utilisation.fraction * 100).toFixed(1)}% (${v.utilisation.trainSeconds.toFixed(1)} of ${v.utilisation.wallSeconds.toFixed(1)} s), sent ${(v.bytes.sent / 1e6).toFixed(1)} MB, failed parts ${v.history.reduce((s, r) => s + r.failedParts, 0)}, mean all-reduce ${(v.history.reduce((s, r) => s + r.averageSeconds, 0) / v.history.length).toFixed(3)} s`,
    )
  }
  const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
  const parts = partition(train.labels(), { scheme: 'dirichlet', alpha: 0.5 }, { clients: PEERS, seed: 1 })
  const pool = createWorkerPool({ size: 2 })
  const sim = await runSwarmSimulation({ spec: parseSwarmSpec(spec), shares: parts.map((p, i) => train.subset(p, `p${i}`).toShared()), test: test.toShared(), pool })
  await pool.close()
  console.log(`simulator: accuracy ${sim.peers.map((p) => (p.accuracy * 100).toFixed(2)).join(', ')}%, ${sim.seconds.toFixed(1)} s`)
} finally {
  await Promise.all(nodes.map((n) => n.stop()))
  rmSync(root, { recursive: true, force: true })
}
