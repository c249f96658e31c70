// Benchmark: the federated LeNet job (10 clients, Dirichlet(0.5) shares of Fashion-MNIST, FedAvg) with every client
// on tfjs-wasm, on PyTorch, and half on each, through the same coordinator: wall time and test accuracy per round.
// Usage: npm run build, then
//   node benchmarks/fl-engines.mjs [--rounds 50] [--fraction 1] [--engines torch,tfjs,mixed] [--workers 2] [--eval-every 5]
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { loadFashionMnist } from '@weft/data/node'
import { parseJobSpec } from '@weft/fl'
import { createSimulationPools, runSimulation } from '@weft/fl-sim'

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '50' },
    fraction: { type: 'string', default: '1' },
    engines: { type: 'string', default: 'torch,mixed,tfjs' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'eval-every': { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.05' },
  },
})
const workers = Number(args.workers)
const rounds = Number(args.rounds)
const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
const spec = parseJobSpec({
  name: 'fl-lenet',
  model: { architecture: 'cnn-lenet', inputShape: [28, 28, 1], numClasses: 10 },
  dataset: 'fashion-mnist',
  rounds,
  clients: { fraction: Number(args.fraction), min: 1 },
  train: { epochs: 1, batchSize: Number(args['batch-size']), optimizer: { kind: 'sgd', lr: Number(args.lr), momentum: 0.9 } },
  evaluation: { centralized: { dataset: 'fashion-mnist-test', every: Number(args['eval-every']) } },
  timeouts: { roundSeconds: 3600, waitSeconds: 60 },
  seed: 1,
})

const results = []
for (const engine of args.engines.split(',')) {
  const p = await createSimulationPools({ engine, workers, torchThreads: 1, torchDevice: 'cpu' })
  process.stderr.write(`${engine}: ${rounds} rounds of LeNet, 10 clients, Dirichlet(0.5), C=${spec.clients.fraction}\n`)
  const r = await runSimulation({
    spec,
    clients: 10,
    partition: { scheme: 'dirichlet', alpha: 0.5 },
    partitionSeed: 1,
    train,
    test,
    pool: p.main,
    clientPools: p.clients,
    onRound: (round, m) => {
      const acc = m.evaluation?.centralized?.accuracy
      if (acc !== undefined) process.stderr.write(`  ${engine} round ${round}: ${(100 * acc).toFixed(2)}%, ${m.seconds.total.toFixed(2)} s\n`)
    },
  })
  await p.close()
  const curve = r.rounds.map((x) => x.metrics?.evaluation?.centralized?.accuracy).filter((a) => a !== undefined)
  const training = r.rounds.reduce((s, x) => s + (x.metrics?.seconds.training ?? 0), 0)
  results.push({ engine, status: r.job.status, seconds: r.seconds, trainingSeconds: training, finalAccuracy: curve.at(-1), curve })
  process.stderr.write(`${engine}: ${r.job.status} in ${r.seconds.toFixed(1)} s, final accuracy ${(100 * (curve.at(-1) ?? 0)).toFixed(2)}%\n`)
}
const base = results.find((r) => r.engine === 'tfjs')
console.log('| clients train on | wall time | s/round | final test accuracy | vs tfjs-wasm |')
console.log('|---|---:|---:|---:|---:|')
for (const r of results) {
  const ratio = base === undefined ? '-' : `${(base.seconds / r.seconds).toFixed(1)}× faster`
  console.log(`| ${r.engine} | ${r.seconds.toFixed(0)} s | ${(r.seconds / rounds).toFixed(2)} | ${(100 * (r.finalAccuracy ?? 0)).toFixed(2)}% | ${r.engine === 'tfjs' ? '1×' : ratio} |`)
}
console.log(JSON.stringify({ rounds, workers, fraction: spec.clients.fraction, batchSize: spec.train.batchSize, node: process.version, results }))
