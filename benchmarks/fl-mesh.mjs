// FL on a real local mesh: 1 coordinator + N client processes on 127.0.0.1, each holding its own Dirichlet(0.5)
// share of Fashion-MNIST. Reports learning (test accuracy per round), the round overhead (round wall time minus
// the slowest client's training time) against the time the round's bytes need at raw-TCP loopback speed measured
// in the same run, and the bytes moved per round against the floor (model size × clients, down and up).
// Usage: npm run build, then
//   node benchmarks/fl-mesh.mjs [--clients 10] [--model mlp|logreg|cnn-lenet] [--hidden 200,200] [--rounds 20] [--epochs 1] [--batch 32] [--lr 0.05]
//   --dispatch-concurrency N: the coordinator's fl.dispatchConcurrency (default: the node's, 1); --timeline: each round's events.
//   --compare-secure: then the same job again with secure aggregation (SecAgg+) on the same fabric, side by side.
//   --handout cid: the same job three times on one fabric: direct sends, then its models handed out by CID (the block
//     store: each client fetches the round's model from the coordinator and the clients before it), then direct sends
//     again (the first run also warms every process up; the CID run is compared with both). Use 5 or more rounds: a
//     client holding a model by its hash fetches nothing, and only its last 4 models are kept.
import '@weft/mesh/shim'
import { sendRawTcp, startRawTcpSink } from './lib/raw-tcp.mjs'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLocalNode, waitUntil } from '@weft/cli'
import { paramCount, parseModelSpec } from '@weft/runtime'

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    model: { type: 'string', default: 'mlp' },
    hidden: { type: 'string' },
    rounds: { type: 'string', default: '20' },
    epochs: { type: 'string', default: '1' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.05' },
    momentum: { type: 'string', default: '0.9' },
    keep: { type: 'boolean', default: false },
    'ad-interval': { type: 'string', default: '10000' },
    'compare-secure': { type: 'boolean', default: false },
    timeline: { type: 'boolean', default: false },
    'dispatch-concurrency': { type: 'string' },
    handout: { type: 'string', default: 'direct' },
  },
})
const N = Number(args.clients)
// --hidden 14 (mlp only): a 784-14-10 network of 11,140 parameters, the size of DISCO's published 10-user benchmark model.
const hidden = args.hidden === undefined ? {} : { hidden: args.hidden.split(',').map(Number) }
const model = parseModelSpec({ architecture: args.model, inputShape: [28, 28, 1], numClasses: 10, ...hidden })
const modelBytes = paramCount(model) * 4

/** Raw TCP loopback throughput (bytes/s): 256 MiB through one socket to another process, the floor a round's bytes are held to. */
async function rawTcpBytesPerSecond() {
  const total = 256 * 2 ** 20
  const sink = await startRawTcpSink()
  try {
    return total / ((await sendRawTcp(sink.port, Buffer.alloc(total, 7), { hash: false })) / 1000)
  } finally {
    sink.close()
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const root = mkdtempSync(join(tmpdir(), 'weft-bench-fl-'))
const nodes = []
let tcp = 0
let coordinator
const common = ['--ad-interval', args['ad-interval'], '--ad-ttl', String(Number(args['ad-interval']) * 3), '--no-probe', '--log-level', 'warn']
try {
  tcp = await rawTcpBytesPerSecond()
  const cdir = join(root, 'coordinator')
  mkdirSync(cdir, { recursive: true })
  writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false, workers: 1, ...(args['dispatch-concurrency'] === undefined ? {} : { dispatchConcurrency: Number(args['dispatch-concurrency']) }) }, datasets: [{ name: 'fmnist-test', source: 'fashion-mnist', split: 'test' }] }))
  coordinator = await startLocalNode({ dataDir: cdir, startTimeoutMs: 120_000, args: [...common, '--config', join(cdir, 'weft.json')] })
  nodes.push(coordinator)
  const bootstrap = coordinator.addrs.find((a) => !a.includes('/ws'))
  for (let i = 0; i < N; i++) {
    const dir = join(root, `client-${i}`)
    mkdirSync(dir, { recursive: true })
    const dataset = { name: 'fmnist', source: 'fashion-mnist', split: 'train', partition: { scheme: 'dirichlet', alpha: 0.5, clients: N, part: i, seed: 1 } }
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, fl: { workers: 1 }, datasets: [dataset] }))
  }
  nodes.push(
    ...(await Promise.all(
      Array.from({ length: N }, (_, i) =>
        startLocalNode({ dataDir: join(root, `client-${i}`), startTimeoutMs: 120_000, args: [...common, '--config', join(root, `client-${i}`, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId] }),
      ),
    )),
  )
  await waitUntil(async () => (await coordinator.api.peers('alive')).filter((p) => p.ad?.datasets.length > 0).length === N, 120_000, 'every client ad', 500)
  const spec = {
    name: `bench-${args.model}`,
    model,
    dataset: 'fmnist',
    rounds: Number(args.rounds),
    clients: { fraction: 1, min: N },
    train: { epochs: Number(args.epochs), batchSize: Number(args.batch), optimizer: { kind: 'sgd', lr: Number(args.lr), momentum: Number(args.momentum) } },
    evaluation: { centralized: { dataset: 'fmnist-test', every: 1 } },
    timeouts: { roundSeconds: 3600, waitSeconds: 600 },
    seed: 1,
  }
  if (!['direct', 'cid'].includes(args.handout)) throw new Error(`--handout must be direct or cid, got ${args.handout}`)
  const summaries = [await runJob(args.handout === 'cid' ? 'direct hand-outs' : 'plaintext', spec)]
  if (args.handout === 'cid') {
    const before = await handoutBlocks()
    summaries.push(await runJob('hand-outs by CID', { ...spec, name: `${spec.name}-cid`, handout: 'cid' }))
    const after = await handoutBlocks()
    summaries.push(await runJob('direct again', { ...spec, name: `${spec.name}-direct-2` }))
    const from = (k) => after[k] - before[k]
    console.log(`\nmodel blocks fetched by CID: ${from('coordinator')} from the coordinator, ${from('client')} from other clients`)
    console.log('job                 round s (median)  overhead ms (median)  broadcast s  bytes down/round  accuracy')
    for (const x of summaries) {
      console.log(
        `${x.label.padEnd(19)} ${x.total.toFixed(3).padStart(16)}  ${(x.overhead * 1000).toFixed(1).padStart(20)}  ${x.broadcast.toFixed(3).padStart(11)}  ` +
          `${(x.bytesDown / 2 ** 20).toFixed(2).padStart(12)} MiB  ${(x.accuracy * 100).toFixed(2)}%`,
      )
    }
    const [first, byCid, again] = summaries
    console.log(`overhead ratio (CID / direct, same run): ${(byCid.overhead / first.overhead).toFixed(2)} against the first direct run, ${(byCid.overhead / again.overhead).toFixed(2)} against the second`)
  }
  if (args['compare-secure']) {
    summaries.push(await runJob('secure aggregation', { ...spec, name: `${spec.name}-secure`, privacy: { secureAggregation: { dropoutRate: 0.1, corruptRate: 0.1, clip: 1 } } }))
    console.log('\njob                 round s (median)  aggregation s  training s  bytes up/round  protocol bytes/round  accuracy')
    for (const x of summaries) {
      console.log(
        `${x.label.padEnd(19)} ${x.total.toFixed(2).padStart(16)}  ${x.aggregation.toFixed(3).padStart(13)}  ${x.training.toFixed(2).padStart(10)}  ` +
          `${(x.bytesUp / 2 ** 20).toFixed(2).padStart(10)} MiB  ${(x.protocolBytes / 2 ** 20).toFixed(3).padStart(16)} MiB  ${(x.accuracy * 100).toFixed(2)}%`,
      )
    }
  }
} finally {
  await Promise.all(nodes.map((n) => n.stop()))
  if (!args.keep) rmSync(root, { recursive: true, force: true })
}

async function runJob(label, spec) {
  const t0 = performance.now()
  console.log(`\n${label}:`)
  const { id } = await coordinator.api.submitJob(spec)
  console.log(`${N} clients, ${args.model} (${paramCount(model)} params), E=${args.epochs}, B=${args.batch}, SGD lr ${args.lr} momentum ${args.momentum}; raw TCP loopback ${(tcp / 2 ** 20).toFixed(0)} MiB/s`)
  let after = 0
  for (;;) {
    const { events, status } = await coordinator.api.jobEvents(id, after, 10)
    for (const e of events) {
      after = e.seq
      if (e.type === 'round-evaluated' || e.type === 'job-failed') console.log(`  ${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s  ${e.message}`)
    }
    if (status !== 'running' && events.length === 0) break
  }
  const view = await coordinator.api.job(id)
  if (args.timeline) await printTimeline(id)
  if (view.status !== 'finished') throw new Error(`job ${view.status}: ${view.error}`)
  const ms = view.history.map((h) => h.metrics)
  // Round 1 includes the clients' first model download and engine warm-up; rounds 2.. are the steady state.
  const steady = ms.slice(1)
  const overhead = median(steady.map((m) => m.overheadSeconds))
  const bytes = median(steady.map((m) => m.bytesDown + m.bytesUp))
  const floorSeconds = bytes / tcp
  const goal = Math.min(0.1, 1.5 * floorSeconds + 0.005)
  const phase = (k) => median(steady.map((m) => m.seconds[k]))
  console.log(`final test accuracy ${(view.latest.accuracy * 100).toFixed(2)}% after ${view.completedRounds} rounds, ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  console.log(
    `round overhead (median of rounds 2..${ms.length}): ${(overhead * 1000).toFixed(1)} ms; bytes need ${(floorSeconds * 1000).toFixed(1)} ms at raw TCP speed; ` +
      `goal ≤ min(100 ms, 1.5 × floor + 5 ms) = ${(goal * 1000).toFixed(1)} ms: ${overhead <= goal ? 'met' : 'not met'}`,
  )
  console.log(
    `median phases: total ${phase('total').toFixed(3)} s, broadcast ${phase('broadcast').toFixed(3)} s, training ${phase('training').toFixed(3)} s, upload ${phase('upload').toFixed(3)} s, aggregation ${phase('aggregation').toFixed(3)} s`,
  )
  console.log(
    `bytes per round: ${(bytes / 2 ** 20).toFixed(2)} MiB vs floor ${((2 * N * modelBytes) / 2 ** 20).toFixed(2)} MiB (model ${(modelBytes / 2 ** 20).toFixed(2)} MiB × ${N} clients × down+up): ${(bytes / (2 * N * modelBytes)).toFixed(3)}×`,
  )
  return {
    label,
    overhead,
    broadcast: phase('broadcast'),
    bytesDown: median(steady.map((m) => m.bytesDown)),
    total: phase('total'),
    aggregation: phase('aggregation'),
    training: phase('training'),
    bytesUp: median(steady.map((m) => m.bytesUp)),
    protocolBytes: median(steady.map((m) => m.secureAggregation?.protocolBytes ?? 0)),
    accuracy: view.latest.accuracy,
  }
}

/** The coordinator's count of model blocks clients fetched by CID, by provider (its Prometheus metrics). */
async function handoutBlocks() {
  const text = await coordinator.api.metrics()
  const count = (provider) => Number(text.match(new RegExp(`weft_fl_handout_blocks_total\\{provider="${provider}"\\} (\\d+)`))?.[1] ?? 0)
  return { coordinator: count('coordinator'), client: count('client') }
}

/** --timeline: each round's events in ms from its start, to see where a round's time goes. */
async function printTimeline(id) {
  const all = []
  for (let after = 0; ; ) {
    const { events } = await coordinator.api.jobEvents(id, after, 0)
    if (events.length === 0) break
    all.push(...events)
    after = events.at(-1).seq
  }
  let start = 0
  for (const e of all) {
    if (e.type === 'round-started') start = e.at
    if (e.round === undefined || start === 0) continue
    console.log(`  r${e.round} +${String(e.at - start).padStart(6)} ms  ${e.type}  ${e.message.replace(/12D3KooW(\w{6})\w+/g, "…$1")}`)
  }
}
