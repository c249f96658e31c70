// FL simulation benchmarks on real Fashion-MNIST, through the same coordinator and strategy code as a mesh job:
//   learning: 2NN, 100 clients, C=0.1, E=1, B=10, SGD lr 0.05: rounds to 85% test accuracy and accuracy after
//             --rounds rounds, for IID, Dirichlet(0.5) and 2 label shards per client;
//   scale:    --scale-clients clients, C=0.05, 2NN: seconds per round and peak resident memory.
// Usage: npm run build, then
//   node benchmarks/fl-simulate.mjs [--rounds 200] [--schemes iid,dirichlet,shards] [--workers 2] [--lr 0.05]
//   node benchmarks/fl-simulate.mjs --scale-only [--scale-clients 1000] [--scale-rounds 10]
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { loadFashionMnist } from '@weft/data/node'
import { parseJobSpec } from '@weft/fl'
import { runSimulation } from '@weft/fl-sim'

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '200' },
    schemes: { type: 'string', default: 'iid,dirichlet,shards' },
    workers: { type: 'string', default: String(availableParallelism()) },
    lr: { type: 'string', default: '0.05' },
    'eval-every': { type: 'string', default: '1' },
    'scale-clients': { type: 'string', default: '1000' },
    'scale-rounds': { type: 'string', default: '10' },
    'scale-only': { type: 'boolean', default: false },
    'no-scale': { type: 'boolean', default: false },
  },
})
const workers = Number(args.workers)
const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])

const SCHEMES = {
  iid: { scheme: 'iid' },
  dirichlet: { scheme: 'dirichlet', alpha: 0.5 },
  shards: { scheme: 'shards', shardsPerClient: 2 },
}

function spec(rounds, fraction, evalEvery) {
  return parseJobSpec({
    name: 'bench',
    model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10 },
    dataset: 'fashion-mnist',
    rounds,
    clients: { fraction, min: 1 },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: Number(args.lr) } },
    evaluation: { centralized: { dataset: 'fashion-mnist-test', every: evalEvery } },
    timeouts: { roundSeconds: 3600, waitSeconds: 60 },
    seed: 1,
  })
}

const accuracy = (r) => r.metrics?.evaluation?.centralized?.accuracy

if (!args['scale-only']) {
  console.log(`learning: 2NN, 100 clients, C=0.1, E=1, B=10, SGD lr ${args.lr}, ${args.rounds} rounds, ${workers} workers`)
  console.log('scheme      rounds-to-85%  acc@last  best     s/round')
  for (const name of args.schemes.split(',')) {
    const r = await runSimulation({ spec: spec(Number(args.rounds), 0.1, Number(args['eval-every'])), clients: 100, partition: SCHEMES[name], train, test, workers })
    if (r.job.status !== 'finished') throw new Error(`${name}: ${r.job.status}: ${r.job.error}`)
    const reached = r.rounds.find((x) => (accuracy(x) ?? 0) >= 0.85)?.round
    const accs = r.rounds.map(accuracy).filter((a) => a !== undefined)
    console.log(
      `${name.padEnd(11)} ${String(reached ?? 'never').padStart(13)}  ${((accs.at(-1) ?? 0) * 100).toFixed(2).padStart(7)}%  ${(Math.max(...accs) * 100).toFixed(2)}%  ${(r.seconds / r.rounds.length).toFixed(2).padStart(7)}`,
    )
  }
}

if (!args['no-scale']) {
  const n = Number(args['scale-clients'])
  const rounds = Number(args['scale-rounds'])
  const before = process.memoryUsage().rss
  const r = await runSimulation({ spec: spec(rounds, 0.05, rounds), clients: n, partition: SCHEMES.iid, train, test, workers })
  if (r.job.status !== 'finished') throw new Error(`scale: ${r.job.status}: ${r.job.error}`)
  const perRound = r.rounds.map((x) => x.metrics.seconds.total).sort((a, b) => a - b)
  console.log(
    `scale: ${n} clients, C=0.05 (${r.rounds[0].metrics.results} per round), 2NN: median ${perRound[Math.floor(perRound.length / 2)].toFixed(2)} s/round over ${rounds} rounds, ` +
      `peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB (RSS before the run ${(before / 2 ** 20).toFixed(0)} MiB, data sets loaded), ` +
      `accuracy after ${rounds} rounds ${((accuracy(r.rounds.at(-1)) ?? 0) * 100).toFixed(2)}%`,
  )
}
