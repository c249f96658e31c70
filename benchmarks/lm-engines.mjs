// Benchmark: greedy generation with a KV cache of the shipped King James model (@weft/model-kjv-lm) on one machine:
// Weft's PyTorch engine against a plain PyTorch loop on the same checkpoint (benchmarks/lm_plain.py, goal >= 0.9x),
// and Weft's tfjs-wasm engine against the torch engine. Same run, same prompt, one thread; tokens/s is the median of
// the runs (prefill of the prompt included), per-token latency the p50 (and p90) of every decode step of every run.
// Runs alternate between the engines, so that load on a shared machine hits them alike.
// Run: npx tsc -b && node benchmarks/lm-engines.mjs [--tokens 128] [--runs 3] [--prompt 'And God said'] [--no-tfjs]
// Needs Python with torch (the torch engine's interpreter runs the plain loop too).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { decodeLmCheckpoint } from '@weft/lm'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { TORCH_MALLOC_ENV, torchRuntime } from '@weft/runtime-torch'

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    prompt: { type: 'string', default: 'And God said' },
    'no-tfjs': { type: 'boolean', default: false },
  },
})
const tokens = Number(values.tokens)
const runs = Number(values.runs)
const { config, weights, tokenizer } = decodeLmCheckpoint(readFileSync(KJV_LM_PATH))
const prompt = tokenizer.encode(values.prompt)
if (prompt.length + tokens > config.maxPositions) throw new RangeError(`prompt (${prompt.length}) and --tokens ${tokens} pass maxPositions ${config.maxPositions}`)
const span = { embed: true, blocks: [0, config.numLayers], head: true }
const threads = 1
const plainScript = fileURLToPath(new URL('./lm_plain.py', import.meta.url))

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1) + 0.5)]
const median = (xs) => quantile(xs, 0.5)
const argmaxLastRow = (logits) => {
  const base = logits.length - config.vocabSize
  let best = 0
  for (let i = 1; i < config.vocabSize; i++) if (logits[base + i] > logits[base + best]) best = i
  return best
}

/** One greedy generation through a Weft engine: the prompt in one forward, then one token per forward. */
async function generate(model, id) {
  const session = model.openSession(id, { maxTokens: prompt.length + tokens })
  const steps = []
  const t0 = performance.now()
  const out = [argmaxLastRow(await session.forward({ tokens: Int32Array.from(prompt) }))]
  while (out.length < tokens) {
    const t = performance.now()
    out.push(argmaxLastRow(await session.forward({ tokens: Int32Array.of(out.at(-1)) })))
    steps.push(performance.now() - t)
  }
  const seconds = (performance.now() - t0) / 1000
  session.close()
  return { tokens: out, seconds, stepMs: steps }
}

/** A Weft engine with the model loaded and one untimed generation done. */
async function load(rt, name) {
  const model = await rt.loadTransformer(config, span, weights)
  await generate(model, `${name}-warmup`)
  return { model, run: (i) => generate(model, `${name}-${i}`) }
}

/** One timed generation of the plain loop, in a fresh process that warms up with one untimed generation first. */
function plain(python) {
  const args = [plainScript, '--checkpoint', KJV_LM_PATH, '--prompt', prompt.join(','), '--tokens', String(tokens), '--threads', String(threads)]
  // The allocator settings the Weft worker runs with (see TORCH_MALLOC_ENV): the same ground for both.
  const r = JSON.parse(execFileSync(python, args, { encoding: 'utf8', env: { ...process.env, ...TORCH_MALLOC_ENV } }).trim().split('\n').at(-1))
  return { tokens: r.tokens, seconds: r.seconds, stepMs: r.stepSeconds.map((s) => s * 1000) }
}

/** Median tokens/s of the runs (the prompt's forward included) and p50 and p90 latency of every decode step of every run. */
function summarize(results) {
  const first = results[0].tokens
  if (!results.every((r) => r.tokens.join() === first.join())) throw new Error('greedy generation differs between runs of one engine')
  return {
    tokens: first,
    tokensPerSecond: median(results.map((r) => tokens / r.seconds)),
    p50Ms: median(results.flatMap((r) => r.stepMs)),
    p90Ms: quantile(results.flatMap((r) => r.stepMs), 0.9),
  }
}

/** How many leading ids two generations share. */
const agreeing = (a, b) => {
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  return i
}

const torch = await torchRuntime({ device: 'cpu', threads })
console.log(
  `kjv-lm: vocab ${config.vocabSize}, hidden ${config.hiddenSize}, ${config.numLayers} blocks, ${config.numHeads} heads; prompt ${JSON.stringify(values.prompt)} (${prompt.length} tokens), ${tokens} new tokens, greedy; median of ${runs} runs`,
)
console.log(`torch ${torch.info.torch} (${torch.info.python}), ${threads} thread, BLAS ${torch.info.blas}; Node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)

const engines = { plainTorch: 'plain PyTorch loop', weftTorch: 'Weft torch engine', tfjsWasm: 'Weft tfjs-wasm engine' }
const runners = { plainTorch: { run: () => plain(torch.info.python) }, weftTorch: await load(torch, 'torch') }
const tfjs = values['no-tfjs'] ? undefined : await tfjsRuntime({ backend: 'wasm' })
if (tfjs !== undefined) runners.tfjsWasm = await load(tfjs, 'tfjs')
// Run i of every engine, then run i + 1: load on this shared machine that comes and goes hits all of them alike.
const results = Object.fromEntries(Object.keys(runners).map((k) => [k, []]))
for (let i = 0; i < runs; i++) for (const [k, r] of Object.entries(runners)) results[k].push(await r.run(i))
for (const r of Object.values(runners)) r.model?.dispose()
await torch.dispose()
await tfjs?.dispose()
const rows = Object.fromEntries(Object.entries(results).map(([k, rs]) => [k, summarize(rs)]))
for (const [k, r] of Object.entries(rows)) {
  console.log(`${engines[k].padEnd(22)} ${r.tokensPerSecond.toFixed(1).padStart(7)} tokens/s   p50 ${r.p50Ms.toFixed(2).padStart(5)} ms/token, p90 ${r.p90Ms.toFixed(2).padStart(5)}`)
}

const agree = {
  weftTorchPlain: agreeing(rows.weftTorch.tokens, rows.plainTorch.tokens),
  ...(rows.tfjsWasm === undefined ? {} : { tfjsWasmWeftTorch: agreeing(rows.tfjsWasm.tokens, rows.weftTorch.tokens) }),
}
const ratios = {
  weftTorchOverPlain: rows.weftTorch.tokensPerSecond / rows.plainTorch.tokensPerSecond,
  ...(rows.tfjsWasm === undefined ? {} : { tfjsWasmOverWeftTorch: rows.tfjsWasm.tokensPerSecond / rows.weftTorch.tokensPerSecond }),
}
console.log(`same greedy ids, Weft torch vs plain: ${agree.weftTorchPlain === tokens} (first ${agree.weftTorchPlain} of ${tokens} agree)`)
if (agree.tfjsWasmWeftTorch !== undefined) console.log(`same greedy ids, tfjs-wasm vs Weft torch: ${agree.tfjsWasmWeftTorch === tokens} (first ${agree.tfjsWasmWeftTorch} of ${tokens} agree)`)
console.log(`Weft torch / plain PyTorch: ${ratios.weftTorchOverPlain.toFixed(2)}x (goal >= 0.9)`)
if (ratios.tfjsWasmOverWeftTorch !== undefined) console.log(`tfjs-wasm / Weft torch: ${ratios.tfjsWasmOverWeftTorch.toFixed(2)}x`)
console.log(`sample: ${JSON.stringify(tokenizer.decode(rows.weftTorch.tokens.slice(0, 32)))}`)
console.log(
  JSON.stringify({
    tokens,
    runs,
    threads,
    promptTokens: prompt.length,
    torch: torch.info.torch,
    node: process.version,
    loadavg: loadavg(),
    engines: Object.fromEntries(Object.entries(rows).map(([k, r]) => [k, { tokensPerSecond: r.tokensPerSecond, p50Ms: r.p50Ms, p90Ms: r.p90Ms }])),
    agree,
    ratios,
  }),
)
