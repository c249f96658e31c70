// Benchmark: tfjs-wasm training speed against Weft's PyTorch engine, one thread each, same models, steps and batch
// sizes, measured alternately in the same run; prints examples/s and the ratio tfjs/torch per model and batch size,
// per wall-clock second and per CPU second (medians of the per-rep ratios).
// Usage: node benchmarks/engine-speed.mjs [--models mlp,cnn-lenet] [--batch-sizes 32,10] [--reps 5]
//        [--variants explicit,tape] [--seconds 1.5]
// Variants of the tfjs engine (`trainingStep`): 'explicit' (the default: hand-written backward pass), 'tape'
// (tf.variableGrads' gradient tape, as before issue 20; Weft's wasm kernels are shared by both).
// Needs built packages (npx tsc -b packages/runtime-tfjs packages/runtime-torch packages/data), Fashion-MNIST
// (Debian's dataset-fashion-mnist) and python3-torch.
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import '@weft/mesh/shim'
import { loadFashionMnist } from '@weft/data/node'
import { modelRegistry } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import { arg } from './lib/args.mjs'

const models = arg('--models', 'mlp,cnn-lenet').split(',')
const batchSizes = arg('--batch-sizes', '32,10').split(',').map(Number)
const reps = Number(arg('--reps', '5'))
const seconds = Number(arg('--seconds', '1.5'))
const variants = arg('--variants', 'explicit,tape').split(',')
const optimizer = { kind: 'sgd', lr: 0.01, momentum: 0.9 }

const train = await loadFashionMnist({ split: 'train' })
const torch = await torchRuntime({ device: 'cpu', threads: 1 })
const tfjs = {}
for (const v of variants) {
  tfjs[v] = await tfjsRuntime({ backend: 'wasm', trainingStep: v })
  if (tfjs[v].backend !== 'wasm') throw new Error(`wasm did not start: ${tfjs[v].fallbackReason}`)
}
process.stderr.write(`torch ${torch.info.torch}, ${torch.info.threads} thread(s), BLAS ${torch.info.blas}; node ${process.version}; load ${loadavg()[0].toFixed(2)}\n`)

/** CPU seconds used so far by the PyTorch worker process (user + system, from /proc; Linux only). */
function workerCpuSeconds() {
  const stat = readFileSync(`/proc/${torch.info.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks of 1/100 s.
  return (Number(f[11]) + Number(f[12])) / 100
}

/**
 * Examples per wall-clock second and per CPU second of `steps` training steps (after a warm-up), on one shared data
 * set subset. CPU time counts this process, plus the worker for the PyTorch engine: on a loaded machine it is the
 * steadier measure of per-core speed.
 */
async function rate(rt, spec, ds, batchSize, steps) {
  const m = await rt.createModel(spec, { seed: 1 })
  await m.train(ds, { steps: Math.max(5, Math.round(steps / 10)), batchSize, optimizer })
  const worker = rt === torch ? workerCpuSeconds() : 0
  const cpu0 = process.cpuUsage()
  const r = await m.train(ds, { steps, batchSize, optimizer, seed: 1 })
  const cpu1 = process.cpuUsage(cpu0)
  const cpu = (cpu1.user + cpu1.system) / 1e6 + (rt === torch ? workerCpuSeconds() - worker : 0)
  m.dispose()
  return { wall: r.examples / (r.durationMs / 1000), cpu: r.examples / cpu }
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]

const rows = []
for (const name of models) {
  const info = modelRegistry.find((r) => r.name === name)
  if (info === undefined) throw new Error(`unknown model ${name}`)
  for (const batchSize of batchSizes) {
    const ds = train.subset(Array.from({ length: 6000 }, (_, i) => i))
    // Size each measurement to about `seconds` of torch time, from a short probe.
    const probe = (await rate(torch, info.defaultSpec, ds, batchSize, 20)).wall
    const steps = Math.max(20, Math.round((probe * seconds) / batchSize))
    const runs = { torch: [] }
    for (const v of variants) runs[v] = []
    // Alternate engines so that load on the shared machine hits all alike; ratios per rep, then medians.
    for (let i = 0; i < reps; i++) {
      const t = await rate(torch, info.defaultSpec, ds, batchSize, steps)
      runs.torch.push(t)
      const line = [`${name} B=${batchSize} rep ${i + 1}: torch ${t.wall.toFixed(0)} ex/s (${t.cpu.toFixed(0)} per CPU s)`]
      for (const v of variants) {
        const w = await rate(tfjs[v], info.defaultSpec, ds, batchSize, Math.max(10, Math.round(steps / 3)))
        runs[v].push(w)
        line.push(`tfjs-${v} ${w.wall.toFixed(0)} (${w.cpu.toFixed(0)}): ${(w.wall / t.wall).toFixed(3)}× wall, ${(w.cpu / t.cpu).toFixed(3)}× CPU`)
      }
      process.stderr.write(`${line.join(', ')}\n`)
    }
    const row = { model: name, batchSize, torch: median(runs.torch.map((r) => r.wall)), torchCpu: median(runs.torch.map((r) => r.cpu)) }
    for (const v of variants) {
      row[v] = median(runs[v].map((r) => r.wall))
      row[`${v}Wall`] = median(runs[v].map((r, i) => r.wall / runs.torch[i].wall))
      row[`${v}Cpu`] = median(runs[v].map((r, i) => r.cpu / runs.torch[i].cpu))
    }
    rows.push(row)
  }
}
const cols = variants.flatMap((v) => [`tfjs-${v} ex/s`, `${v}/torch wall`, `${v}/torch CPU`])
console.log(`| model | B | torch ex/s | ${cols.join(' | ')} |`)
console.log(`|---|---:|---:|${cols.map(() => '---:|').join('')}`)
for (const r of rows) {
  const cells = variants.flatMap((v) => [r[v].toFixed(0), `${r[`${v}Wall`].toFixed(3)}×`, `${r[`${v}Cpu`].toFixed(3)}×`])
  console.log(`| ${r.model} | ${r.batchSize} | ${r.torch.toFixed(0)} | ${cells.join(' | ')} |`)
}
console.log(JSON.stringify({ node: process.version, reps, load: loadavg()[0], rows }))
await torch.dispose()
