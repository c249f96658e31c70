// The simulator's CoordinatorTransport: virtual clients in this process, each running the one client flow of
// @weft/fl (`runClientTask`). Updates reach the coordinator through its own decoding path, as on a mesh, so
// compression and secure aggregation cost what they cost there; secure-aggregation messages go through the wire codec.
import type { SharedDatasetDescriptor } from '@weft/data'
import {
  type AttackConfig,
  type ClientSendOutcome,
  type ClientUpdatePipeline,
  type Coordinator,
  type CoordinatorTransport,
  createClientUpdatePipeline,
  decodeClientUpdate,
  type JobSpec,
  type PreparedClientUpdate,
  runClientTask,
  SecureClientSessions,
  secureCohortMinimum,
  type TrainAssignment,
  trainingData,
} from '@weft/fl'
import { tensorSetByteLength } from '@weft/protocol'
import type { TrainingPool } from '@weft/runtime'
import { createEd25519Directory, decodeSecAggMessage, encodeSecAggMessage, type KeyAgreement, type SecAggMessage, unauthenticatedIdentityUnsafe } from '@weft/secagg'
import { nativeX25519 } from '@weft/secagg/node'
import { CollusionRound, isColluding } from './collusion.js'

/** One virtual client: its share of the data and the engine pool it trains on. */
export interface VirtualClient {
  readonly id: string
  /** The client's local data. */
  readonly data: SharedDatasetDescriptor
  /** The examples in `data` (what the client reports). */
  readonly examples: number
  readonly pool: TrainingPool
}

export interface SimulationTransportInit {
  readonly clients: readonly VirtualClient[]
  /**
   * FOR ROBUSTNESS EVALUATION: the clients named in `attackers` attack every job. They collude: under ALIE and IPM
   * they wait for the round's benign updates and craft theirs from the benign mean and spread.
   */
  readonly attack?: { readonly config: AttackConfig; readonly attackers: ReadonlySet<string> }
  /**
   * FOR BENCHMARKS ONLY (`benchmarks/secagg-sign.mjs`): the virtual clients advertise their X25519 keys unsigned and
   * accept their neighbours' unchecked (`unauthenticatedIdentityUnsafe`), to measure what signing costs a round.
   * A server could then swap keys. Default false: keys signed and checked, as on a mesh.
   */
  readonly unsignedKeysUnsafe?: boolean
}

/** The part of the coordinator the virtual clients talk to. */
export type SimulationCoordinator = Pick<Coordinator, 'admit' | 'deliver' | 'deliverMasked' | 'taskFailed'>

export interface SimulationTransportComponents {
  /** The coordinator updates go to (a getter: it is created with this transport). Undefined drops updates. */
  readonly coordinator: () => SimulationCoordinator | undefined
  /** Key agreement of the clients' secure-aggregation sessions. Default: OpenSSL's X25519. */
  readonly keyAgreement?: KeyAgreement
}

/** What the virtual clients hold of one job: its spec, their update pipelines, the attackers' view of its rounds. */
interface SimulatedJob {
  readonly spec: JobSpec
  /** The clients invited and not yet released. */
  readonly members: Set<string>
  /** Per client: compression's error feedback is per client and job. */
  readonly pipelines: Map<string, ClientUpdatePipeline>
  readonly collusion: Map<number, CollusionRound>
}

/**
 * Creates the transport of a simulation: `candidates` are the virtual clients, `train` runs a client's task in the
 * background (its outcome reaches the coordinator as an update, or as `taskFailed` with the reason).
 * @throws RangeError for no clients or a repeated client id
 */
export function createSimulationTransport(init: SimulationTransportInit, components: SimulationTransportComponents): CoordinatorTransport {
  if (init.clients.length === 0) throw new RangeError('init.clients must name at least one virtual client')
  const clients = new Map(init.clients.map((c) => [c.id, c]))
  if (clients.size !== init.clients.length) throw new RangeError('init.clients has a repeated client id')
  const ids = Object.freeze([...clients.keys()])
  const attack = init.attack
  const colluding = isColluding(attack?.config)
  const jobs = new Map<string, SimulatedJob>()
  // Each virtual client holds its own secure-aggregation sessions; one key agreement serves them all.
  const keyAgreement = components.keyAgreement ?? nativeX25519()
  const sessions = new Map<string, SecureClientSessions>()
  // Virtual clients have no node identity: each gets an Ed25519 key, and they check each other's signed round keys.
  const identities = createEd25519Directory()
  const identityOf = (id: string) => (init.unsignedKeysUnsafe === true ? unauthenticatedIdentityUnsafe : identities.identityOf(id))
  const minClients = (jobId: string) => {
    const job = jobs.get(jobId)
    return job === undefined ? undefined : secureCohortMinimum(job.spec)
  }
  const sessionsOf = (id: string): SecureClientSessions => {
    let s = sessions.get(id)
    if (s === undefined) {
      s = new SecureClientSessions(id, { keyAgreement, identity: identityOf(id), minClients })
      sessions.set(id, s)
    }
    return s
  }
  const pipelineOf = (job: SimulatedJob, id: string): ClientUpdatePipeline => {
    let p = job.pipelines.get(id)
    if (p === undefined) {
      p = createClientUpdatePipeline(job.spec)
      job.pipelines.set(id, p)
    }
    return p
  }
  const collusionRound = (job: SimulatedJob, round: number): CollusionRound => {
    let state = job.collusion.get(round)
    if (state === undefined) {
      state = new CollusionRound()
      job.collusion.set(round, state)
      job.collusion.delete(round - 2)
    }
    return state
  }
  /** The client's `send`: through the coordinator's own decoding and admission, as a mesh update would go. */
  const send = async (id: string, spec: JobSpec, update: PreparedClientUpdate): Promise<ClientSendOutcome> => {
    const c = components.coordinator()
    if (c === undefined) return { ok: false, reason: 'no coordinator' }
    if (update.masked !== undefined) return c.deliverMasked(id, update.header, update.masked, { bytes: update.masked.byteLength, seconds: 0 })
    const decoded = decodeClientUpdate(spec, update.set)
    const header = { ...update.header, length: decoded.length }
    const admitted = c.admit(id, header)
    if (!admitted.ok) return admitted
    return c.deliver(id, header, decoded, { bytes: tensorSetByteLength(update.set), seconds: 0 })
  }
  /** One task of one client, from training to the update's delivery. */
  const runTask = async (client: VirtualClient, job: SimulatedJob, task: TrainAssignment): Promise<void> => {
    const ownAttack = attack?.attackers.has(client.id) === true ? attack.config : undefined
    const attacking = ownAttack !== undefined
    // Only colluding attacks need the benign updates of the round: otherwise nothing is copied or waited for.
    const round = attack === undefined ? undefined : collusionRound(job, task.round)
    if (round !== undefined && attacking) round.attackersDispatched++
    else if (round !== undefined && colluding) round.benignDispatched++
    let honest: Float32Array | undefined
    try {
      const outcome = await runClientTask(
        {
          jobId: task.jobId,
          round: task.round,
          spec: job.spec,
          baseHash: task.modelHash,
          global: task.params,
          seed: task.seed,
          hints: task.hints,
          dataset: trainingData(client.data, ownAttack),
          examples: client.examples,
        },
        {
          pool: client.pool,
          pipeline: pipelineOf(job, client.id),
          ...(task.hints.secure === undefined ? {} : { secure: sessionsOf(client.id) }),
          transformDelta: (delta) => {
            if (ownAttack !== undefined) return (round as CollusionRound).maliciousUpdate(ownAttack, delta)
            honest = delta
            return delta
          },
          send: (update) => send(client.id, job.spec, update),
        },
      )
      // A refused update is the coordinator's own decision; a failed training or preparation it must hear of.
      if (!outcome.ok && outcome.stage !== 'send') components.coordinator()?.taskFailed(task.jobId, client.id, task.round, outcome.reason)
    } finally {
      // The benign update as it was sent (clipped in place by the pipeline), or none when the task failed.
      if (round !== undefined && colluding && !attacking) round.benignDone(honest)
    }
  }
  const transport: CoordinatorTransport = {
    candidates: () => ids,
    async invite(id, jobId, spec) {
      const client = clients.get(id)
      if (client === undefined) return { ok: false, reason: `no virtual client ${id}` }
      let job = jobs.get(jobId)
      if (job === undefined) {
        job = { spec, members: new Set(), pipelines: new Map(), collusion: new Map() }
        jobs.set(jobId, job)
      }
      job.members.add(id)
      return { ok: true, examples: client.examples }
    },
    async train(id, task, _signal, progress) {
      const client = clients.get(id)
      const job = jobs.get(task.jobId)
      if (client === undefined || job === undefined) return { ok: false, reason: `virtual client ${id} was not invited to job ${task.jobId}` }
      // The model is shared memory here: no bytes hold the link, so the next hand-out may start at once.
      progress?.modelSent()
      void runTask(client, job, task).catch((err: unknown) => {
        // A failed task is a dropped client, at once and with the reason, not silently at the round's deadline.
        components.coordinator()?.taskFailed(task.jobId, id, task.round, `its update failed: ${(err as Error)?.message ?? String(err)}`)
      })
      return { ok: true, bytesDown: task.params.byteLength }
    },
    async evaluate(id, task) {
      const client = clients.get(id)
      const job = jobs.get(task.jobId)
      if (client === undefined || job === undefined) return { ok: false, reason: `virtual client ${id} was not invited to job ${task.jobId}` }
      const e = await client.pool.evaluate({ spec: job.spec.model, params: task.params, dataset: client.data })
      return { ok: true, ...e }
    },
    async release(id, jobId) {
      const job = jobs.get(jobId)
      if (job === undefined) return
      job.members.delete(id)
      job.pipelines.delete(id)
      if (job.members.size === 0) jobs.delete(jobId)
    },
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
  return Object.freeze(transport)
}
