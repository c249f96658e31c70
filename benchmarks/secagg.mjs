// Secure aggregation's cost against the same work in the clear, in one run:
//   protocol: one SecAgg+ round (runSecAggRound: every message through the wire codec) for n clients with a
//             2NN-sized vector (199,210 coordinates): slowest client and server time per phase, bytes per client,
//             against plaintext (float32 upload, the server summing n vectors); and the communication expansion
//             against the floor (b + log2 n) / b bits per coordinate.
//   rounds:   `runSimulation` rounds of a 2NN job on Fashion-MNIST with every client training, secure vs plaintext:
//             round time, aggregation time, bytes up per round.
// Usage: npm run build, then
//   node benchmarks/secagg.mjs [--clients 10,100] [--rounds 3] [--workers 2] [--bits 16]
import '@weft/mesh/shim'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { loadFashionMnist } from '@weft/data/node'
import { parseJobSpec } from '@weft/fl'
import { runSimulation } from '@weft/fl-sim'
import { planSecAgg, runSecAggRound } from '@weft/secagg'
import { nativeX25519 } from '@weft/secagg/node'

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10,100' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: String(availableParallelism()) },
    length: { type: 'string', default: '199210' },
    bits: { type: 'string' },
    'skip-rounds': { type: 'boolean', default: false },
  },
})
const sizes = args.clients.split(',').map(Number)
const length = Number(args.length)
const keyAgreement = nativeX25519()
console.log(`secure aggregation benchmark, ${new Date().toISOString()}, vector of ${length} coordinates (2NN), native X25519`)

function inputs(n) {
  return Array.from({ length: n }, (_, i) => Float32Array.from({ length }, (_, j) => Math.sin(i * 31 + j) * 0.05))
}

console.log('\nprotocol: one round, no dropouts; times in ms; bytes per client')
console.log('clients  k    t   bits  client ms (keys/shares/mask/unmask)  server ms  up bytes   down bytes  plaintext up  expansion  floor')
for (const n of sizes) {
  const plan = planSecAgg({ clients: n, dropoutRate: 0.1, corruptRate: 0.1, clip: 1, ...(args.bits === undefined ? {} : { bits: Number(args.bits) }) })
  const xs = inputs(n)
  const r = runSecAggRound({ inputs: xs, plan, keyAgreement })
  const t = r.timings
  const serverMs = Object.values(t).reduce((s, p) => s + p.serverMs, 0)
  const up = Math.max(...r.bytes.clients.map((b) => b.up))
  const down = Math.max(...r.bytes.clients.map((b) => b.down))
  // Plaintext: float32 upload, and the server summing n vectors in float64.
  const t0 = performance.now()
  const sum = new Float64Array(length)
  for (const x of xs) for (let j = 0; j < length; j++) sum[j] += x[j]
  const plainServerMs = performance.now() - t0
  const expansion = (up * 8) / length / plan.bits
  const floor = (plan.bits + Math.log2(n)) / plan.bits
  console.log(
    `${String(n).padStart(7)}  ${String(plan.degree).padStart(3)}  ${String(plan.threshold).padStart(3)}  ${String(plan.bits).padStart(4)}  ` +
      `${[t.advertiseKeys, t.shareKeys, t.maskedInput, t.unmask].map((p) => p.slowestClientMs.toFixed(0)).join('/').padStart(34)}  ` +
      `${serverMs.toFixed(0).padStart(9)}  ${String(up).padStart(9)}  ${String(down).padStart(10)}  ${String(4 * length).padStart(12)}  ${expansion.toFixed(3).padStart(9)}  ${floor.toFixed(3)}`,
  )
  console.log(`         plaintext server sum of ${n} vectors: ${plainServerMs.toFixed(0)} ms; secure upload / float32 upload = ${(up / (4 * length)).toFixed(3)}`)
}

if (!args['skip-rounds']) {
  const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
  const rounds = Number(args.rounds)
  const spec = (secure) =>
    parseJobSpec({
      name: 'bench',
      model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10 },
      dataset: 'fashion-mnist',
      rounds,
      clients: { fraction: 1, min: 1 },
      train: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.05 } },
      evaluation: { centralized: { dataset: 'fashion-mnist-test', every: rounds } },
      timeouts: { roundSeconds: 3600, waitSeconds: 60 },
      seed: 1,
      ...(secure ? { privacy: { secureAggregation: { dropoutRate: 0.1, corruptRate: 0.1, clip: 1 } } } : {}),
    })
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`\nrounds: 2NN, every client trains (E=1, B=32), ${rounds} rounds each, median over rounds; ${args.workers} workers`)
  console.log('clients  job        round s  aggregation s  bytes up/round  protocol bytes  accuracy')
  for (const n of sizes) {
    for (const secure of [false, true]) {
      const r = await runSimulation({ spec: spec(secure), clients: n, partition: { scheme: 'iid' }, train, test, workers: Number(args.workers) })
      if (r.job.status !== 'finished') throw new Error(`${n} ${secure}: ${r.job.status}: ${r.job.error}`)
      const ms = r.rounds.map((x) => x.metrics)
      const acc = ms.at(-1).evaluation?.centralized?.accuracy
      console.log(
        `${String(n).padStart(7)}  ${(secure ? 'secure' : 'plaintext').padEnd(9)}  ${median(ms.map((m) => m.seconds.total)).toFixed(2).padStart(7)}  ` +
          `${median(ms.map((m) => m.seconds.aggregation)).toFixed(3).padStart(13)}  ${(median(ms.map((m) => m.bytesUp)) / 2 ** 20).toFixed(2).padStart(10)} MiB  ` +
          `${(median(ms.map((m) => m.secureAggregation?.protocolBytes ?? 0)) / 2 ** 20).toFixed(2).padStart(10)} MiB  ${((acc ?? 0) * 100).toFixed(2)}%`,
      )
    }
  }
}
