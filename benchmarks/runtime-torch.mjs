// Benchmark: training throughput (examples/s) on real Fashion-MNIST through Weft's PyTorch engine, against a plain
// PyTorch loop (benchmarks/torch_plain.py) on the same examples in the same run, and against tfjs-wasm.
// Usage: node benchmarks/runtime-torch.mjs [--models mlp,cnn-lenet] [--threads 2] [--device cpu|cuda] [--reps 2]
//        [--examples logreg=60000,mlp=30000,...] [--no-tfjs]
// Needs built packages, Fashion-MNIST (Debian's dataset-fashion-mnist) and Python with torch and numpy.
import '@weft/mesh/shim'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loadFashionMnist, locateFashionMnist } from '@weft/data/node'
import { modelRegistry } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { TORCH_MALLOC_ENV, torchRuntime } from '@weft/runtime-torch'

const args = process.argv.slice(2)
const arg = (name, def) => {
  const i = args.indexOf(name)
  return i < 0 ? def : args[i + 1]
}
const models = arg('--models', 'logreg,mlp,cnn-lenet,cnn-mcmahan').split(',')
const threads = Number(arg('--threads', '2'))
const device = arg('--device', 'cpu')
const reps = Number(arg('--reps', '2'))
const batchSize = Number(arg('--batch-size', '32'))
const withTfjs = !args.includes('--no-tfjs')
const examples = { logreg: 60000, mlp: 60000, 'cnn-lenet': 30000, 'cnn-mcmahan': 6000 }
for (const kv of arg('--examples', '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=')
  examples[k] = Number(v)
}
// tfjs-wasm is an order of magnitude slower: time it on fewer examples.
const tfjsExamples = { logreg: 16000, mlp: 8000, 'cnn-lenet': 3000, 'cnn-mcmahan': 800 }

const train = await loadFashionMnist({ split: 'train' })
// The plain loop reads the same files the Weft side loaded.
const located = await locateFashionMnist({ split: 'train' })
const dataDir = 'dir' in located ? located.dir : '/usr/share/datasets/fashion-mnist'
const torch = await torchRuntime({ device, threads })
const tfjs = withTfjs ? await tfjsRuntime({ backend: 'wasm' }) : undefined
const plainScript = fileURLToPath(new URL('./torch_plain.py', import.meta.url))
process.stderr.write(`torch ${torch.info.torch} on ${torch.info.device} (${torch.info.deviceName}), ${torch.info.threads} threads, BLAS ${torch.info.blas}\n`)

function plain(model, n) {
  const out = execFileSync(
    torch.info.python,
    [plainScript, '--model', model, '--examples', String(n), '--batch-size', String(batchSize), '--threads', String(threads), '--device', torch.info.device, '--dir', dataDir],
    // The allocator settings the Weft worker runs with (see TORCH_MALLOC_ENV): the same ground for both.
    { encoding: 'utf8', env: { ...process.env, ...TORCH_MALLOC_ENV } },
  )
  return JSON.parse(out.trim().split('\n').at(-1)).examplesPerSecond
}

async function weft(rt, spec, n) {
  const ds = train.subset(Array.from({ length: n }, (_, i) => i))
  const m = await rt.createModel(spec, { seed: 1 })
  // Warm-up for about two seconds, as the plain loop gets (and the data set reaches the worker).
  const w0 = performance.now()
  while (performance.now() - w0 < 2000) await m.train(ds, { steps: 64, batchSize, optimizer: { kind: 'sgd', lr: 0.01 } })
  const r = await m.train(ds, { epochs: 1, batchSize, optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 }, seed: 1 })
  m.dispose()
  return r.examples / (r.durationMs / 1000)
}

const rows = []
for (const name of models) {
  const info = modelRegistry.find((r) => r.name === name)
  if (info === undefined) throw new Error(`unknown model ${name}`)
  const n = examples[name]
  let bestPlain = 0
  let bestWeft = 0
  // Alternate the two so that load on this shared machine hits both alike; keep each one's best run.
  for (let i = 0; i < reps; i++) {
    const p = plain(name, n)
    const w = await weft(torch, info.defaultSpec, n)
    process.stderr.write(`${name}: plain PyTorch ${p.toFixed(0)} ex/s, Weft torch engine ${w.toFixed(0)} ex/s (${((100 * w) / p).toFixed(1)}%)\n`)
    bestPlain = Math.max(bestPlain, p)
    bestWeft = Math.max(bestWeft, w)
  }
  const wasm = tfjs === undefined ? undefined : await weft(tfjs, info.defaultSpec, tfjsExamples[name])
  if (wasm !== undefined) process.stderr.write(`${name}: tfjs-wasm ${wasm.toFixed(0)} ex/s\n`)
  rows.push({ model: name, params: info.paramCount, examples: n, plain: bestPlain, weft: bestWeft, ratio: bestWeft / bestPlain, wasm })
}
await torch.dispose()
await tfjs?.dispose()
console.log(`| model | params | plain PyTorch ex/s | Weft torch ex/s | Weft / plain | tfjs-wasm ex/s | torch / wasm |`)
console.log(`|---|---:|---:|---:|---:|---:|---:|`)
for (const r of rows) {
  const wasm = r.wasm === undefined ? '-' : r.wasm.toFixed(0)
  const speed = r.wasm === undefined ? '-' : `${(r.weft / r.wasm).toFixed(1)}×`
  console.log(`| ${r.model} | ${r.params.toLocaleString('en-US')} | ${r.plain.toFixed(0)} | ${r.weft.toFixed(0)} | ${(100 * r.ratio).toFixed(1)}% | ${wasm} | ${speed} |`)
}
console.log(JSON.stringify({ batchSize, threads, device, torch: torch.info.torch, node: process.version, rows }))
