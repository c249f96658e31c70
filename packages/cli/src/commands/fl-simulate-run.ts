// What `weft fl simulate` runs, loaded only when it runs: a federated job over virtual clients in one process.
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import type { PartitionScheme } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { type AttackConfig, attackConfigSchema, HierarchyUnsupportedError, hierarchyProblem, parseJobSpec, type RoundMetrics } from '@weft/fl'
import { parse as parseYaml } from 'yaml'

export interface SimulateOptions {
  clients: number
  partition: 'iid' | 'dirichlet' | 'shards' | 'quantity-skew'
  alpha: number
  shards: number
  exponent: number
  partitionSeed: number
  workers?: number
  rounds?: number
  dataDir?: string
  json?: boolean
  quiet?: boolean
  attack?: AttackConfig['kind']
  attackFraction: number
  runtime: 'tfjs' | 'torch' | 'mixed'
  torchThreads: number
  sites?: number
  siteFraction?: number
}

/** Reads a job spec file (YAML or JSON) without validating it. */
export function readJobFile(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`cannot read job spec ${path}: ${(err as Error).message}`)
  }
  try {
    return parseYaml(text)
  } catch (err) {
    throw new Error(`job spec ${path} is not valid YAML/JSON: ${(err as Error).message}`)
  }
}

function schemeOf(o: SimulateOptions): PartitionScheme {
  switch (o.partition) {
    case 'iid':
      return { scheme: 'iid' }
    case 'dirichlet':
      return { scheme: 'dirichlet', alpha: o.alpha }
    case 'shards':
      return { scheme: 'shards', shardsPerClient: o.shards }
    case 'quantity-skew':
      return { scheme: 'quantity-skew', exponent: o.exponent }
    default: {
      const never: never = o.partition
      throw new Error(`unknown partition ${String(never)}`)
    }
  }
}

function accuracyOf(m: RoundMetrics | undefined): number | undefined {
  return m?.evaluation?.centralized?.accuracy ?? m?.evaluation?.federated?.accuracy
}

/** Runs the simulation of the job spec in `file`. */
export async function runFlSimulate(file: string, opts: SimulateOptions): Promise<void> {
  const raw = readJobFile(file) as Record<string, unknown>
  const spec = parseJobSpec({
    ...raw,
    ...(opts.rounds === undefined ? {} : { rounds: opts.rounds }),
    // The spec's data set names the virtual clients' shares; a centralized evaluation uses the test split.
    ...(raw !== null && typeof raw === 'object' && raw['dataset'] === undefined ? { dataset: 'fashion-mnist' } : {}),
  })
  // Refused before the data set loads: what sites cannot do for this job (runSimulation checks it again).
  const hierarchy = opts.sites === undefined ? undefined : hierarchyProblem(spec)
  if (hierarchy !== undefined) throw new HierarchyUnsupportedError(hierarchy)
  const dataDir = opts.dataDir === undefined ? {} : { dir: opts.dataDir }
  const [train, test] = await Promise.all([
    loadFashionMnist({ split: 'train', ...dataDir }),
    spec.evaluation.centralized === undefined ? Promise.resolve(undefined) : loadFashionMnist({ split: 'test', ...dataDir }),
  ])
  const log = (line: string): void => {
    if (opts.quiet !== true) process.stderr.write(`${line}\n`)
  }
  log(
    `simulating ${opts.clients} clients (${opts.partition} split) × ${spec.rounds} rounds of ${spec.strategy.name}, C=${spec.clients.fraction}, E=${spec.train.epochs}, B=${spec.train.batchSize}` +
      (opts.sites === undefined ? '' : `, in ${opts.sites} sites (C counts sites)`),
  )
  const abort = new AbortController()
  const onSigint = (): void => abort.abort()
  process.once('SIGINT', onSigint)
  let reached: number | undefined
  // The simulator lives in the daemon package: loaded only when this command runs.
  const { createSimulationPools, runSimulation } = await import('@weft/fl-sim')
  const pools = await createSimulationPools({
    engine: opts.runtime,
    workers: opts.workers ?? Math.max(1, availableParallelism()),
    torchThreads: opts.torchThreads,
  })
  log(`clients train on ${pools.label}`)
  const attack = opts.attack === undefined ? undefined : attackConfigSchema.parse({ kind: opts.attack, fraction: opts.attackFraction })
  const result = await runSimulation({
    ...(attack === undefined ? {} : { attack }),
    spec,
    clients: opts.clients,
    ...(opts.sites === undefined ? {} : { sites: opts.sites }),
    ...(opts.siteFraction === undefined ? {} : { siteFraction: opts.siteFraction }),
    partition: schemeOf(opts),
    partitionSeed: opts.partitionSeed,
    train,
    ...(test === undefined ? {} : { test }),
    pool: pools.main,
    clientPools: pools.clients,
    signal: abort.signal,
    onEvent: (e) => {
      if (e.type === 'job-failed') log(e.message)
      if (e.type !== 'round-evaluated') return
    },
    onRound: (round, m) => {
      log(
        `round ${String(round).padStart(4)}/${spec.rounds}  ${m.results} clients  train loss ${m.trainLoss.toFixed(4)}  ${m.seconds.total.toFixed(2)} s` +
          (m.privacy === undefined ? '' : `  ε ${m.privacy.epsilon.toFixed(3)}`),
      )
    },
  }).finally(async () => {
    process.off('SIGINT', onSigint)
    await pools.close()
  })
  const rounds = result.rounds.map((r) => ({
    round: r.round,
    accuracy: accuracyOf(r.metrics),
    loss: r.metrics?.evaluation?.centralized?.loss ?? r.metrics?.evaluation?.federated?.loss,
    trainLoss: r.metrics?.trainLoss,
    results: r.metrics?.results,
    seconds: r.metrics?.seconds.total,
    bytesUp: r.metrics?.bytesUp,
    ...(r.metrics?.privacy === undefined ? {} : { epsilon: r.metrics.privacy.epsilon }),
  }))
  for (const r of rounds) if (reached === undefined && r.accuracy !== undefined && r.accuracy >= 0.85) reached = r.round
  const last = [...rounds].reverse().find((r) => r.accuracy !== undefined)
  const summary = {
    status: result.job.status,
    ...(result.job.error === undefined ? {} : { error: result.job.error }),
    clients: opts.clients,
    runtime: opts.runtime,
    partition: schemeOf(opts),
    strategy: spec.strategy,
    rounds: rounds.length,
    finalAccuracy: last?.accuracy,
    roundsTo85: reached,
    seconds: result.seconds,
    secondsPerRound: result.seconds / Math.max(1, rounds.length),
    peakRssBytes: result.peakRssBytes,
    shareSizes: { min: Math.min(...result.shares), max: Math.max(...result.shares) },
    compression: spec.compression,
    bytesUpPerRound: rounds.reduce((sum, r) => sum + (r.bytesUp ?? 0), 0) / Math.max(1, rounds.length),
    updateBytes: result.updateBytes,
    ...(result.sites === undefined ? {} : { sites: result.sites.length, siteFraction: opts.siteFraction ?? 1 }),
    ...(attack === undefined ? {} : { attack, attackers: result.attackers.length }),
    ...(last?.epsilon === undefined && rounds.at(-1)?.epsilon === undefined ? {} : { epsilon: rounds.at(-1)?.epsilon, delta: spec.privacy.dp?.delta }),
    history: rounds,
  }
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(summary)}\n`)
  } else {
    process.stdout.write(
      `${result.job.status}: ${rounds.length} rounds in ${result.seconds.toFixed(1)} s (${summary.secondsPerRound.toFixed(2)} s/round), ` +
        `final accuracy ${last?.accuracy === undefined ? 'n/a' : `${(last.accuracy * 100).toFixed(2)}%`}, ` +
        `85% reached at round ${reached ?? 'never'}, peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MiB\n`,
    )
    if (result.sites !== undefined) {
      const mib = (b: number) => (b / 2 ** 20).toFixed(2)
      process.stdout.write(
        `${result.sites.length} sites: ${mib(result.updateBytes.toCoordinator)} MiB of updates reached the coordinator, ` +
          `${mib(result.updateBytes.withinSites)} MiB moved inside the sites\n`,
      )
    }
  }
  if (result.job.status !== 'finished') {
    if (result.job.error !== undefined) process.stderr.write(`weft: ${result.job.error}\n`)
    process.exitCode = 1
  }
}
