// Benchmark: worker-pool scaling, 2 workers vs 1, training Fashion-MNIST client shards (shared memory, no copies).
// Usage: node benchmarks/runtime-pool-scaling.mjs [--model cnn-lenet] [--tasks 8] [--shard 1000] [--rounds 3]
// Pool sizes 1 and 2 alternate for --rounds rounds (so load drifts on a shared machine hit both); medians are compared.
import { loadFashionMnist } from '@weft/data/node'
import { modelRegistry } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { arg } from './lib/args.mjs'

const model = arg('--model', 'cnn-lenet')
const tasks = Number(arg('--tasks', '8'))
const shard = Number(arg('--shard', '1000'))
const rounds = Number(arg('--rounds', '3'))
const spec = modelRegistry.find((r) => r.name === model).defaultSpec
const train = await loadFashionMnist({ split: 'train' })
const shards = Array.from({ length: tasks }, (_, t) => train.subset(Array.from({ length: shard }, (_, i) => t * shard + i)).toShared())
const rt = await tfjsRuntime({ backend: 'wasm' })
const initial = (await rt.createModel(spec, { seed: 1 })).getParams()
const options = { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 }, seed: 1 }

async function run(size) {
  const pool = createWorkerPool({ size, backend: 'wasm' })
  // Warm-up: start every worker's engine and build the model once.
  await Promise.all(Array.from({ length: size }, (_, i) => pool.train({ spec, params: initial, copyParams: true, dataset: shards[i], options: { ...options, epochs: undefined, steps: 2 } })))
  const t0 = performance.now()
  await Promise.all(shards.map((dataset) => pool.train({ spec, params: initial, copyParams: true, dataset, options })))
  const seconds = (performance.now() - t0) / 1000
  await pool.close()
  return (tasks * shard) / seconds
}

// Baseline: the same tasks in this thread, no pool (shows the pool's own overhead at 1 worker).
async function inProcess() {
  const m = await rt.createModel(spec, { seed: 1 })
  const views = Array.from({ length: tasks }, (_, t) => train.subset(Array.from({ length: shard }, (_, i) => t * shard + i)))
  const t0 = performance.now()
  for (const v of views) {
    m.setParams(initial)
    await m.train(v, options)
  }
  const rate = (tasks * shard) / ((performance.now() - t0) / 1000)
  m.dispose()
  return rate
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ones = []
const twos = []
const bases = []
for (let r = 0; r < rounds; r++) {
  bases.push(await inProcess())
  ones.push(await run(1))
  twos.push(await run(2))
  process.stderr.write(`round ${r + 1}: in-process ${bases.at(-1).toFixed(0)} ex/s, 1 worker ${ones.at(-1).toFixed(0)} ex/s, 2 workers ${twos.at(-1).toFixed(0)} ex/s\n`)
}
// Ratio per round (the two runs closest in time), then the median over rounds: steadier under drifting load.
const roundRatio = median(twos.map((t, i) => t / ones[i]))
const base = median(bases)
const one = median(ones)
const two = median(twos)
process.stderr.write(`1 worker ${one.toFixed(0)} ex/s, 2 workers ${two.toFixed(0)} ex/s\n`)
console.log(`| ${model} | ${tasks} tasks × ${shard} ex, ${rounds} rounds | ${base.toFixed(0)} | ${one.toFixed(0)} | ${two.toFixed(0)} | ${(two / one).toFixed(2)}× | ${roundRatio.toFixed(2)}× |`)
console.log(JSON.stringify({ model, tasks, shard, rounds, inProcess: base, oneWorker: one, twoWorkers: two, scaling: two / one, medianRoundScaling: roundRatio, ones, twos }))
