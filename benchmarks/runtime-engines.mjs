// Benchmark: training throughput (examples/s) of every built-in model on real Fashion-MNIST, tfjs wasm vs cpu,
// measured in the same run. Usage: node benchmarks/runtime-engines.mjs [--models a,b] [--backends wasm,cpu] [--scale 1]
// Needs built packages (npx tsc -b packages/runtime packages/runtime-tfjs packages/data).
import { loadFashionMnist } from '@weft/data/node'
import { modelRegistry } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { arg } from './lib/args.mjs'

const models = arg('--models', 'logreg,mlp,cnn-lenet,cnn-mcmahan').split(',')
const scale = Number(arg('--scale', '1'))
const batchSize = Number(arg('--batch-size', '32'))
const backends = arg('--backends', 'wasm,cpu').split(',')
// Examples timed per (model, backend): enough for a stable rate, few enough for the slow cpu CNN path.
const budget = {
  wasm: { logreg: 16000, mlp: 8000, 'cnn-lenet': 4000, 'cnn-mcmahan': 1600 },
  cpu: { logreg: 8000, mlp: 1600, 'cnn-lenet': 320, 'cnn-mcmahan': 32 },
}

const train = await loadFashionMnist({ split: 'train' })
const runtimes = {}
for (const b of backends) runtimes[b] = await tfjsRuntime({ backend: b })
const rows = []
for (const name of models) {
  const info = modelRegistry.find((r) => r.name === name)
  if (info === undefined) throw new Error(`unknown model ${name}`)
  const rate = {}
  for (const backend of backends) {
    const rt = runtimes[backend]
    const m = await rt.createModel(info.defaultSpec, { seed: 1 })
    const n = Math.max(batchSize, Math.round(budget[backend][name] * scale))
    const ds = train.subset(Array.from({ length: n }, (_, i) => i))
    await m.train(ds, { steps: 1, batchSize, optimizer: { kind: 'sgd', lr: 0.01 } }) // warm-up
    const r = await m.train(ds, { epochs: 1, batchSize, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 }, seed: 1 })
    rate[backend] = r.examples / (r.durationMs / 1000)
    m.dispose()
    process.stderr.write(`${name} ${backend}: ${rate[backend].toFixed(1)} ex/s over ${r.examples} examples\n`)
  }
  rows.push({ model: name, params: info.paramCount, wasm: rate.wasm, cpu: rate.cpu, speedup: rate.wasm / rate.cpu })
}
console.log(`| model | params | tfjs-wasm ex/s | tfjs-cpu ex/s | wasm/cpu |`)
console.log(`|---|---:|---:|---:|---:|`)
for (const r of rows) {
  const f = (v, d) => (v === undefined ? '-' : v.toFixed(d))
  console.log(`| ${r.model} | ${r.params.toLocaleString('en-US')} | ${f(r.wasm, 0)} | ${f(r.cpu, 1)} | ${r.cpu === undefined ? '-' : `${f(r.speedup, 1)}×`} |`)
}
console.log(JSON.stringify({ batchSize, node: process.version, rows }))
