// Serverless training in the swarm simulator on real Fashion-MNIST, Dirichlet(0.5) over 4 peers, MLP [200, 200]
// (199,210 parameters), 480,000 samples in all (8 epochs' worth), inner AdamW lr 0.001 batch 32:
//   (a) DiLoCo (outer lr 0.7, momentum 0.9, Nesterov), H ≈ 50 inner steps per peer per outer step, groups of 4;
//   (b) plain periodic averaging (outer kind 'average'), same H;
//   (c) DiLoCo with groups of 2;
//   (d) centralized: one model, AdamW lr 0.001 batch 32 on the whole training set for the same 480,000 samples;
//   (e) the bytes a synchronous data-parallel run (one ring/butterfly all-reduce of the float32 model per step among
//       4 peers) would send, against the bytes the simulator's network measured for (a).
// Usage: npm run build, then
//   node benchmarks/swarm-diloco.mjs [--samples 480000] [--h 50] [--workers 2] [--peers 4] [--model mlp|cnn-lenet]
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { partition } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { initialFlatParams, paramCount } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { parseSwarmSpec, runSwarmSimulation } from '@weft/swarm'

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '480000' },
    h: { type: 'string', default: '50' },
    peers: { type: 'string', default: '4' },
    workers: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    'eval-every': { type: 'string', default: '25' },
    model: { type: 'string', default: 'mlp' },
  },
})
const total = Number(args.samples)
const H = Number(args.h)
const peers = Number(args.peers)
const BATCH = 32
const model =
  args.model === 'cnn-lenet'
    ? { architecture: 'cnn-lenet', inputShape: [28, 28, 1], numClasses: 10 }
    : { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10, hidden: [200, 200] }
const P = paramCount(model)

const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
const parts = partition(train.labels(), { scheme: 'dirichlet', alpha: 0.5 }, { clients: peers, seed: 1 })
const shares = parts.map((p, i) => train.subset(p, `p${i}`).toShared())
const testShared = test.toShared()
const pool = await createWorkerPool({ size: Number(args.workers) })

console.log(
  `Fashion-MNIST, Dirichlet(0.5) over ${peers} peers (shares ${parts.map((p) => p.length).join(", ")}), ${model.architecture} (${P.toLocaleString('en')} parameters), ` +
    `${total.toLocaleString('en')} samples, inner AdamW lr 0.001 B=${BATCH}, H=${H}, ${args.workers} tfjs workers`,
)

const rows = []
async function swarm(label, outer, groupSize) {
  const spec = parseSwarmSpec({
    model,
    dataset: 'fashion-mnist',
    targetSamples: peers * H * BATCH,
    totalSamples: total,
    outer,
    averaging: { groupSize },
    minPeers: peers,
    evaluation: { dataset: 'test', every: Number(args['eval-every']) },
  })
  const r = await runSwarmSimulation({ spec, shares, test: testShared, pool })
  const accs = r.peers.map((p) => p.accuracy)
  const last = r.peers[0].records.at(-1)
  const row = {
    label,
    accuracy: accs.reduce((a, b) => a + b, 0) / accs.length,
    min: Math.min(...accs),
    max: Math.max(...accs),
    seconds: r.seconds,
    bytes: r.bytes,
    outerSteps: r.peers[0].records.length,
    consensus: last?.consensusDistance,
  }
  rows.push(row)
  console.log(
    `  ${label}: mean accuracy ${(row.accuracy * 100).toFixed(2)}% (peers ${accs.map((a) => (a * 100).toFixed(2)).join(', ')}), ${row.outerSteps} outer steps, ` +
      `${r.seconds.toFixed(1)} s, ${(r.bytes / 1e6).toFixed(1)} MB carried, last consensus distance ${last?.consensusDistance.toExponential(2)}`,
  )
  return r
}

try {
  const a = await swarm('(a) DiLoCo, groups of 4', { kind: 'diloco' }, 4)
  await swarm('(b) plain averaging, groups of 4', { kind: 'average' }, 4)
  await swarm('(c) DiLoCo, groups of 2', { kind: 'diloco' }, 2)

  // (d) One model on the whole training set: one pool task, so AdamW's state carries through all the steps.
  const steps = Math.round(total / BATCH)
  const start = Date.now()
  const out = await pool.train({
    spec: model,
    params: initialFlatParams(model, 0),
    dataset: train.toShared(),
    options: { steps, batchSize: BATCH, optimizer: { kind: 'adamw', lr: 0.001, weightDecay: 0.01 }, seed: 0 },
  })
  const ev = await pool.evaluate({ spec: model, params: out.params, dataset: testShared, batchSize: 1000 })
  const central = { label: `(d) centralized, ${steps.toLocaleString('en')} steps`, accuracy: ev.accuracy, min: ev.accuracy, max: ev.accuracy, seconds: (Date.now() - start) / 1000, bytes: 0 }
  rows.push(central)
  console.log(`  ${central.label}: accuracy ${(ev.accuracy * 100).toFixed(2)}%, ${central.seconds.toFixed(1)} s`)

  // (e) Synchronous data parallelism: every step each peer takes one batch and the 4 peers all-reduce the gradient.
  // A bandwidth-optimal all-reduce (ring or butterfly reduce-scatter + all-gather) of N float32 values among n peers
  // sends 2·(1 − 1/n)·4·N bytes per peer per step; with n peers of B samples per step the swarm takes
  // total / (n·B) steps, each peer taking part in every one.
  const syncSteps = total / (peers * BATCH)
  const perPeerPerStep = 2 * (1 - 1 / peers) * 4 * P
  const syncBytes = perPeerPerStep * syncSteps * peers
  console.log('')
  console.log(
    `(e) synchronous data parallelism: 2·(1 − 1/${peers})·4 B·${P.toLocaleString('en')} = ${perPeerPerStep.toLocaleString('en')} B per peer per step × ` +
      `${syncSteps.toLocaleString('en')} steps (${total.toLocaleString('en')} / (${peers}·${BATCH})) × ${peers} peers = ${(syncBytes / 1e9).toFixed(2)} GB sent in all; ` +
      `the simulator measured ${(a.bytes / 1e6).toFixed(1)} MB for (a): ${(syncBytes / a.bytes).toFixed(1)}× less`,
  )
  rows.push({ label: '(e) sync data parallel (computed)', accuracy: Number.NaN, min: Number.NaN, max: Number.NaN, seconds: Number.NaN, bytes: syncBytes })
  console.log('')
  console.log('| run | test accuracy (mean of peers; min–max) | seconds | bytes carried |')
  console.log('|---|---|---|---|')
  for (const r of rows) {
    const acc = Number.isNaN(r.accuracy) ? '–' : r.min === r.max ? `${(r.accuracy * 100).toFixed(2)}%` : `${(r.accuracy * 100).toFixed(2)}% (${(r.min * 100).toFixed(2)}–${(r.max * 100).toFixed(2)})`
    console.log(`| ${r.label} | ${acc} | ${Number.isNaN(r.seconds) ? '–' : r.seconds.toFixed(1)} | ${r.bytes === 0 ? '0' : `${(r.bytes / 1e6).toFixed(1)} MB`} |`)
  }
} finally {
  await pool.close()
}
