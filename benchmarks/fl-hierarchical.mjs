// Hierarchical FL against flat FedAvg on real Fashion-MNIST (issue 20, deliverable 4): the same 8 virtual clients and
// data split, once as 8 clients of the coordinator and once dealt to 2 sites of 4 whose aggregators forward one
// example-weighted update each per round. Reports both final test accuracies (and the gap in points) and the update
// bytes that reached the coordinator (and their ratio), plus the bytes that moved inside the sites.
// Usage: npx tsc -b packages/fl-sim, then
//   node benchmarks/fl-hierarchical.mjs [--rounds 30] [--examples 12000] [--clients 8] [--sites 2]
//     [--partition dirichlet|iid] [--alpha 0.5] [--site-fraction 1] [--workers 2] [--lr 0.05] [--secure]
// --secure runs both jobs under secure aggregation (clip 1): the flat one over its clients, the hierarchical one with a
// session inside each site and one over the sites (dropoutRate 0: SecAgg+ cannot plan for dropouts with two sites).
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { loadFashionMnist } from '@weft/data/node'
import { parseJobSpec } from '@weft/fl'
import { runSimulation } from '@weft/fl-sim'
import { createWorkerPool } from '@weft/runtime-tfjs/node'

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    examples: { type: 'string', default: '12000' },
    clients: { type: 'string', default: '8' },
    sites: { type: 'string', default: '2' },
    partition: { type: 'string', default: 'dirichlet' },
    alpha: { type: 'string', default: '0.5' },
    'site-fraction': { type: 'string', default: '1' },
    workers: { type: 'string', default: String(availableParallelism()) },
    lr: { type: 'string', default: '0.05' },
    secure: { type: 'boolean', default: false },
  },
})
const rounds = Number(args.rounds)
const clients = Number(args.clients)
const sites = Number(args.sites)
const siteFraction = Number(args['site-fraction'])
const [full, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
// The first N training examples (the split is already shuffled), so a run fits a few minutes on 2 cores.
const n = Math.min(Number(args.examples), full.size)
const train = full.subset(Int32Array.from({ length: n }, (_, i) => i), `fashion-mnist-${n}`)
const partition = args.partition === 'iid' ? { scheme: 'iid' } : { scheme: 'dirichlet', alpha: Number(args.alpha) }
const pool = createWorkerPool({ size: Number(args.workers) })

const spec = (min) =>
  parseJobSpec({
    name: 'hierarchical-bench',
    model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10 },
    dataset: 'fashion-mnist',
    rounds,
    clients: { fraction: 1, min },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: Number(args.lr) } },
    evaluation: { centralized: { dataset: 'fashion-mnist-test', every: 5 } },
    timeouts: { roundSeconds: 3600, waitSeconds: 60 },
    seed: 1,
    ...(args.secure ? { privacy: { secureAggregation: { clip: 1, dropoutRate: 0 } } } : {}),
  })

const accuracy = (r) => r.rounds.at(-1)?.metrics?.evaluation?.centralized?.accuracy ?? Number.NaN
const mib = (b) => (b / 2 ** 20).toFixed(2)
const describe = partition.scheme === 'iid' ? 'IID' : `Dirichlet(${partition.alpha})`
console.log(
  `2NN on Fashion-MNIST (${n} training examples, ${describe} over ${clients} clients), E=1, B=10, SGD lr ${args.lr}, ${rounds} rounds, ` +
    `every client (site) each round${siteFraction < 1 ? `, ${siteFraction} of each site's clients` : ''}, ${args.workers} tfjs-wasm workers` +
    (args.secure ? ', secure aggregation (clip 1, dropoutRate 0) in both runs' : ''),
)

try {
  const common = { clients, partition, partitionSeed: 1, train, test, pool }
  const flat = await runSimulation({ ...common, spec: spec(clients) })
  if (flat.job.status !== 'finished') throw new Error(`flat: ${flat.job.status}: ${flat.job.error}`)
  const hier = await runSimulation({ ...common, spec: spec(sites), sites, siteFraction })
  if (hier.job.status !== 'finished') throw new Error(`hierarchical: ${hier.job.status}: ${hier.job.error}`)
  const rows = [
    ['flat FedAvg', flat, `${clients} clients`],
    [`${sites} sites × ${clients / sites}${siteFraction < 1 ? `, f=${siteFraction}` : ''}`, hier, `${sites} aggregators`],
  ]
  console.log('run                      coordinator sees  accuracy  updates to coordinator  updates inside sites  s/round')
  for (const [name, r, sees] of rows) {
    console.log(
      `${name.padEnd(24)} ${sees.padEnd(17)} ${(accuracy(r) * 100).toFixed(2).padStart(7)}%  ${mib(r.updateBytes.toCoordinator).padStart(17)} MiB  ` +
        `${mib(r.updateBytes.withinSites).padStart(15)} MiB  ${(r.seconds / r.rounds.length).toFixed(2).padStart(7)}`,
    )
  }
  const gap = (accuracy(hier) - accuracy(flat)) * 100
  console.log(
    `accuracy gap (hierarchical − flat): ${gap >= 0 ? '+' : ''}${gap.toFixed(2)} points; ` +
      `update bytes reaching the coordinator: flat / hierarchical = ${(flat.updateBytes.toCoordinator / hier.updateBytes.toCoordinator).toFixed(2)}× ` +
      `(site size ${clients / sites}); bytes inside the sites / flat bytes to the coordinator = ${(hier.updateBytes.withinSites / flat.updateBytes.toCoordinator).toFixed(2)}`,
  )
  const history = (r) => r.rounds.filter((x) => x.metrics?.evaluation?.centralized !== undefined).map((x) => `${x.round}:${(x.metrics.evaluation.centralized.accuracy * 100).toFixed(1)}`)
  console.log(`flat accuracy by round:         ${history(flat).join(' ')}`)
  console.log(`hierarchical accuracy by round: ${history(hier).join(' ')}`)
} finally {
  await pool.close()
}
