// The work behind `weft lm train` and `weft lm generate`, loaded only when a command runs (engines, corpus).
import { createHash } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { continueText } from '@weft/inference'
import {
  type BpeTokenizer,
  decodeLmCheckpoint,
  encodeLmCheckpoint,
  fromTokenizerJson,
  type LmEvaluation,
  splitVerses,
  trainBpe,
  trainLanguageModel,
  type Verse,
} from '@weft/lm'
import { readKjvVerses } from '@weft/lm/node'
import {
  initTransformerWeights,
  type NamedTensors,
  parseTransformerConfig,
  type TransformerConfig,
  type TransformerRuntime,
  type TransformerTrainingRuntime,
  transformerParamCount,
} from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import cliProgress from 'cli-progress'
import { formatBytes, formatDuration } from '../format.js'

/** Parsed `weft lm train` options. */
export interface LmTrainOptions {
  corpus?: string[]
  out: string
  tokenizer?: string
  vocab: number
  layers: number
  hidden: number
  heads: number
  kvHeads?: number
  intermediate?: number
  context: number
  batch: number
  steps: number
  minutes?: number
  lr: number
  warmup: number
  weightDecay: number
  evalEvery: number
  validation: number
  prompt: string
  runtime: 'tfjs' | 'torch' | 'auto'
  threads: number
  seed: number
  json?: true
  progress: boolean
  publish?: true
  dataDir?: string
  api?: string
  token?: string
}

/** Parsed `weft lm generate` options. */
export interface LmGenerateOptions {
  checkpoint: string
  prompt: string
  maxTokens: number
  temperature: number
  topP: number
  seed: number
  runtime: 'tfjs' | 'torch'
  json?: true
}

type Engine = TransformerRuntime & TransformerTrainingRuntime & { readonly name: string; readonly backend: string; dispose(): Promise<void> }

/** The engine `--runtime` names; `auto` takes torch when Python has it, else tfjs, and says why. */
async function startEngine(runtime: 'tfjs' | 'torch' | 'auto', threads: number, say: (line: string) => void): Promise<Engine> {
  if (runtime !== 'tfjs') {
    try {
      const rt = await torchRuntime({ device: 'auto', threads })
      if (typeof (rt as Partial<TransformerTrainingRuntime>).createTransformerTrainer === 'function') return rt as unknown as Engine
      await rt.dispose()
      throw new Error('this build of the torch engine cannot train transformers')
    } catch (err) {
      if (runtime === 'torch') throw err
      say(`weft lm: the torch engine is unavailable (${(err as Error).message}); using tfjs-wasm`)
    }
  }
  return tfjsRuntime({ backend: 'wasm' }, { log: say })
}

/** The corpus as lines with references: the bundled KJV by default, else the files' non-empty lines. */
async function readLines(files: string[] | undefined): Promise<{ name: string; verses: Verse[]; byBook: boolean }> {
  if (files === undefined || files.length === 0) return { name: 'King James Bible (bundled)', verses: await readKjvVerses(), byBook: true }
  const verses: Verse[] = []
  for (const file of files) {
    const lines = (await readFile(file, 'utf8')).split('\n')
    lines.forEach((raw, i) => {
      const text = raw.trimEnd()
      if (text !== '') verses.push({ ref: `${basename(file)}:${i + 1}`, book: basename(file), chapter: 1, verse: i + 1, text })
    })
  }
  if (verses.length === 0) throw new Error(`no text in ${files.join(', ')}`)
  return { name: files.map((f) => basename(f)).join(', '), verses, byBook: false }
}

/** Runs `weft lm train`. */
export async function runLmTrain(o: LmTrainOptions): Promise<void> {
  const say = (line: string) => {
    if (o.json !== true || o.progress) process.stderr.write(`${line}\n`)
  }
  const wall = performance.now()
  const corpus = await readLines(o.corpus)
  const split = splitVerses(corpus.verses, { by: corpus.byBook ? 'book' : 'verse', validationFraction: o.validation, seed: o.seed })
  const trainText = split.train.map((v) => v.text)
  const t0 = performance.now()
  const tokenizer = o.tokenizer === undefined ? trainBpe(trainText, { vocabSize: o.vocab }) : fromTokenizerJson(await readFile(o.tokenizer, 'utf8'))
  const tokenizerMs = performance.now() - t0
  const encode = (verses: Verse[]) => Int32Array.from(tokenizer.encode(verses.map((v) => v.text).join('\n')))
  const train = encode(split.train)
  const validation = encode(split.validation)
  const config: TransformerConfig = parseTransformerConfig({
    vocabSize: tokenizer.vocabSize,
    hiddenSize: o.hidden,
    intermediateSize: o.intermediate ?? 3 * o.hidden,
    numLayers: o.layers,
    numHeads: o.heads,
    numKvHeads: o.kvHeads ?? o.heads,
    maxPositions: 2 * o.context,
    tieEmbeddings: true,
  })
  const engine = await startEngine(o.runtime, o.threads, say)
  const engineLabel = `${engine.name}/${engine.backend}`
  const params = transformerParamCount(config)
  say(
    `weft lm train: ${corpus.name}: ${split.train.length} lines train (${train.length.toLocaleString('en-US')} tokens), ${split.validation.length} validation (${validation.length.toLocaleString('en-US')} tokens); ` +
      `tokenizer ${tokenizer.vocabSize} ids${o.tokenizer === undefined ? ` (trained in ${tokenizerMs.toFixed(0)} ms)` : ''}`,
  )
  say(`model: ${config.numLayers} blocks × ${config.hiddenSize} wide, ${config.numHeads} heads, ${params.toLocaleString('en-US')} params; ${engineLabel}; batch ${o.batch} × ${o.context}, ${o.steps} steps, lr ${o.lr}`)
  const trainer = await engine.createTransformerTrainer(config, initTransformerWeights(config, o.seed), { learningRate: o.lr, weightDecay: o.weightDecay })
  const showBar = o.progress && process.stderr.isTTY === true
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'step {value}/{total} |{bar}| loss {loss} | lr {lr} | ETA {eta_formatted}', barsize: 24, hideCursor: true, fps: 4 },
    cliProgress.Presets.shades_classic,
  )
  if (showBar) bar.start(o.steps, 0, { loss: '-', lr: '-' })
  const samples: { step: number; text: string }[] = []
  let written: { path: string; bytes: number; sha256: string } | undefined
  const signal = o.minutes === undefined ? undefined : AbortSignal.timeout(o.minutes * 60_000)
  const evaluations = await trainLanguageModel(
    trainer,
    train,
    validation,
    { context: o.context, batch: o.batch, steps: o.steps, learningRate: o.lr, warmupSteps: o.warmup, evalEvery: o.evalEvery, seed: o.seed, ...(signal === undefined ? {} : { signal }) },
    {
      onStep: (step, loss, lr) => {
        if (showBar) bar.update(step, { loss: loss.toFixed(3), lr: lr.toExponential(1) })
      },
      onEvaluation: async (e: LmEvaluation) => {
        const weights = await trainer.weights()
        const sample = await sampleFrom(engine, config, weights, tokenizer, o.prompt, o.seed)
        samples.push({ step: e.step, text: sample })
        written = await writeCheckpoint(o.out, { config, weights, tokenizer, info: checkpointInfo(o, corpus.name, engineLabel, e) })
        if (showBar) bar.stop()
        say(
          `step ${e.step}: train loss ${e.trainLoss.toFixed(3)}, validation loss ${e.validationLoss.toFixed(3)} (perplexity ${e.validationPerplexity.toFixed(1)}), ` +
            `${Math.round(e.tokens / e.seconds).toLocaleString('en-US')} tokens/s, ${formatDuration(e.seconds * 1000)}`,
        )
        say(`  sample: ${JSON.stringify(o.prompt + sample)}`)
        if (showBar && e.step < o.steps && signal?.aborted !== true) bar.start(o.steps, e.step, { loss: e.trainLoss.toFixed(3), lr: e.learningRate.toExponential(1) })
      },
    },
  )
  trainer.dispose()
  await engine.dispose()
  const last = evaluations.at(-1)
  let published: string | undefined
  if (o.publish === true && written !== undefined) {
    const { apiClientFrom } = await import('./fl.js')
    const api = apiClientFrom({ ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }), ...(o.api === undefined ? {} : { api: o.api }), ...(o.token === undefined ? {} : { token: o.token }) })
    published = (await api.storeAddFile(new Blob([await readFile(written.path)]), { name: basename(written.path), announce: true })).cid
    say(`published ${written.path} to the node's store: ${published} (serve it: weft serve ${published} --blocks 0-${config.numLayers})`)
  }
  const summary = {
    corpus: corpus.name,
    trainTokens: train.length,
    validationTokens: validation.length,
    tokenizer: { vocabSize: tokenizer.vocabSize, trainedMs: o.tokenizer === undefined ? tokenizerMs : undefined },
    config,
    params,
    engine: engineLabel,
    steps: last?.step ?? 0,
    batch: o.batch,
    context: o.context,
    validationLoss: last?.validationLoss,
    validationPerplexity: last?.validationPerplexity,
    tokensPerSecond: last === undefined ? undefined : last.tokens / last.seconds,
    evaluations,
    samples,
    checkpoint: written === undefined ? undefined : { ...written, ...(published === undefined ? {} : { cid: published }) },
    wallSeconds: (performance.now() - wall) / 1000,
  }
  if (o.json === true) {
    process.stdout.write(`${JSON.stringify(summary)}\n`)
    return
  }
  say(
    `done: validation perplexity ${last?.validationPerplexity.toFixed(2)} after ${summary.steps} steps; wall ${formatDuration(summary.wallSeconds * 1000)}` +
      (written === undefined ? '' : `; wrote ${written.path} (${formatBytes(written.bytes)}, sha256 ${written.sha256.slice(0, 16)}…)`),
  )
}

/** A short sample of the current weights (loaded for inference on the same engine, then freed). */
async function sampleFrom(engine: Engine, config: TransformerConfig, weights: NamedTensors, tokenizer: BpeTokenizer, prompt: string, seed: number): Promise<string> {
  const model = await engine.loadTransformer(config, { embed: true, blocks: [0, config.numLayers], head: true }, weights)
  try {
    return (await continueText(model, tokenizer, prompt, { maxTokens: 40, temperature: 0.8, topP: 0.95, seed })).text
  } finally {
    model.dispose()
  }
}

function checkpointInfo(o: LmTrainOptions, corpus: string, engine: string, e: LmEvaluation): Record<string, string> {
  return {
    'trained.corpus': corpus,
    'trained.engine': engine,
    'trained.steps': String(e.step),
    'trained.tokens': String(e.tokens),
    'trained.batch': String(o.batch),
    'trained.context': String(o.context),
    'trained.seed': String(o.seed),
    'trained.validation_perplexity': e.validationPerplexity.toFixed(3),
  }
}

/** Writes the checkpoint next to its final name, then renames it, so a reader never sees half of one. */
async function writeCheckpoint(path: string, c: Parameters<typeof encodeLmCheckpoint>[0]): Promise<{ path: string; bytes: number; sha256: string }> {
  const bytes = encodeLmCheckpoint(c)
  await writeFile(`${path}.partial`, bytes)
  await rename(`${path}.partial`, path)
  return { path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** Runs `weft lm generate`. */
export async function runLmGenerate(o: LmGenerateOptions): Promise<void> {
  const checkpoint = decodeLmCheckpoint(await readFile(o.checkpoint))
  const engine = await startEngine(o.runtime, 0, (line) => process.stderr.write(`${line}\n`))
  const model = await engine.loadTransformer(checkpoint.config, { embed: true, blocks: [0, checkpoint.config.numLayers], head: true }, checkpoint.weights)
  const t0 = performance.now()
  const out = await continueText(model, checkpoint.tokenizer, o.prompt, o)
  const seconds = (performance.now() - t0) / 1000
  model.dispose()
  await engine.dispose()
  if (o.json === true) {
    process.stdout.write(`${JSON.stringify({ prompt: o.prompt, text: out.text, tokens: out.tokens.length, seconds, tokensPerSecond: out.tokens.length / seconds })}\n`)
    return
  }
  process.stdout.write(`${o.prompt}${out.text}\n`)
  process.stderr.write(`${out.tokens.length} tokens in ${formatDuration(seconds * 1000)} (${(out.tokens.length / seconds).toFixed(1)} tokens/s)\n`)
}
