// What signing the SecAgg+ round keys costs a round (issue 15): the same secure-aggregation job run by `runSimulation`
// with each client's X25519 keys signed by its Ed25519 identity and checked by its neighbours (the default, as on a
// mesh), and with unsigned, unchecked keys (`unsignedSecAggKeysUnsafe`, benchmark only), alternating in one run
// (--pairs pairs, who goes first alternating). Reports per variant the median round time, the median training time
// (the slowest client's), and the round overhead as fl-mesh.mjs reports it (median of round − training over rounds
// 2..), the difference and the ratio; and, as the floor, Ed25519 sign and verify timed in the same run times the
// signatures a round makes (one per client) and checks (one per client per neighbour).
// The virtual clients run in this one process, so their signing and checking add up serially here, on the thread that
// also hands out and collects the training (so part of it can land inside the measured training time: read the round
// time too); on a mesh each client does its own share in parallel.
// Usage: npm run build, then
//   node benchmarks/secagg-sign.mjs [--clients 20] [--examples 6000] [--rounds 6] [--pairs 3] [--model logreg] [--workers 2] [--json]
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { ed25519 } from '@noble/curves/ed25519.js'
import { loadFashionMnist } from '@weft/data/node'
import { parseJobSpec } from '@weft/fl'
import { runSimulation } from '@weft/fl-sim'

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    examples: { type: 'string', default: '6000' },
    rounds: { type: 'string', default: '6' },
    pairs: { type: 'string', default: '3' },
    model: { type: 'string', default: 'logreg' },
    workers: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    json: { type: 'boolean', default: false },
  },
})
const N = Number(args.clients)
const log = args.json ? (...xs) => console.error(...xs) : (...xs) => console.log(...xs)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

// A small share per client keeps training short, so that the protocol's own work is a visible part of a round.
const full = await loadFashionMnist({ split: 'train' })
const train = full.subset(Int32Array.from({ length: Math.min(Number(args.examples), full.size) }, (_, i) => i), 'fashion-mnist/train-head')
const spec = parseJobSpec({
  name: 'secagg-sign',
  model: { architecture: args.model, inputShape: [28, 28, 1], numClasses: 10 },
  dataset: 'fashion-mnist',
  rounds: Number(args.rounds),
  clients: { fraction: 1, min: N },
  train: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.05 } },
  privacy: { secureAggregation: { dropoutRate: 0.1, corruptRate: 0.1, clip: 1 } },
  timeouts: { roundSeconds: 3600, waitSeconds: 60 },
  seed: 1,
})

async function run(unsigned) {
  const r = await runSimulation({ spec, clients: N, partition: { scheme: 'iid' }, train, workers: Number(args.workers), unsignedSecAggKeysUnsafe: unsigned })
  if (r.job.status !== 'finished') throw new Error(`${unsigned ? 'unsigned' : 'signed'}: ${r.job.status}: ${r.job.error}`)
  // Round 1 includes the engines' warm-up; rounds 2.. are the steady state.
  return r.rounds.slice(1).map((x) => ({ total: x.metrics.seconds.total, training: x.metrics.seconds.training, overhead: x.metrics.overheadSeconds, degree: x.metrics.secureAggregation?.degree }))
}

log(`secagg-sign ${new Date().toISOString()}: ${N} clients, ${args.model}, ${train.size} examples (iid shares), ${args.rounds} rounds, ${args.pairs} pairs, ${args.workers} workers`)
const rounds = { signed: [], unsigned: [] }
for (let p = 0; p < Number(args.pairs); p++) {
  const order = p % 2 === 0 ? [false, true] : [true, false]
  for (const unsigned of order) {
    const rs = await run(unsigned)
    rounds[unsigned ? 'unsigned' : 'signed'].push(...rs)
    log(`  pair ${p + 1} ${unsigned ? 'unsigned' : 'signed  '}: median round ${median(rs.map((x) => x.total)).toFixed(3)} s, overhead ${(median(rs.map((x) => x.overhead)) * 1000).toFixed(1)} ms`)
  }
}

// The floor: the signatures one round makes and checks, timed here with the same library (@noble/curves).
const secret = ed25519.utils.randomSecretKey()
const pub = ed25519.getPublicKey(secret)
const message = new Uint8Array(120).fill(7)
const signature = ed25519.sign(message, secret)
const time = (f, n) => {
  for (let i = 0; i < 20; i++) f()
  const t = performance.now()
  for (let i = 0; i < n; i++) f()
  return (performance.now() - t) / n / 1000
}
const signSeconds = time(() => ed25519.sign(message, secret), 300)
const verifySeconds = time(() => ed25519.verify(signature, message, pub), 300)
const degree = median(rounds.signed.map((x) => x.degree))
// Each client signs its keys once, and checks each neighbour's (k − 1 of them, the graph's degree k counting itself or not: take k).
const floor = N * signSeconds + N * degree * verifySeconds

const summary = Object.fromEntries(
  Object.entries(rounds).map(([k, rs]) => [
    k,
    { rounds: rs.length, round: median(rs.map((x) => x.total)), training: median(rs.map((x) => x.training)), overhead: median(rs.map((x) => x.overhead)) },
  ]),
)
const diff = summary.signed.overhead - summary.unsigned.overhead
const roundDiff = summary.signed.round - summary.unsigned.round
const result = {
  clients: N,
  degree,
  ...summary,
  overheadDifference: diff,
  overheadRatio: summary.signed.overhead / summary.unsigned.overhead,
  roundDifference: roundDiff,
  roundRatio: summary.signed.round / summary.unsigned.round,
  signSeconds,
  verifySeconds,
  floor,
}
log('\nkeys       rounds  round s (median)  training s  overhead ms (round − training)')
for (const [k, s] of Object.entries(summary)) {
  log(`${k.padEnd(9)} ${String(s.rounds).padStart(7)}  ${s.round.toFixed(3).padStart(16)}  ${s.training.toFixed(3).padStart(10)}  ${(s.overhead * 1000).toFixed(1).padStart(11)}`)
}
log(
  `signed − unsigned: overhead ${(diff * 1000).toFixed(1)} ms per round (${result.overheadRatio.toFixed(3)}×), ` +
    `round ${(roundDiff * 1000).toFixed(1)} ms (${result.roundRatio.toFixed(3)}×)\n` +
    `floor: ${N} signs × ${(signSeconds * 1e6).toFixed(0)} µs + ${N} × ${degree} checks × ${(verifySeconds * 1e6).toFixed(0)} µs = ${(floor * 1000).toFixed(1)} ms per round, all in this one process`,
)
if (args.json) console.log(JSON.stringify(result, null, 2))
