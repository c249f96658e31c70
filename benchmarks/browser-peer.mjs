// Benchmark: the browser peer. (1) Training speed in the /join page's Web Worker (tfjs-wasm, one thread; and with
// wasm threads asked for) against tfjs-wasm in Node and Weft's PyTorch engine (one thread), same models, batch sizes
// and steps, measured alternately in the same run on Fashion-MNIST. (2) Time from opening /join to the first update
// the tab contributes: page ready (libp2p connected, engine started), a 1 000-example CSV share added, invitation,
// model, local training (one epoch) and the update's delivery.
// Usage: node benchmarks/browser-peer.mjs [--models mlp,cnn-lenet] [--batch-sizes 32,10] [--reps 3] [--steps 60]
// Needs a build (npm run build), Debian's chromium, Fashion-MNIST and (for the torch column) python3-torch.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import '@weft/mesh/shim'
import { startLocalNode, waitUntil } from '@weft/cli'
import { loadFashionMnist, loadPartition } from '@weft/data/node'
import { modelRegistry, paramCount } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { chromium } from 'playwright-core'
import { arg } from './lib/args.mjs'

const models = arg('--models', 'mlp,cnn-lenet').split(',')
const batchSizes = arg('--batch-sizes', '32,10').split(',').map(Number)
const reps = Number(arg('--reps', '3'))
const steps = Number(arg('--steps', '60'))
const optimizer = { kind: 'sgd', lr: 0.01, momentum: 0.9 }
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]

const root = mkdtempSync(join(tmpdir(), 'weft-bench-browser-'))
const assets = readdirSync(new URL('../packages/node/join/assets', import.meta.url))
const asset = (re) => {
  const name = assets.find((a) => re.test(a))
  if (name === undefined) throw new Error(`no ${re} in packages/node/join/assets: run npm run build`)
  return `/join/assets/${name}`
}
const node = await startLocalNode({ startTimeoutMs: 60_000, dataDir: join(root, 'node'), args: ['--join', '--no-probe', '--log-level', 'warn', '--ad-interval', '1000', '--ad-ttl', '10000'] })
const browser = await chromium.launch({
  executablePath: process.env.WEFT_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const version = browser.version()

// (1) Engine speed. The page is /join/ (cross-origin isolated), but only its worker is used: the benchmark speaks the
// worker's protocol directly.
const train = await loadFashionMnist({ split: 'train' })
const ds = train.subset(Array.from({ length: 2000 }, (_, i) => i))
const features = new Uint8Array(ds.size * 784)
for (let i = 0; i < ds.size; i++) features.set(Array.from(ds.example(i), (v) => Math.round(v * 255)), i * 784)
const labels = Array.from(ds.labels())
const page = await (await browser.newContext()).newPage()
await page.goto(`${node.api.url}/join/`)
const wasmPaths = {
  'tfjs-backend-wasm.wasm': asset(/^tfjs-backend-wasm-[^s].*\.wasm$/),
  'tfjs-backend-wasm-simd.wasm': asset(/^tfjs-backend-wasm-simd-.*\.wasm$/),
  'tfjs-backend-wasm-threaded-simd.wasm': asset(/^tfjs-backend-wasm-threaded-simd-.*\.wasm$/),
}
/** Starts a worker in the page with `threads`; resolves to what it started (or why it failed). */
const startWorker = (threads) =>
  page.evaluate(
    async ({ url, wasmPaths, threads, features, labels }) => {
      const w = new Worker(url, { type: 'module' })
      const abs = Object.fromEntries(Object.entries(wasmPaths).map(([k, v]) => [k, new URL(v, location.href).href]))
      const ready = await new Promise((resolve) => {
        w.onmessage = (e) => resolve(e.data)
        w.onerror = (e) => resolve({ type: 'failed', message: e.message })
        w.postMessage({ type: 'init', backend: 'wasm', wasm: { wasmPaths: abs, threads } })
        setTimeout(() => resolve({ type: 'failed', message: 'no answer in 30 s' }), 30_000)
      })
      const data = new Uint8Array(features)
      w.postMessage({ type: 'dataset', id: 'bench', dataset: { name: 'bench', featureShape: [28, 28, 1], numClasses: 10, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels: Int32Array.from(labels) } })
      globalThis.benchWorkers ??= {}
      globalThis.benchWorkers[threads] = w
      return { ...ready, isolated: crossOriginIsolated }
    },
    { url: asset(/^train-worker-.*\.js$/), wasmPaths, threads, features: Array.from(features), labels },
  )
const one = await startWorker(1)
const two = await startWorker(2)
process.stderr.write(`chromium ${version}; worker 1 thread: ${JSON.stringify(one)}; 2 threads asked: ${JSON.stringify(two)}; load ${loadavg()[0].toFixed(2)}\n`)
const nodeTfjs = await tfjsRuntime({ backend: 'wasm' })
let torch
try {
  const { torchRuntime } = await import('@weft/runtime-torch')
  torch = await torchRuntime({ device: 'cpu', threads: 1 })
} catch (err) {
  process.stderr.write(`no torch engine: ${err.message}\n`)
}
const nodeRate = async (rt, spec, batchSize, n) => {
  const m = await rt.createModel(spec, { seed: 1 })
  await m.train(ds, { steps: Math.max(5, Math.round(n / 10)), batchSize, optimizer })
  const r = await m.train(ds, { steps: n, batchSize, optimizer, seed: 1 })
  m.dispose()
  return r.examples / (r.durationMs / 1000)
}
const rows = []
for (const name of models) {
  const info = modelRegistry.find((r) => r.name === name)
  for (const batchSize of batchSizes) {
    const runs = { browser: [], node: [], torch: [] }
    for (let i = 0; i < reps; i++) {
      const spec = info.defaultSpec
      runs.browser.push(await browserRateFor(spec, batchSize))
      runs.node.push(await nodeRate(nodeTfjs, spec, batchSize, steps))
      if (torch !== undefined) runs.torch.push(await nodeRate(torch, spec, batchSize, steps))
    }
    const row = { model: name, batchSize, browser: median(runs.browser), node: median(runs.node), ...(torch === undefined ? {} : { torch: median(runs.torch) }) }
    rows.push(row)
    process.stderr.write(`${JSON.stringify(row)}\n`)
  }
}

/** Examples/s of `steps` steps in the page's one-thread worker (after a warm-up of a tenth). */
async function browserRateFor(spec, batchSize) {
  return page.evaluate(
    async ({ spec, batchSize, n, optimizer, count }) => {
      const w = globalThis.benchWorkers[1]
      let id = 1000
      const run = (stepsToRun) =>
        new Promise((resolve, reject) => {
          const my = ++id
          w.onmessage = (e) => {
            if (e.data.id !== my || e.data.type === 'progress') return
            if (e.data.type === 'failed') reject(new Error(e.data.message))
            else resolve(e.data)
          }
          w.postMessage({ type: 'train', id: my, spec, params: new Float32Array(count).fill(0.01), dataset: { kind: 'weft.browser-dataset/1', id: 'bench' }, options: { steps: stepsToRun, batchSize, optimizer, seed: 1 }, evaluate: false })
        })
      await run(Math.max(5, Math.round(n / 10)))
      const t0 = performance.now()
      const r = await run(n)
      return r.result.examples / ((performance.now() - t0) / 1000)
    },
    { spec, batchSize, n: steps, optimizer, count: paramCount(spec) },
  )
}

// (2) Time to the first contributed update: a job waiting for one client; a fresh tab opens /join/ and adds a share.
const share = await loadPartition({ dataset: 'fashion-mnist', split: 'train', scheme: 'iid', clients: 60, part: 0, seed: 7 })
const csv = join(root, 'share.csv')
const lines = [['label', ...Array.from({ length: 784 }, (_, i) => `p${i}`)].join(',')]
const shareLabels = share.labels()
for (let i = 0; i < share.size; i++) lines.push(`${shareLabels[i]},${Array.from(share.example(i), (v) => Math.round(v * 255)).join(',')}`)
writeFileSync(csv, `${lines.join('\n')}\n`)
const firstUpdate = []
for (let i = 0; i < reps; i++) {
  const { id } = await node.api.submitJob({
    name: `first-update-${i}`,
    model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10 },
    dataset: 'fm',
    rounds: 1,
    clients: { min: 1 },
    train: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.05 } },
    timeouts: { roundSeconds: 60, waitSeconds: 120 },
  })
  const tab = await (await browser.newContext()).newPage()
  const t0 = performance.now()
  await tab.goto(`${node.api.url}/join/`)
  await tab.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 })
  const ready = performance.now()
  await tab.getByLabel('File').setInputFiles(csv)
  await tab.getByLabel('Data set name (jobs name it)').fill('fm')
  await tab.getByLabel(/Values are pixels/).check()
  await tab.locator('#csv-form').getByRole('button', { name: 'Add data set' }).click()
  await tab.locator('tr[data-dataset="fm"]').waitFor({ timeout: 30_000 })
  const added = performance.now()
  await tab.locator(`article[data-job-id="${id}"][data-updates="1"]`).waitFor({ timeout: 120_000 })
  const sent = performance.now()
  await waitUntil(async () => (await node.api.job(id)).status !== 'running', 60_000, 'the job to end', 200)
  firstUpdate.push({ ready: (ready - t0) / 1000, added: (added - ready) / 1000, update: (sent - added) / 1000, total: (sent - t0) / 1000 })
  process.stderr.write(`first update ${i + 1}: ${JSON.stringify(firstUpdate.at(-1))}\n`)
  await tab.context().close()
}

console.log(`| model | B | browser worker ex/s | Node tfjs-wasm ex/s | browser / Node | torch (1 thread) ex/s | browser / torch |`)
console.log('|---|---:|---:|---:|---:|---:|---:|')
for (const r of rows) {
  const t = r.torch === undefined ? ['–', '–'] : [r.torch.toFixed(0), `${(r.browser / r.torch).toFixed(3)}×`]
  console.log(`| ${r.model} | ${r.batchSize} | ${r.browser.toFixed(0)} | ${r.node.toFixed(0)} | ${(r.browser / r.node).toFixed(3)}× | ${t.join(' | ')} |`)
}
const m = (k) => median(firstUpdate.map((f) => f[k])).toFixed(2)
console.log(`first update (median of ${reps}): page ready ${m('ready')} s, CSV share added ${m('added')} s, invitation to update sent ${m('update')} s, total ${m('total')} s`)
console.log(JSON.stringify({ chromium: version, node: process.version, load: loadavg()[0], worker: { oneThread: one, twoThreadsAsked: two }, rows, firstUpdate }))
await browser.close()
await torch?.dispose()
await node.stop()
rmSync(root, { recursive: true, force: true })
