// Benchmark: FedAvg aggregation vs copying the same bytes (the physical floor) and vs a plain float64 JS loop,
// measured in the same run (interleaved), plus the robust rules (FedMedian, Krum, Bulyan) against FedAvg at a
// smaller size.
// Usage: node benchmarks/fl-aggregation.mjs [--params 1663370] [--updates 100] [--runs 5]
//          [--robust-params 100000] [--robust-updates 20] [--robust-runs 3] [--no-robust]
// Needs the built package (npx tsc -b packages/fl).
import { parseArgs } from 'node:util'
import { bulyan, fedAvg, fedMedian, krum } from '@weft/fl'

const { values: opt } = parseArgs({
  options: {
    params: { type: 'string', default: '1663370' }, // McMahan et al.'s CNN
    updates: { type: 'string', default: '100' },
    runs: { type: 'string', default: '5' },
    'robust-params': { type: 'string', default: '100000' },
    'robust-updates': { type: 'string', default: '20' },
    'robust-runs': { type: 'string', default: '3' },
    'no-robust': { type: 'boolean', default: false },
  },
})
const P = Number(opt.params)
const N = Number(opt.updates)
const runs = Number(opt.runs)

/** Deterministic pseudo-random deltas (mulberry32), allocated once. */
function makeDeltas(n, p, seed) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  return Array.from({ length: n }, () => {
    const d = new Float32Array(p)
    for (let i = 0; i < p; i++) d[i] = (next() - 0.5) * 0.02
    return d
  })
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const time = (fn) => {
  const t = performance.now()
  fn()
  return performance.now() - t
}

const deltas = makeDeltas(N, P, 1)
const global = makeDeltas(1, P, 2)[0]
const updates = deltas.map((delta, i) => ({ clientId: `c${i}`, delta, numExamples: 100 + i, staleness: 0 }))
const sink = new Float32Array(P)

const cases = {
  /** The floor: copy every update's bytes once (Float32Array.set into one buffer). */
  copy: () => {
    for (const d of deltas) sink.set(d)
  },
  /** The strategy under test: begin, add N updates, finish. */
  fedAvg: () => {
    const agg = fedAvg().begin(global)
    for (const u of updates) agg.add(u)
    agg.finish()
  },
  /** Competitor: the plain float64-accumulating JS loop (what fedAvg falls back to without wasm SIMD). */
  plainLoop: () => {
    const sum = new Float64Array(P)
    let total = 0
    for (const u of updates) {
      const w = u.numExamples
      const d = u.delta
      for (let i = 0; i < P; i++) sum[i] += w * d[i]
      total += w
    }
    const out = new Float32Array(P)
    for (let i = 0; i < P; i++) out[i] = global[i] + sum[i] / total
  },
}
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (const fn of Object.values(cases)) fn() // warm-up (JIT, wasm compile)
for (let r = 0; r < runs; r++) {
  for (const [name, fn] of Object.entries(cases)) times[name].push(time(fn)) // interleaved
  process.stderr.write(`run ${r + 1}/${runs}: ${Object.keys(cases).map((k) => `${k} ${times[k][r].toFixed(1)} ms`).join(', ')}\n`)
}
const mb = (N * P * 4) / 1e6
const floor = median(times.copy)
console.log(`FedAvg of ${N} updates × ${P.toLocaleString('en-US')} params (${mb.toFixed(0)} MB), median of ${runs} runs`)
console.log(`| path | ms | GB/s of update bytes | ratio to copy |`)
console.log(`|---|---:|---:|---:|`)
for (const name of Object.keys(cases)) {
  const ms = median(times[name])
  console.log(`| ${name} | ${ms.toFixed(1)} | ${(mb / ms).toFixed(2)} | ${(ms / floor).toFixed(2)}× |`)
}
const result = {
  node: process.version,
  params: P,
  updates: N,
  runs,
  medianMs: Object.fromEntries(Object.keys(cases).map((k) => [k, median(times[k])])),
  fedAvgToCopy: median(times.fedAvg) / floor,
}

if (!opt['no-robust']) {
  const rp = Number(opt['robust-params'])
  const rn = Number(opt['robust-updates'])
  const rruns = Number(opt['robust-runs'])
  const rd = makeDeltas(rn, rp, 3)
  const rg = new Float32Array(rp)
  const ru = rd.map((delta, i) => ({ clientId: `c${i}`, delta, numExamples: 1, staleness: 0 }))
  const f = Math.floor((rn - 3) / 4)
  // At this size the bytes fit in cache and a copy takes well under a millisecond (noise), so the robust
  // rules are compared with FedAvg over the same updates instead.
  const robust = {
    fedAvg: () => run(fedAvg()),
    fedMedian: () => run(fedMedian()),
    [`krum (f=${f})`]: () => run(krum({ f })),
    [`bulyan (f=${f})`]: () => run(bulyan({ f })),
  }
  function run(strategy) {
    const agg = strategy.begin(rg)
    for (const u of ru) agg.add(u)
    agg.finish()
  }
  const rt = Object.fromEntries(Object.keys(robust).map((k) => [k, []]))
  for (const fn of Object.values(robust)) fn()
  for (let r = 0; r < rruns; r++) for (const [name, fn] of Object.entries(robust)) rt[name].push(time(fn))
  const rbase = median(rt.fedAvg)
  console.log(`\nRobust rules: ${rn} updates × ${rp.toLocaleString('en-US')} params, median of ${rruns} runs`)
  console.log(`| rule | ms | ratio to fedAvg |`)
  console.log(`|---|---:|---:|`)
  for (const name of Object.keys(robust)) {
    const ms = median(rt[name])
    console.log(`| ${name} | ${ms.toFixed(1)} | ${(ms / rbase).toFixed(1)}× |`)
  }
  result.robust = { params: rp, updates: rn, medianMs: Object.fromEntries(Object.keys(robust).map((k) => [k, median(rt[k])])) }
}
console.log(JSON.stringify(result))
