// Federated simulation: hundreds of virtual clients in one process, each with its own partition of a data set,
// trained on a worker pool and driven by the same coordinator and strategy code as a real mesh job.
import { type InMemoryDataset, partition, type PartitionScheme } from '@weft/data'
import {
  type CoordinatorTransport,
  createCoordinator,
  type JobEvent,
  type JobRecord,
  type JobSpec,
  localTrainOptions,
  memoryJobStore,
  type RoundMetrics,
  type RoundRecord,
  toDeltaInPlace,
  type UpdateHeader,
} from '@weft/fl'
import type { SharedDatasetDescriptor } from '@weft/data'
import { createWorkerPool, type WorkerPool } from '@weft/runtime-tfjs/node'

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
  /** Use this pool instead of creating one (it is not closed). */
  readonly pool?: WorkerPool
  readonly onEvent?: (event: JobEvent) => void
  readonly onRound?: (round: number, metrics: RoundMetrics) => void
  readonly signal?: AbortSignal
}

export interface SimulationResult {
  readonly job: JobRecord
  readonly rounds: readonly RoundRecord[]
  readonly seconds: number
  /** Peak resident memory of the process (workers included), bytes. */
  readonly peakRssBytes: number
  /** Examples per client share. */
  readonly shares: readonly number[]
}

/**
 * Runs one federated job over virtual clients and resolves when it ends.
 * @throws RangeError for fewer than one client or a share left empty by the partition
 */
export async function runSimulation(init: SimulationInit): Promise<SimulationResult> {
  const { spec, train } = init
  if (!Number.isInteger(init.clients) || init.clients < 1) throw new RangeError(`clients must be a positive integer, got ${init.clients}`)
  const parts = partition(train.labels(), init.partition, { clients: init.clients, seed: init.partitionSeed ?? 1 })
  const ids = parts.map((_, i) => `sim-${String(i).padStart(4, '0')}`)
  const index = new Map(ids.map((id, i) => [id, i]))
  const shares: SharedDatasetDescriptor[] = parts.map((p, i) => {
    if (p.length === 0) throw new RangeError(`client ${i} got no examples from the partition; use fewer clients or another scheme`)
    return train.subset(p, ids[i]).toShared()
  })
  const testShared = init.test?.toShared()
  const pool = init.pool ?? createWorkerPool(init.workers === undefined ? {} : { size: init.workers })
  const started = performance.now()
  const base = memoryJobStore({ keepDeltas: false, keepModels: false })
  const store = {
    ...base,
    appendEvent(jobId: string, event: Omit<JobEvent, 'seq'>) {
      const e = base.appendEvent(jobId, event)
      init.onEvent?.(e)
      return e
    },
  }
  let coordinator: ReturnType<typeof createCoordinator> | undefined
  const transport: CoordinatorTransport = {
    candidates: () => ids,
    invite: async (id) => ({ ok: true, examples: parts[index.get(id) as number]?.length ?? 0 }),
    async train(id, task) {
      const i = index.get(id) as number
      void (async () => {
        const t0 = performance.now()
        const trained = await pool.train({
          spec: spec.model,
          params: task.params,
          copyParams: true,
          dataset: shares[i] as SharedDatasetDescriptor,
          options: localTrainOptions(spec, task.seed, task.hints.proximalMu, task.params),
        })
        const delta = toDeltaInPlace(trained.params, task.params)
        const header: UpdateHeader = {
          jobId: task.jobId,
          round: task.round,
          baseHash: task.modelHash,
          examples: parts[i]?.length ?? 0,
          trainLoss: trained.result.meanLoss,
          trainAccuracy: 0,
          trainSeconds: (performance.now() - t0) / 1000,
          length: delta.length,
        }
        const c = coordinator
        if (c === undefined || !c.admit(id, header).ok) return
        c.deliver(id, header, delta, { bytes: delta.byteLength, seconds: 0 })
      })().catch(() => {
        // A failed task is a dropped client: the round closes without it at its deadline.
      })
      return { ok: true, bytesDown: task.params.byteLength }
    },
    async evaluate(id, task) {
      const e = await pool.evaluate({ spec: spec.model, params: task.params, dataset: shares[index.get(id) as number] as SharedDatasetDescriptor })
      return { ok: true, ...e }
    },
    release: async () => {},
  }
  coordinator = createCoordinator(
    {
      store,
      transport,
      ...(init.onRound === undefined ? {} : { metrics: { onRound: (_job: string, round: number, m: RoundMetrics) => init.onRound?.(round, m) } }),
      evaluator: {
        check: () => (testShared === undefined ? 'the simulation has no test set' : undefined),
        evaluate: async (s, _name, params) => pool.evaluate({ spec: s.model, params, dataset: testShared as SharedDatasetDescriptor }),
      },
    },
    { pollMs: 50 },
  )
  const onAbort = (): void => {
    coordinator?.cancel(job.id, 'simulation aborted')
  }
  const job = coordinator.submit(spec, { submitter: 'simulation' })
  init.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const end = await coordinator.done(job.id)
    return {
      job: end,
      rounds: store.listRounds(job.id),
      seconds: (performance.now() - started) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      shares: parts.map((p) => p.length),
    }
  } finally {
    init.signal?.removeEventListener('abort', onAbort)
    if (init.pool === undefined) await pool.close()
  }
}

