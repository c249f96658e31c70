// Privacy, compression and robustness benchmarks on real Fashion-MNIST, through `runSimulation` (the real
// coordinator, strategies, DP wrapper, update codecs and attack models), 2NN (784-200-200-10) or --model logreg:
//   --suite dp:          --clients (100), C = 0.1, DP-FedAvg (client clipping to --clip) at ε = 1, 3 and 8
//                        (δ = 1e-5) over --rounds rounds, against the same job without DP, in the same run.
//   --suite compression: 100 clients, C = 0.1: float32, float16, int8 and top-k 1% (error feedback), bytes up per
//                        round and accuracy after --rounds rounds.
//   --suite robustness:  100 clients, C = 0.2 (20 per round): FedAvg, median, trimmed mean, Krum, Bulyan, each
//                        with no attack and with 10% and 20% attackers of each kind, accuracy after --rounds rounds.
// Usage: npm run build, then
//   node benchmarks/fl-privacy.mjs --suite dp [--rounds 100] [--workers 2] [--split iid]
//   node benchmarks/fl-privacy.mjs --suite compression [--rounds 200]
//   node benchmarks/fl-privacy.mjs --suite robustness [--rounds 30] [--attacks sign-flip,...] [--rules fedavg,...]
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { loadFashionMnist } from '@weft/data/node'
import { attackConfigSchema, parseJobSpec } from '@weft/fl'
import { runSimulation } from '@weft/fl-sim'

const { values: args } = parseArgs({
  options: {
    suite: { type: 'string', default: 'dp' },
    rounds: { type: 'string' },
    workers: { type: 'string', default: String(availableParallelism()) },
    split: { type: 'string', default: 'iid' },
    attacks: { type: 'string', default: 'label-flip,sign-flip,gaussian,alie,ipm' },
    rules: { type: 'string', default: 'fedavg,fedmedian,fedtrimmedavg,krum,bulyan' },
    fractions: { type: 'string', default: '0.1,0.2' },
    clients: { type: 'string', default: '100' },
    clip: { type: 'string', default: '1' },
    model: { type: 'string', default: 'mlp' },
  },
})
const workers = Number(args.workers)
const SPLITS = { iid: { scheme: 'iid' }, dirichlet: { scheme: 'dirichlet', alpha: 0.5 } }
const partition = SPLITS[args.split]
if (partition === undefined) throw new Error(`--split must be one of ${Object.keys(SPLITS).join(', ')}`)
const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])

function spec(rounds, fraction, extra = {}) {
  return parseJobSpec({
    name: 'bench',
    model: { architecture: args.model, inputShape: [28, 28, 1], numClasses: 10 },
    dataset: 'fashion-mnist',
    rounds,
    clients: { fraction, min: 1 },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: 0.05 } },
    evaluation: { centralized: { dataset: 'fashion-mnist-test', every: Math.max(1, Math.floor(rounds / 10)) } },
    timeouts: { roundSeconds: 3600, waitSeconds: 60 },
    seed: 1,
    ...extra,
  })
}

const accuracyOf = (r) => r.metrics?.evaluation?.centralized?.accuracy

async function run(label, jobSpec, attack) {
  const t0 = performance.now()
  const drops = []
  const onEvent = (e) => {
    if (e.type === 'client-dropped' || e.type === 'job-failed') drops.push(e.message)
  }
  const r = await runSimulation({ spec: jobSpec, clients: Number(args.clients), partition, train, test, workers, onEvent, ...(attack === undefined ? {} : { attack }) })
  if (drops.length > 0) console.error(`${label}: ${drops.length} clients dropped, first: ${drops[0]}`)
  const closed = r.rounds.filter((x) => x.status === 'closed')
  const last = [...closed].reverse().find((x) => accuracyOf(x) !== undefined)
  return {
    label,
    status: r.job.status,
    rounds: closed.length,
    accuracy: accuracyOf(last),
    bytesUp: closed.reduce((s, x) => s + x.metrics.bytesUp, 0) / Math.max(1, closed.length),
    epsilon: closed.at(-1)?.metrics?.privacy?.epsilon,
    noiseMultiplier: closed.at(-1)?.metrics?.privacy?.noiseMultiplier,
    seconds: (performance.now() - t0) / 1000,
  }
}

const pct = (a) => (a === undefined ? '   n/a ' : `${(a * 100).toFixed(2)}%`)
console.log(`suite ${args.suite}, ${args.model === 'mlp' ? '2NN' : args.model}, ${args.clients} clients (${args.split}), ${workers} workers, started ${new Date().toISOString()}`)

if (args.suite === 'dp') {
  const rounds = Number(args.rounds ?? 100)
  const rows = [await run('no DP', spec(rounds, 0.1))]
  for (const epsilon of [8, 3, 1]) {
    const dp = { mode: 'client', clipNorm: Number(args.clip), targetEpsilon: epsilon, delta: 1e-5 }
    rows.push(await run(`ε = ${epsilon}`, spec(rounds, 0.1, { privacy: { dp } })))
  }
  console.log(`rounds ${rounds}, C = 0.1 (${Number(args.clients) / 10} clients per round, q = 0.1), client clipping C = ${args.clip}, δ = 1e-5`)
  console.log('job       accuracy  ε reported  noise z  s')
  for (const r of rows) {
    console.log(`${r.label.padEnd(9)} ${pct(r.accuracy).padStart(8)}  ${(r.epsilon?.toFixed(3) ?? '-').padStart(10)}  ${(r.noiseMultiplier?.toFixed(3) ?? '-').padStart(7)}  ${r.seconds.toFixed(0)}`)
  }
} else if (args.suite === 'compression') {
  const rounds = Number(args.rounds ?? 200)
  const kinds = [{ kind: 'none' }, { kind: 'float16' }, { kind: 'int8' }, { kind: 'topk', fraction: 0.01 }]
  const rows = []
  for (const compression of kinds) rows.push(await run(compression.kind === 'topk' ? 'top-k 1%' : compression.kind, spec(rounds, 0.1, { compression })))
  const base = rows[0].bytesUp
  console.log(`rounds ${rounds}, C = 0.1 (10 clients per round)`)
  console.log('update      bytes up/round  vs float32  accuracy')
  for (const r of rows) {
    console.log(`${r.label.padEnd(11)} ${(r.bytesUp / 2 ** 20).toFixed(3).padStart(10)} MiB  ${(r.bytesUp / base).toFixed(4).padStart(10)}  ${pct(r.accuracy)}`)
  }
} else if (args.suite === 'robustness') {
  const rounds = Number(args.rounds ?? 30)
  const fractions = args.fractions.split(',').map(Number)
  const attacks = args.attacks.split(',')
  const rules = args.rules.split(',')
  console.log(`rounds ${rounds}, C = 0.2 (20 clients per round); Krum and Bulyan told f = the expected attackers per round`)
  // Columns in the order the runs go: no attack, then every attack at the first fraction, then at the next.
  console.log(`rule           none     ${fractions.flatMap((f) => attacks.map((a) => `${a} ${f * 100}%`.padEnd(16))).join(' ')}`)
  for (const rule of rules) {
    const cells = []
    for (const f of [0, ...fractions]) {
      const byzantine = Math.ceil(f * 20)
      const strategy = rule === 'krum' || rule === 'bulyan' ? { name: rule, f: byzantine } : { name: rule }
      for (const kind of f === 0 ? ['none'] : attacks) {
        const attack = kind === 'none' ? undefined : attackConfigSchema.parse({ kind, fraction: f })
        const r = await run(`${rule} ${kind} ${f}`, spec(rounds, 0.2, { strategy }), attack)
        cells.push(r.status === 'finished' ? pct(r.accuracy) : r.status)
      }
    }
    console.log(`${rule.padEnd(14)} ${cells.map((c) => c.padEnd(16)).join(' ')}`)
  }
} else {
  throw new Error(`--suite must be dp, compression or robustness, got ${args.suite}`)
}
console.log(`finished ${new Date().toISOString()}`)
