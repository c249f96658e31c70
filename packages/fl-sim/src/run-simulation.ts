// Federated simulation: hundreds of virtual clients in one process, each with its own partition of a data set,
// trained on a worker pool and driven by the same coordinator, strategies and client flow as a real mesh job.
import { type InMemoryDataset, partition, type PartitionScheme, type SharedDatasetDescriptor } from '@weft/data'
import {
  type AttackConfig,
  attackerIds,
  type Coordinator,
  createCoordinator,
  HierarchyUnsupportedError,
  hierarchyProblem,
  type JobEvent,
  type JobRecord,
  type JobSpec,
  memoryJobStore,
  type RoundMetrics,
  type RoundRecord,
} from '@weft/fl'
import type { TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { createSimulationTransport, type SimulationSite, type SiteRoundReport, type VirtualClient } from './simulation-transport.js'

export interface SimulationInit {
  readonly spec: JobSpec
  /** Number of virtual clients. */
  readonly clients: number
  /** How the training set is split among them. */
  readonly partition: PartitionScheme
  /** Seed of the split. */
  readonly partitionSeed?: number
  /** The data set every client's share is cut from. */
  readonly train: InMemoryDataset
  /** The coordinator's test set for centralized evaluation (when the spec asks for it). */
  readonly test?: InMemoryDataset
  /** Worker threads (default: available parallelism). */
  readonly workers?: number
  /** Use this pool instead of creating one (it is not closed). Any engine's pool: tfjs worker threads, torch processes. */
  readonly pool?: TrainingPool
  /**
   * A mixed federation: virtual client i trains on `clientPools[i % clientPools.length]` (not closed), e.g. a torch
   * pool and a tfjs pool. The coordinator's evaluation still uses `pool`.
   */
  readonly clientPools?: readonly TrainingPool[]
  readonly onEvent?: (event: JobEvent) => void
  readonly onRound?: (round: number, metrics: RoundMetrics) => void
  readonly signal?: AbortSignal
  /**
   * FOR ROBUSTNESS EVALUATION: a seeded `fraction` of the virtual clients attack. They collude: ALIE and IPM wait
   * for the round's benign updates and craft theirs from the benign mean and spread.
   */
  readonly attack?: AttackConfig
  /**
   * FOR BENCHMARKS ONLY: secure-aggregation clients advertise unsigned X25519 keys and check none of their
   * neighbours' (see `SimulationTransportInit.unsignedKeysUnsafe`). Default false.
   */
  readonly unsignedSecAggKeysUnsafe?: boolean
  /**
   * Hierarchical rounds: the virtual clients are dealt to this many sites in order (site k holds a contiguous run
   * of clients, sizes differing by at most one), and the coordinator sees one aggregator client per site, weighing
   * its members' examples. Its `clients.fraction`/`min`/`max` then count sites (and `clients.maxExamples` caps a
   * site's weight). The sites' members train with the seeds they would get in a flat job. Under secure aggregation each
   * site runs a session over its members. Refused with differential privacy (`HierarchyUnsupportedError`). Absent: a
   * flat job.
   */
  readonly sites?: number
  /** With `sites`: share of a site's members that train each round, in (0, 1] (seeded per round). Default 1. */
  readonly siteFraction?: number
}

/** Bytes of the updates of a run: what reached the coordinator and what moved inside the sites. */
export interface SimulationUpdateBytes {
  /** Update bytes the coordinator received (every round's `bytesUp`): one update per site per round with sites. */
  readonly toCoordinator: number
  /** Update bytes the members sent their site aggregators (0 without sites). */
  readonly withinSites: number
  /** Model bytes the site aggregators handed their members (0 without sites). */
  readonly modelWithinSites: number
}

export interface SimulationResult {
  readonly job: JobRecord
  readonly rounds: readonly RoundRecord[]
  readonly seconds: number
  /** Peak resident memory of the process (workers included), bytes. */
  readonly peakRssBytes: number
  /** Examples per client share. */
  readonly shares: readonly number[]
  /** The virtual clients that attacked (empty without an attack). */
  readonly attackers: readonly string[]
  readonly updateBytes: SimulationUpdateBytes
  /** With `sites`: each site's aggregator id and members. */
  readonly sites?: readonly SimulationSite[]
}

/**
 * Runs one federated job over virtual clients and resolves when it ends.
 * @throws RangeError for fewer than one client, a share left empty by the partition, or sites that are not a
 *   positive integer up to the clients, or fewer than the spec's `clients.min`
 * @throws HierarchyUnsupportedError for sites with differential privacy (the message says why)
 */
export async function runSimulation(init: SimulationInit): Promise<SimulationResult> {
  const { spec, train } = init
  if (!Number.isInteger(init.clients) || init.clients < 1) throw new RangeError(`clients must be a positive integer, got ${init.clients}`)
  if (init.sites !== undefined) checkSites(init.sites, init.clients, spec)
  const parts = partition(train.labels(), init.partition, { clients: init.clients, seed: init.partitionSeed ?? 1 })
  const ids = parts.map((_, i) => `sim-${String(i).padStart(4, '0')}`)
  const shares: SharedDatasetDescriptor[] = parts.map((p, i) => {
    if (p.length === 0) throw new RangeError(`client ${i} got no examples from the partition; use fewer clients or another scheme`)
    return train.subset(p, ids[i]).toShared()
  })
  const testShared = init.test?.toShared()
  const attack = init.attack
  const attackers = attack === undefined ? new Set<string>() : attackerIds(ids, attack.fraction, init.partitionSeed ?? 1)
  const pool = init.pool ?? createWorkerPool(init.workers === undefined ? {} : { size: init.workers })
  const clientPools = init.clientPools !== undefined && init.clientPools.length > 0 ? init.clientPools : [pool]
  const clients: VirtualClient[] = ids.map((id, i) => ({
    id,
    data: shares[i] as SharedDatasetDescriptor,
    examples: parts[i]?.length ?? 0,
    pool: clientPools[i % clientPools.length] as TrainingPool,
  }))
  const sites = init.sites === undefined ? undefined : dealSites(ids, init.sites)
  let withinSites = 0
  let modelWithinSites = 0
  const onSiteRound = (report: SiteRoundReport): void => {
    withinSites += report.aggregate?.bytesUp ?? 0
    modelWithinSites += report.aggregate?.bytesDown ?? 0
  }
  const started = performance.now()
  const store = memoryJobStore({ keepDeltas: false, keepModels: false })
  let coordinator: Coordinator | undefined
  const transport = createSimulationTransport(
    {
      clients,
      ...(attack === undefined ? {} : { attack: { config: attack, attackers } }),
      unsignedKeysUnsafe: init.unsignedSecAggKeysUnsafe === true,
      ...(sites === undefined ? {} : { sites, onSiteRound, ...(init.siteFraction === undefined ? {} : { siteFraction: init.siteFraction }) }),
    },
    { coordinator: () => coordinator },
  )
  coordinator = createCoordinator(
    {
      store,
      transport,
      ...(init.onEvent === undefined ? {} : { onEvent: (_job: string, e: JobEvent) => init.onEvent?.(e) }),
      ...(init.onRound === undefined ? {} : { metrics: { onRound: (_job: string, round: number, m: RoundMetrics) => init.onRound?.(round, m) } }),
      evaluator: {
        check: () => (testShared === undefined ? 'the simulation has no test set' : undefined),
        evaluate: async (s, _name, params) => pool.evaluate({ spec: s.model, params, dataset: testShared as SharedDatasetDescriptor }),
      },
    },
    { pollMs: 50 },
  )
  let onAbort: (() => void) | undefined
  try {
    const job = coordinator.submit(spec, { submitter: 'simulation' })
    onAbort = () => coordinator?.cancel(job.id, 'simulation aborted')
    init.signal?.addEventListener('abort', onAbort, { once: true })
    const end = await coordinator.done(job.id)
    const rounds = store.listRounds(job.id)
    return {
      job: end,
      rounds,
      seconds: (performance.now() - started) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      shares: parts.map((p) => p.length),
      attackers: [...attackers].sort(),
      updateBytes: { toCoordinator: rounds.reduce((sum, r) => sum + (r.metrics?.bytesUp ?? 0), 0), withinSites, modelWithinSites },
      ...(sites === undefined ? {} : { sites }),
    }
  } finally {
    if (onAbort !== undefined) init.signal?.removeEventListener('abort', onAbort)
    if (init.pool === undefined) await pool.close()
  }
}

function checkSites(sites: number, clients: number, spec: JobSpec): void {
  if (!Number.isInteger(sites) || sites < 1 || sites > clients) throw new RangeError(`sites must be an integer from 1 to the ${clients} clients, got ${sites}`)
  if (spec.clients.min > sites) {
    throw new RangeError(`the job's clients.min is ${spec.clients.min}, but with sites the coordinator's clients are the ${sites} site aggregators`)
  }
  const problem = hierarchyProblem(spec)
  if (problem !== undefined) throw new HierarchyUnsupportedError(problem)
}

/** Deals the clients to `n` sites in order: site k holds a contiguous run, sizes differing by at most one. */
function dealSites(ids: readonly string[], n: number): SimulationSite[] {
  const base = Math.floor(ids.length / n)
  const extra = ids.length % n
  const sites: SimulationSite[] = []
  let next = 0
  for (let k = 0; k < n; k++) {
    const size = base + (k < extra ? 1 : 0)
    sites.push({ id: `site-${String(k).padStart(3, '0')}`, members: ids.slice(next, next + size) })
    next += size
  }
  return sites
}
