// Federated simulation: hundreds of virtual clients in one process, each with its own partition of a data set,
// trained on a worker pool and driven by the same coordinator and strategy code as a real mesh job.
import { type InMemoryDataset, partition, type PartitionScheme } from '@weft/data'
import {
  type AttackConfig,
  alieZ,
  attackerIds,
  type ClientUpdatePipeline,
  type CoordinatorTransport,
  craftMaliciousUpdates,
  createClientUpdatePipeline,
  createCoordinator,
  decodeClientUpdate,
  SecureClientSessions,
  secureInput,
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
import { tensorSetByteLength } from '@weft/protocol'
import { decodeSecAggMessage, encodeSecAggMessage, type SecAggMessage } from '@weft/secagg'
import { nativeX25519 } from '@weft/secagg/node'
import type { TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { createTorchPool, type TorchDevice } from '@weft/runtime-torch'
import { trainingData } from '@weft/fl'

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
}

/** Which engine the virtual clients of a simulation train on. */
export interface SimulationPoolsInit {
  /** `mixed`: even clients on torch, odd ones on tfjs-wasm (a mixed federation). */
  readonly engine: 'tfjs' | 'torch' | 'mixed'
  /** Engine workers in all (tfjs threads, torch processes; mixed: torch takes the larger half). */
  readonly workers: number
  /** Intra-op threads per torch worker. Default 1. */
  readonly torchThreads?: number
  readonly torchDevice?: TorchDevice
}

/** The pools of a simulation: `main` evaluates, `clients` is `SimulationInit.clientPools`. */
export interface SimulationPools {
  readonly main: TrainingPool
  readonly clients: readonly TrainingPool[]
  /** What the clients train on, in words. */
  readonly label: string
  close(): Promise<void>
}

/**
 * Starts the engine pools of a simulation.
 * @throws TorchUnavailableError for torch or mixed without a Python that has torch and numpy
 */
export async function createSimulationPools(init: SimulationPoolsInit): Promise<SimulationPools> {
  const { engine, workers } = init
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`init.workers must be a positive integer, got ${workers}`)
  if (engine === 'tfjs') {
    const main = createWorkerPool({ size: workers })
    return { main, clients: [main], label: `tfjs-wasm (${workers} thread(s))`, close: () => main.close() }
  }
  const torchWorkers = engine === 'mixed' ? Math.max(1, Math.ceil(workers / 2)) : workers
  const torch = await createTorchPool({ size: torchWorkers, device: init.torchDevice ?? 'auto', threads: init.torchThreads ?? 1 })
  const info = torch.runtimes[0]!.info
  const torchLabel = `torch ${info.torch} on ${info.device === 'cuda' ? info.deviceName : 'cpu'} (${torchWorkers} process(es) × ${info.threads} thread(s))`
  if (engine === 'torch') return { main: torch, clients: [torch], label: torchLabel, close: () => torch.close() }
  const tfjsWorkers = Math.max(1, workers - torchWorkers)
  const tfjs = createWorkerPool({ size: tfjsWorkers })
  return {
    main: torch,
    clients: [torch, tfjs],
    label: `a mixed federation: even clients on ${torchLabel}, odd clients on tfjs-wasm (${tfjsWorkers} thread(s))`,
    close: async () => {
      await Promise.all([torch.close(), tfjs.close()])
    },
  }
}

/** What colluding attackers of one round learn of it: the benign updates, once every benign client has trained. */
class CollusionRound {
  readonly benign: Float32Array[] = []
  benignDispatched = 0
  attackersDispatched = 0
  #finished = 0
  #changed = Promise.withResolvers<void>()

  benignDone(delta: Float32Array | undefined): void {
    if (delta !== undefined) this.benign.push(delta.slice())
    this.#finished++
    this.#changed.resolve()
    this.#changed = Promise.withResolvers<void>()
  }

  async allBenignDone(): Promise<void> {
    while (this.#finished < this.benignDispatched) await this.#changed.promise
  }
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
  const attack = init.attack
  const attackers = attack === undefined ? new Set<string>() : attackerIds(ids, attack.fraction, init.partitionSeed ?? 1)
  const collusion = new Map<number, CollusionRound>()
  const collusionRound = (round: number): CollusionRound => {
    let state = collusion.get(round)
    if (state === undefined) {
      state = new CollusionRound()
      collusion.set(round, state)
      collusion.delete(round - 2)
    }
    return state
  }
  // Each virtual client keeps its own update pipeline (compression's error feedback is per client).
  const pipelines = new Map<string, ClientUpdatePipeline>()
  // Each virtual client holds its own secure-aggregation sessions; one native X25519 serves them all.
  const keyAgreement = nativeX25519()
  const sessions = new Map<string, SecureClientSessions>()
  const sessionsOf = (id: string): SecureClientSessions => {
    let s = sessions.get(id)
    if (s === undefined) {
      s = new SecureClientSessions(id, { keyAgreement })
      sessions.set(id, s)
    }
    return s
  }
  const pipelineOf = (id: string): ClientUpdatePipeline => {
    let p = pipelines.get(id)
    if (p === undefined) {
      p = createClientUpdatePipeline(spec)
      pipelines.set(id, p)
    }
    return p
  }
  /** The update an attacker sends in place of its honest one. */
  const maliciousUpdate = async (config: AttackConfig, round: number, honest: Float32Array): Promise<Float32Array> => {
    const state = collusionRound(round)
    if (config.kind !== 'alie' && config.kind !== 'ipm') return craftMaliciousUpdates(config, { benign: [], attackerCount: 1, attackerUpdates: [honest] })[0] as Float32Array
    await state.allBenignDone()
    if (state.benign.length === 0) return honest
    const n = state.benignDispatched + state.attackersDispatched
    const crafted = config.kind === 'alie' ? { ...config, z: config.z ?? alieZ(n, state.attackersDispatched) } : config
    return craftMaliciousUpdates(crafted, { benign: state.benign, attackerCount: 1, totalClients: n })[0] as Float32Array
  }
  const pool = init.pool ?? createWorkerPool(init.workers === undefined ? {} : { size: init.workers })
  const clientPools = init.clientPools !== undefined && init.clientPools.length > 0 ? init.clientPools : [pool]
  const poolOf = (i: number): TrainingPool => clientPools[i % clientPools.length] as TrainingPool
  const started = performance.now()
  const store = memoryJobStore({ keepDeltas: false, keepModels: false })
  let coordinator: ReturnType<typeof createCoordinator> | undefined
  const transport: CoordinatorTransport = {
    candidates: () => ids,
    invite: async (id) => ({ ok: true, examples: parts[index.get(id) as number]?.length ?? 0 }),
    async train(id, task) {
      const i = index.get(id) as number
      const attacking = attack !== undefined && attackers.has(id)
      const round = collusionRound(task.round)
      // Only colluding attacks need the benign updates of the round: otherwise nothing is copied or waited for.
      const colluding = attack !== undefined && (attack.kind === 'alie' || attack.kind === 'ipm')
      if (attacking) round.attackersDispatched++
      else if (colluding) round.benignDispatched++
      void (async () => {
        const t0 = performance.now()
        let honest: Float32Array | undefined
        try {
          const trained = await poolOf(i).train({
            spec: spec.model,
            params: task.params,
            copyParams: true,
            dataset: trainingData(shares[i] as SharedDatasetDescriptor, attacking ? attack : undefined),
            options: localTrainOptions(spec, task.seed, task.hints.proximalMu, task.params),
          })
          honest = toDeltaInPlace(trained.params, task.params)
          return await deliver(id, task, honest, trained.result.meanLoss, (performance.now() - t0) / 1000)
        } finally {
          if (!attacking && colluding) round.benignDone(honest)
        }
      })().catch((err: unknown) => {
        // A failed task is a dropped client, at once and with the reason, not silently at the round's deadline.
        coordinator?.clientGone(id, `local training or its update failed: ${(err as Error)?.message ?? String(err)}`)
      })
      return { ok: true, bytesDown: task.params.byteLength }
    },
    async evaluate(id, task) {
      const i = index.get(id) as number
      const e = await poolOf(i).evaluate({ spec: spec.model, params: task.params, dataset: shares[i] as SharedDatasetDescriptor })
      return { ok: true, ...e }
    },
    release: async () => {},
    // Every message goes through the wire codec, so the bytes counted are the bytes a mesh would carry.
    async secagg(id, message) {
      try {
        const sent = encodeSecAggMessage(message)
        const reply = sessionsOf(id).handle(decodeSecAggMessage(sent) as SecAggMessage)
        if (reply === undefined) return { ok: true, bytes: sent.length }
        const back = encodeSecAggMessage(reply)
        return { ok: true, reply: decodeSecAggMessage(back) as SecAggMessage, bytes: sent.length + back.length }
      } catch (err) {
        return { ok: false, reason: (err as Error).message }
      }
    },
  }
  /** The client's side of an update after training: attack (if it is an attacker), clip, compress or mask, send. */
  const deliver = async (id: string, task: Parameters<CoordinatorTransport['train']>[1], honest: Float32Array, loss: number, seconds: number) => {
    const i = index.get(id) as number
    const delta = attack !== undefined && attackers.has(id) ? await maliciousUpdate(attack, task.round, honest) : honest
    const prepared = pipelineOf(id).prepare(delta, task.hints)
    const header = (length: number): UpdateHeader => ({
      jobId: task.jobId,
      round: task.round,
      baseHash: task.modelHash,
      examples: parts[i]?.length ?? 0,
      trainLoss: loss,
      trainAccuracy: 0,
      trainSeconds: seconds,
      length,
      ...(prepared.withinClip === undefined ? {} : { withinClip: prepared.withinClip }),
    })
    const c = coordinator
    if (c === undefined) return
    const secure = task.hints.secure
    const secureConfig = spec.privacy.secureAggregation
    if (secure !== undefined && secureConfig !== undefined) {
      const masked = await sessionsOf(id).mask(task.jobId, secure.session, secureInput(delta, secure, prepared.withinClip, secureConfig.clip), 120_000)
      c.deliverMasked(id, { ...header(masked.vector.length), secureSession: secure.session }, masked.vector, { bytes: masked.vector.byteLength, seconds: 0 })
      return
    }
    // Through the coordinator's own decoding, as on a mesh: compression costs what it costs there.
    const decoded = decodeClientUpdate(spec, prepared.set)
    if (!c.admit(id, header(decoded.length)).ok) return
    c.deliver(id, header(decoded.length), decoded, { bytes: tensorSetByteLength(prepared.set), seconds: 0 })
  }
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
      attackers: [...attackers].sort(),
    }
  } finally {
    init.signal?.removeEventListener('abort', onAbort)
    if (init.pool === undefined) await pool.close()
  }
}

