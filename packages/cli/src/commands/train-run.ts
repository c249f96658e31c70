// The work behind `weft train`, loaded only when the command runs (it pulls in the ML engine and data loaders).
import { writeFile } from 'node:fs/promises'
import type { FashionMnistSplit } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import {
  type ArchitectureName,
  type Dataset,
  encodeModelArtifact,
  type EvaluateResult,
  type ModelSpec,
  type OptimizerConfig,
  type Runtime,
} from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import cliProgress from 'cli-progress'
import { formatBytes, formatDuration } from '../format.js'

/** Parsed `weft train` options. */
export interface TrainCliOptions {
  model: ArchitectureName
  dataset: 'fashion-mnist'
  dataDir?: string
  epochs: number
  batchSize: number
  optimizer: 'sgd' | 'adam' | 'adamw'
  lr?: number
  momentum: number
  weightDecay?: number
  runtime: 'tfjs' | 'torch' | 'auto'
  backend: 'wasm' | 'cpu'
  device: 'auto' | 'cpu' | 'cuda'
  threads: number
  python?: string
  seed: number
  limit?: number
  testLimit?: number
  json?: true
  out?: string
  progress: boolean
}

const DEFAULT_LR = { sgd: 0.05, adam: 0.001, adamw: 0.001 } as const

function optimizerConfig(o: TrainCliOptions): OptimizerConfig {
  const lr = o.lr ?? DEFAULT_LR[o.optimizer]
  if (o.optimizer === 'sgd') {
    return { kind: 'sgd', lr, momentum: o.momentum, ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }) }
  }
  return { kind: o.optimizer, lr, ...(o.weightDecay === undefined ? {} : { weightDecay: o.weightDecay }) }
}

function firstN(ds: Dataset, n: number | undefined): Dataset {
  return n === undefined || n >= ds.size ? ds : ds.subset(Array.from({ length: n }, (_, i) => i), `${ds.name}[:${n}]`)
}

async function load(split: FashionMnistSplit, dir: string | undefined): Promise<Dataset> {
  return loadFashionMnist(dir === undefined ? { split } : { split, dir })
}

interface EpochRow {
  epoch: number
  trainLoss: number
  testLoss: number
  testAccuracy: number
  examplesPerSecond: number
  trainSeconds: number
}

/**
 * Starts the engine `--runtime` names. `torch` that cannot start is an error; `auto` falls back to tfjs and says why.
 * @throws TorchUnavailableError for `--runtime torch` without a usable Python
 */
async function startRuntime(o: TrainCliOptions): Promise<{ runtime: Runtime; engineLabel: string; fallbackReason: string | undefined }> {
  if (o.runtime !== 'tfjs') {
    try {
      const rt = await torchRuntime({ device: o.device, threads: o.threads, ...(o.python === undefined ? {} : { python: o.python }) })
      const where = rt.info.device === 'cuda' ? `cuda (${rt.info.deviceName})` : `cpu, ${rt.info.threads} thread(s)`
      return { runtime: rt, engineLabel: `torch ${rt.info.torch} on ${where}`, fallbackReason: undefined }
    } catch (err) {
      if (o.runtime === 'torch') throw err
      process.stderr.write(`weft train: the torch runtime is unavailable (${(err as Error).message}); using tfjs-${o.backend}\n`)
      const rt = await tfjsRuntime({ backend: o.backend }, { log: (m) => process.stderr.write(`${m}\n`) })
      return { runtime: rt, engineLabel: `tfjs-${rt.backend}`, fallbackReason: (err as Error).message }
    }
  }
  const rt = await tfjsRuntime({ backend: o.backend }, { log: (m) => process.stderr.write(`${m}\n`) })
  return { runtime: rt, engineLabel: `tfjs-${rt.backend}`, fallbackReason: rt.fallbackReason }
}

/** Runs `weft train`. */
export async function runTrain(o: TrainCliOptions): Promise<void> {
  const log = (line: string) => {
    if (o.json !== true || o.progress) process.stderr.write(`${line}\n`)
  }
  const wallStart = performance.now()
  const [train, test] = await Promise.all([load('train', o.dataDir), load('test', o.dataDir)])
  const trainSet = firstN(train, o.limit)
  const testSet = firstN(test, o.testLimit)
  const { runtime, engineLabel, fallbackReason } = await startRuntime(o)
  const spec = { architecture: o.model, inputShape: [28, 28, 1], numClasses: 10 } as ModelSpec
  const model = await runtime.createModel(spec, { seed: o.seed })
  const optimizer = optimizerConfig(o)
  log(
    `weft train: ${o.model} (${model.paramCount.toLocaleString('en-US')} params) on ${trainSet.name} (${trainSet.size} examples), ` +
      `${engineLabel}, ${o.optimizer} lr=${optimizer.lr}, batch ${o.batchSize}, ${o.epochs} epoch(s)`,
  )
  const stepsPerEpoch = Math.ceil(trainSet.size / o.batchSize)
  const showBar = o.progress && process.stderr.isTTY === true
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'epoch {epoch} |{bar}| {percentage}% | {value}/{total} ex | {speed} ex/s | loss {loss} | ETA {eta_formatted}',
      barsize: 24,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  )
  const rows: EpochRow[] = []
  let epochStartMs = 0
  let epochStartExamples = 0
  let evalMs = 0
  let last: EvaluateResult | undefined
  if (showBar) bar.start(trainSet.size, 0, { epoch: `1/${o.epochs}`, speed: '-', loss: '-' })
  const result = await model.train(trainSet, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer,
    seed: o.seed,
    onProgress: (p) => {
      const inEpoch = p.examples - epochStartExamples
      const secs = (p.elapsedMs - epochStartMs) / 1000
      if (showBar) {
        bar.update(inEpoch, {
          epoch: `${Math.floor((p.step - 1) / stepsPerEpoch) + 1}/${o.epochs}`,
          speed: secs > 0 ? (inEpoch / secs).toFixed(0) : '-',
          loss: p.loss.toFixed(4),
        })
      }
    },
    onEpochEnd: async (e) => {
      const trainSeconds = (e.elapsedMs - epochStartMs) / 1000
      const examples = e.examples - epochStartExamples
      if (showBar) bar.stop()
      const t0 = performance.now()
      last = await model.evaluate(testSet, { batchSize: 500 })
      evalMs += performance.now() - t0
      const row: EpochRow = {
        epoch: e.epoch,
        trainLoss: e.meanLoss,
        testLoss: last.loss,
        testAccuracy: last.accuracy,
        examplesPerSecond: examples / trainSeconds,
        trainSeconds,
      }
      rows.push(row)
      log(
        `epoch ${e.epoch}/${o.epochs}: train loss ${row.trainLoss.toFixed(4)}, test loss ${row.testLoss.toFixed(4)}, ` +
          `test accuracy ${(100 * row.testAccuracy).toFixed(2)}%, ${row.examplesPerSecond.toFixed(0)} ex/s, ${formatDuration(trainSeconds * 1000)}`,
      )
      // The engine's clock keeps running during evaluation: measure the next epoch from here.
      epochStartExamples = e.examples
      epochStartMs = e.elapsedMs + (performance.now() - t0)
      if (showBar && e.epoch < o.epochs) bar.start(trainSet.size, 0, { epoch: `${e.epoch + 1}/${o.epochs}`, speed: '-', loss: '-' })
    },
  })
  let artifact: { path: string; id: string; bytes: number } | undefined
  if (o.out !== undefined) {
    const { bytes, id } = encodeModelArtifact({ spec, params: model.paramInfo(), weights: model.getParams() })
    await writeFile(o.out, bytes)
    artifact = { path: o.out, id, bytes: bytes.length }
  }
  const wallSeconds = (performance.now() - wallStart) / 1000
  const trainSeconds = (result.durationMs - evalMs) / 1000
  const summary = {
    model: o.model,
    spec,
    params: model.paramCount,
    engine: runtime.name,
    backend: runtime.backend,
    ...(fallbackReason === undefined ? {} : { fallbackReason }),
    dataset: o.dataset,
    trainExamples: trainSet.size,
    testExamples: testSet.size,
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer,
    seed: o.seed,
    steps: result.steps,
    testAccuracy: last?.accuracy ?? Number.NaN,
    testLoss: last?.loss ?? Number.NaN,
    trainExamplesPerSecond: result.examples / trainSeconds,
    trainSeconds,
    wallSeconds,
    perEpoch: rows,
    ...(artifact === undefined ? {} : { artifact }),
  }
  model.dispose()
  await runtime.dispose()
  if (o.json === true) {
    process.stdout.write(`${JSON.stringify(summary)}\n`)
    return
  }
  log(
    `done: test accuracy ${(100 * summary.testAccuracy).toFixed(2)}% after ${o.epochs} epoch(s), ` +
      `${summary.trainExamplesPerSecond.toFixed(0)} ex/s training, wall ${formatDuration(wallSeconds * 1000)}` +
      (artifact === undefined ? '' : `; wrote ${artifact.path} (${formatBytes(artifact.bytes)}, id ${artifact.id.slice(0, 16)}…)`),
  )
}

