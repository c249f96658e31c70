// A language model trained by a swarm against one trained alone, at equal tokens: the King James Bible that ships
// with Weft, tokenized with the shipped model's tokenizer, split by book (5% of verses held out for validation, whole
// books); the training books dealt to 4 peers in canon order (each peer holds a quarter of the Bible by verses: law
// and history, then history, wisdom and prophets, ..., the New Testament: non-IID by construction). A small
// Llama-style model (hidden 64, 2 layers, 4 heads, 2 KV heads, context 32) on the PyTorch engine.
//   (a) DiLoCo (outer lr 0.7, momentum 0.9, Nesterov), groups of 4, H = 50 inner AdamW steps of 16 windows;
//   (b) plain averaging, same H;
//   (c) DiLoCo with the inner AdamW state restarted every outer step;
//   (d) one model trained alone on all the training books for the same number of windows (4 × the steps of a peer).
// Validation loss (nats per token) of each on the same 64 held-out windows.
// Usage: npm run build, then node benchmarks/swarm-lm.mjs [--outer-steps 20] [--engine torch|tfjs]
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { decodeLmCheckpoint, splitVerses } from '@weft/lm'
import { readKjvVerses } from '@weft/lm/node'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { parseTransformerConfig } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import { parseSwarmSpec, runSwarmSimulation, transformerTrainer } from '@weft/swarm'

const { values: args } = parseArgs({ options: { 'outer-steps': { type: 'string', default: '20' }, engine: { type: 'string', default: 'torch' } } })
const PEERS = 4
const H = 50
const BATCH = 16
const CONTEXT = 32
const outerSteps = Number(args['outer-steps'])

const { tokenizer } = decodeLmCheckpoint(new Uint8Array(await readFile(KJV_LM_PATH)))
const verses = await readKjvVerses()
const split = splitVerses(verses, { by: 'book', validationFraction: 0.05, seed: 0 })
const encode = (vs) => Int32Array.from(tokenizer.encode(vs.map((v) => v.text).join('\n')))
const validation = encode(split.validation)
const quarter = Math.ceil(split.train.length / PEERS)
const shares = Array.from({ length: PEERS }, (_, i) => encode(split.train.slice(i * quarter, (i + 1) * quarter)))
const all = encode(split.train)
const config = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 64, intermediateSize: 192, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositions: 64, tieEmbeddings: true })
const engine = args.engine === 'tfjs' ? await tfjsRuntime({ backend: 'wasm' }) : await torchRuntime({ device: 'cpu', threads: 2 })
console.log(
  `KJV: ${all.length} training tokens in ${PEERS} shares of ${shares.map((s) => s.length).join(', ')}, ${validation.length} validation tokens (held-out books); vocab ${tokenizer.vocabSize}; ${engine.name}/${engine.backend}`,
)
const base = (extra) =>
  parseSwarmSpec({
    model: { architecture: 'transformer', config, context: CONTEXT },
    dataset: 'kjv',
    inner: { batchSize: BATCH, optimizer: { kind: 'adamw', lr: 3e-3, weightDecay: 0.1 } },
    targetSamples: PEERS * H * BATCH,
    totalSamples: PEERS * H * BATCH * outerSteps,
    minPeers: PEERS,
    evaluation: { dataset: 'kjv-validation', every: 5 },
    averaging: { groupSize: 4 },
    seed: 1,
    ...extra,
  })

const rows = []
for (const [label, extra] of [
  ['(a) DiLoCo, groups of 4', {}],
  ['(b) plain averaging, groups of 4', { outer: { kind: 'average' } }],
  ['(c) DiLoCo, inner AdamW restarted each outer step', { inner: { batchSize: BATCH, optimizer: { kind: 'adamw', lr: 3e-3, weightDecay: 0.1 }, keepOptimizerState: false } }],
]) {
  const spec = base(extra)
  const t0 = Date.now()
  const restart = spec.inner.keepOptimizerState === false
  // A restarted inner state: a fresh trainer per outer step (the transformer trainer keeps its moments otherwise).
  const trainers = shares.map((train, i) => {
    if (!restart) return transformerTrainer({ spec, runtime: engine, train, validation, seed: i })
    const make = () => transformerTrainer({ spec, runtime: engine, train, validation, seed: i })
    let current = make()
    return {
      paramCount: current.paramCount,
      initialParams: () => current.initialParams(),
      async train(params, steps, round, signal) {
        current.dispose()
        current = make()
        return current.train(params, steps, round, signal)
      },
      evaluate: (params) => current.evaluate(params),
      dispose: () => current.dispose(),
    }
  })
  const result = await runSwarmSimulation({ spec, shares: [], pool: undefined, trainers })
  const seconds = (Date.now() - t0) / 1000
  const curve = result.peers[0].records.filter((r) => Number.isFinite(r.testLoss)).map((r) => `${r.step + 1}:${r.testLoss.toFixed(3)}`)
  rows.push([label, result.peers.map((p) => p.loss.toFixed(3)).join(', '), seconds.toFixed(0), `${(result.bytes / 1e6).toFixed(1)} MB`])
  console.log(`${label}: validation loss ${result.peers.map((p) => p.loss.toFixed(3)).join(', ')} (curve ${curve.join(' ')}), ${seconds.toFixed(0)} s`)
  for (const t of trainers) t.dispose()
}

// (d) alone: the same windows in all, 4 × a peer's steps, one trainer on all the training books.
{
  const spec = base({})
  const t0 = Date.now()
  const alone = transformerTrainer({ spec, runtime: engine, train: all, validation, seed: 9 })
  let params = await alone.initialParams()
  const total = PEERS * H * outerSteps
  for (let done = 0; done < total; done += H) params = (await alone.train(params, H, done, new AbortController().signal)).params
  const { loss } = await alone.evaluate(params)
  const seconds = (Date.now() - t0) / 1000
  rows.push(['(d) alone, all books, same windows', loss.toFixed(3), seconds.toFixed(0), '0'])
  console.log(`(d) alone: validation loss ${loss.toFixed(3)}, ${seconds.toFixed(0)} s`)
  alone.dispose()
}
console.log(`\nequal tokens: ${PEERS * H * outerSteps * BATCH * CONTEXT} predicted positions in each run; chance = ln(${tokenizer.vocabSize}) = ${Math.log(tokenizer.vocabSize).toFixed(3)}`)
console.log('| run | validation loss (each peer) | seconds | bytes |\n|---|---|---:|---:|')
for (const r of rows) console.log(`| ${r.join(' | ')} |`)
await engine.dispose()
