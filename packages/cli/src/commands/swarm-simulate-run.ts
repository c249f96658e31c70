// What `weft swarm simulate` runs, loaded only when it runs: a swarm spec over virtual peers in one process.
import { availableParallelism } from 'node:os'
import { type PartitionScheme, partition } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { InvalidSwarmSpecError, outerSteps, parseSwarmSpec, runSwarmSimulation, type StepRecord } from '@weft/swarm'
import { readJobFile } from './fl-simulate-run.js'

export interface SwarmSimulateOptions {
  peers: number
  partition: 'iid' | 'dirichlet'
  alpha: number
  partitionSeed: number
  workers?: number
  samples?: number
  dataDir?: string
  json?: boolean
  quiet?: boolean
}

function schemeOf(o: SwarmSimulateOptions): PartitionScheme {
  return o.partition === 'iid' ? { scheme: 'iid' } : { scheme: 'dirichlet', alpha: o.alpha }
}

/** A number for JSON: NaN (not evaluated) becomes null. */
const num = (x: number): number | null => (Number.isFinite(x) ? x : null)

const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a')

/** Runs the swarm spec in `file` over `opts.peers` virtual peers. */
export async function runSwarmSimulate(file: string, opts: SwarmSimulateOptions): Promise<void> {
  const raw = readJobFile(file)
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InvalidSwarmSpecError(`invalid swarm spec: (root): expected an object in ${file}`)
  const input = raw as Record<string, unknown>
  const spec = parseSwarmSpec({
    ...input,
    // The spec's data set names the virtual peers' shares; every peer waits for the others before its first step.
    ...(input['dataset'] === undefined ? { dataset: 'fashion-mnist' } : {}),
    ...(input['minPeers'] === undefined ? { minPeers: opts.peers } : {}),
    ...(opts.samples === undefined ? {} : { totalSamples: opts.samples }),
  })
  if (spec.minPeers > opts.peers) {
    throw new InvalidSwarmSpecError(`invalid swarm spec: minPeers (${spec.minPeers}) is above the ${opts.peers} simulated peers (--peers)`)
  }
  const dataDir = opts.dataDir === undefined ? {} : { dir: opts.dataDir }
  const [train, test] = await Promise.all([
    loadFashionMnist({ split: 'train', ...dataDir }),
    spec.evaluation === undefined ? Promise.resolve(undefined) : loadFashionMnist({ split: 'test', ...dataDir }),
  ])
  const log = (line: string): void => {
    if (opts.quiet !== true) process.stderr.write(`${line}\n`)
  }
  const steps = outerSteps(spec)
  const outer = spec.outer.kind === 'diloco' ? `DiLoCo (lr ${spec.outer.lr}, momentum ${spec.outer.momentum}${spec.outer.nesterov ? ', Nesterov' : ''})` : 'plain averaging'
  log(
    `simulating ${opts.peers} peers (${opts.partition} split) × ${steps} outer steps of ${outer}, groups of ${spec.averaging.groupSize}, ` +
      `${spec.targetSamples} samples per outer step, ${spec.totalSamples} in all, B=${spec.inner.batchSize}`,
  )
  const scheme = schemeOf(opts)
  const parts = partition(train.labels(), scheme, { clients: opts.peers, seed: opts.partitionSeed })
  const shares = parts.map((p, i) => train.subset(p, `${spec.dataset}#${i}`).toShared())
  const pool = createWorkerPool({ size: opts.workers ?? Math.max(1, availableParallelism()) })
  // Peers are numbered in launch order; the first one's outer steps are shown.
  let first: string | undefined
  const result = await runSwarmSimulation({
    spec,
    shares,
    ...(test === undefined ? {} : { test: test.toShared() }),
    pool,
    onEvent: (peer, event) => {
      first ??= peer
      if (event.type === 'offence') log(`${peer}: dropped a part from ${event.peer}: ${event.reason}`)
      if (event.type !== 'step' || peer !== first) return
      const r = event.record
      log(
        `step ${String(r.step + 1).padStart(4)}/${steps}  ${r.innerSteps} inner steps  loss ${r.loss.toFixed(4)}` +
          (Number.isFinite(r.accuracy) ? `  accuracy ${pct(r.accuracy)}` : '') +
          `  consensus ${r.consensusDistance.toExponential(2)}  group ${r.groupSize}  ${r.wallSeconds.toFixed(2)} s`,
      )
    },
  }).finally(() => pool.close())
  const history = (result.peers[0]?.records ?? []).map((r: StepRecord) => ({
    step: r.step,
    innerSteps: r.innerSteps,
    samples: r.samples,
    loss: num(r.loss),
    accuracy: num(r.accuracy),
    consensusDistance: num(r.consensusDistance),
    groupSize: r.groupSize,
    seconds: r.wallSeconds,
  }))
  const summary = {
    name: spec.name,
    peers: opts.peers,
    partition: scheme,
    outer: spec.outer,
    groupSize: spec.averaging.groupSize,
    targetSamples: spec.targetSamples,
    totalSamples: spec.totalSamples,
    outerSteps: steps,
    seconds: result.seconds,
    bytes: result.bytes,
    results: result.peers.map((p) => ({ id: p.id, accuracy: num(p.accuracy), outerSteps: p.records.length, killed: p.killed })),
    history,
  }
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(summary)}\n`)
  } else {
    for (const p of result.peers) process.stdout.write(`${p.id}: final accuracy ${pct(p.accuracy)} after ${p.records.length} outer steps\n`)
    process.stdout.write(`${opts.peers} peers, ${steps} outer steps in ${result.seconds.toFixed(1)} s, ${(result.bytes / 2 ** 20).toFixed(1)} MiB carried between peers\n`)
  }
}
