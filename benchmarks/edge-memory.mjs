// Benchmark: a client node's memory, in its default mode against `--low-memory` (issue 20, deliverable 3), both in
// the same federated job on Fashion-MNIST shares of 1,000 examples, so load and rounds are shared. Reports each
// client process's peak resident set (VmHWM from /proc) and its resident set after the job, and the ratio.
// Usage: node benchmarks/edge-memory.mjs [--model mlp|cnn-lenet] [--rounds 5] [--reps 2]
// Needs a build (npm run build) and Fashion-MNIST; Linux (/proc).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startLocalNode, waitUntil } from '@weft/cli'
import { arg } from './lib/args.mjs'

const model = arg('--model', 'mlp')
const rounds = Number(arg('--rounds', '5'))
const reps = Number(arg('--reps', '2'))
const TIMING = ['--ad-interval', '1000', '--ad-ttl', '10000', '--no-probe', '--log-level', 'warn']
const mib = (kib) => (kib / 1024).toFixed(1)
/** VmHWM (peak) and VmRSS (now) of a process, in KiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1])
  return { peak: field('VmHWM'), now: field('VmRSS') }
}

const results = []
for (let rep = 0; rep < reps; rep++) {
  const root = mkdtempSync(join(tmpdir(), 'weft-bench-mem-'))
  const cdir = join(root, 'coordinator')
  mkdirSync(cdir, { recursive: true })
  writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false }, datasets: [{ name: 'fm-test', source: 'fashion-mnist', split: 'test', partition: { scheme: 'iid', clients: 10, part: 0, seed: 1 } }] }))
  const coordinator = await startLocalNode({ startTimeoutMs: 60_000, dataDir: cdir, args: [...TIMING, '--config', join(cdir, 'weft.json')] })
  const clients = {}
  for (const [mode, part, extra] of [['default', 0, []], ['low-memory', 1, ['--low-memory']]]) {
    const dir = join(root, mode)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets: [{ name: 'fm', source: 'fashion-mnist', split: 'train', partition: { scheme: 'iid', clients: 60, part, seed: 7 } }] }))
    clients[mode] = await startLocalNode({ startTimeoutMs: 60_000, dataDir: dir, args: [...TIMING, ...extra, '--config', join(dir, 'weft.json'), '--bootstrap', coordinator.addrs[0], '--coordinator', coordinator.peerId] })
  }
  await waitUntil(async () => (await coordinator.api.peers('alive')).filter((p) => p.ad.datasets.some((d) => d.name === 'fm')).length === 2, 60_000, 'both clients', 250)
  const idle = Object.fromEntries(Object.entries(clients).map(([m, n]) => [m, memory(n.process.pid)]))
  const { id } = await coordinator.api.submitJob({
    name: 'edge-memory',
    model: { architecture: model, inputShape: [28, 28, 1], numClasses: 10 },
    dataset: 'fm',
    rounds,
    clients: { min: 2 },
    train: { epochs: 2, batchSize: 10, optimizer: { kind: 'sgd', lr: 0.05 } },
    evaluation: { centralized: { dataset: 'fm-test' }, federated: { fraction: 1, min: 2 } },
    timeouts: { roundSeconds: 120, waitSeconds: 120 },
  })
  await waitUntil(async () => (await coordinator.api.job(id)).status !== 'running', 600_000, 'the job to end', 500)
  const job = await coordinator.api.job(id)
  const after = Object.fromEntries(Object.entries(clients).map(([m, n]) => [m, memory(n.process.pid)]))
  const row = { rep: rep + 1, status: job.status, accuracy: job.latest?.accuracy, idle, after }
  results.push(row)
  process.stderr.write(`${JSON.stringify(row)}\n`)
  for (const n of [...Object.values(clients), coordinator]) await n.stop()
  rmSync(root, { recursive: true, force: true })
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const m = (mode, when, k) => median(results.map((r) => r[when][mode][k]))
console.log(`| client mode | idle RSS MiB | peak RSS MiB (job) | RSS after the job MiB |`)
console.log('|---|---:|---:|---:|')
for (const mode of ['default', 'low-memory']) console.log(`| ${mode} | ${mib(m(mode, 'idle', 'now'))} | ${mib(m(mode, 'after', 'peak'))} | ${mib(m(mode, 'after', 'now'))} |`)
console.log(`low-memory / default peak: ${(m('low-memory', 'after', 'peak') / m('default', 'after', 'peak')).toFixed(3)}x (${model}, ${rounds} rounds, median of ${reps}; load ${loadavg()[0].toFixed(2)})`)
console.log(JSON.stringify({ model, rounds, reps, node: process.version, results }))
