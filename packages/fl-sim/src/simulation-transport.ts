// The simulator's CoordinatorTransport: virtual clients in this process, each running the one client flow of
// @weft/fl (`runClientTask`). Updates reach the coordinator through its own decoding path, as on a mesh, so
// compression and secure aggregation cost what they cost there; secure-aggregation messages go through the wire codec.
import type { SharedDatasetDescriptor } from '@weft/data'
import {
  type AttackConfig,
  type ClientSendOutcome,
  type ClientTaskOutcome,
  type ClientUpdatePipeline,
  type Coordinator,
  type CoordinatorTransport,
  createClientUpdatePipeline,
  decodeClientUpdate,
  type JobSpec,
  type PreparedClientUpdate,
  runClientTask,
  runSiteTask,
  SecureClientSessions,
  secureCohortMinimum,
  type SiteAggregate,
  type SiteMember,
  type SiteMemberDrop,
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

/** A site of a hierarchical simulation: one aggregator client to the coordinator, over its members. */
export interface SimulationSite {
  /** The aggregator's id, as the coordinator sees it (distinct from every virtual client's). */
  readonly id: string
  /** Ids of the virtual clients of the site (each in one site only). */
  readonly members: readonly string[]
}

/** What one site's round came to (for byte counts and drops). */
export interface SiteRoundReport {
  readonly site: string
  readonly jobId: string
  readonly round: number
  /** The site's sub-round, when it got that far (absent when no member delivered). */
  readonly aggregate?: SiteAggregate
  readonly dropped: readonly SiteMemberDrop[]
}

export interface SimulationTransportInit {
  readonly clients: readonly VirtualClient[]
  /**
   * Hierarchical rounds: the coordinator's candidates are these sites' aggregators, not the clients. Each is one
   * client weighing its members' examples; asked to train, it runs the task on its members and forwards their
   * example-weighted mean (`runSiteTask` of @weft/fl), under secure aggregation through a session of its own over
   * its members. Absent: the clients are the candidates (a flat job).
   */
  readonly sites?: readonly SimulationSite[]
  /** Share of a site's members that train each round (seeded per round). Default 1. */
  readonly siteFraction?: number
  /** Called when a site's round ends, delivered or not. */
  readonly onSiteRound?: (report: SiteRoundReport) => void
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
 * With `init.sites`, the candidates are the sites' aggregators (see `SimulationTransportInit.sites`).
 * @throws RangeError for no clients, a repeated client id, or sites that are empty, repeat an id or a member, or
 *   name a client that does not exist
 */
export function createSimulationTransport(init: SimulationTransportInit, components: SimulationTransportComponents): CoordinatorTransport {
  if (init.clients.length === 0) throw new RangeError('init.clients must name at least one virtual client')
  const clients = new Map(init.clients.map((c) => [c.id, c]))
  if (clients.size !== init.clients.length) throw new RangeError('init.clients has a repeated client id')
  const sites = checkSites(init.sites, clients)
  const ids = Object.freeze(sites === undefined ? [...clients.keys()] : [...sites.keys()])
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
  // Every message goes through the wire codec, so the bytes counted are the bytes a mesh would carry. Sites and
  // clients hold their own sessions: a site aggregator's session with its members runs over this channel too.
  const secagg: NonNullable<CoordinatorTransport['secagg']> = async (id, message) => {
    try {
      const sent = encodeSecAggMessage(message)
      const reply = sessionsOf(id).handle(decodeSecAggMessage(sent) as SecAggMessage)
      if (reply === undefined) return { ok: true, bytes: sent.length }
      const back = encodeSecAggMessage(reply)
      return { ok: true, reply: decodeSecAggMessage(back) as SecAggMessage, bytes: sent.length + back.length }
    } catch (err) {
      return { ok: false, reason: (err as Error).message }
    }
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
  /** One task of one client, from training to the update's delivery through `deliver` (the coordinator or its site). */
  const runMember = async (
    client: VirtualClient,
    job: SimulatedJob,
    task: TrainAssignment,
    deliver: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>,
    signal?: AbortSignal,
  ): Promise<ClientTaskOutcome> => {
    const ownAttack = attack?.attackers.has(client.id) === true ? attack.config : undefined
    const attacking = ownAttack !== undefined
    // Only colluding attacks need the benign updates of the round: otherwise nothing is copied or waited for.
    const round = attack === undefined ? undefined : collusionRound(job, task.round)
    if (round !== undefined && attacking) round.attackersDispatched++
    else if (round !== undefined && colluding) round.benignDispatched++
    let honest: Float32Array | undefined
    try {
      return await runClientTask(
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
          send: deliver,
          ...(signal === undefined ? {} : { signal }),
        },
      )
    } finally {
      // The benign update as it was sent (clipped in place by the pipeline), or none when the task failed.
      if (round !== undefined && colluding && !attacking) round.benignDone(honest)
    }
  }
  /** One task of one client of a flat job: its update goes to the coordinator. */
  const runTask = async (client: VirtualClient, job: SimulatedJob, task: TrainAssignment): Promise<void> => {
    const outcome = await runMember(client, job, task, (update) => send(client.id, job.spec, update))
    // A refused update is the coordinator's own decision; a failed training or preparation it must hear of.
    if (!outcome.ok && outcome.stage !== 'send') components.coordinator()?.taskFailed(task.jobId, client.id, task.round, outcome.reason)
  }
  /** The members of a site as its aggregator drives them: each runs the one client flow on its own data. */
  const siteMembers = (site: SimulationSite, job: SimulatedJob): SiteMember[] =>
    site.members.map((id) => {
      const client = clients.get(id) as VirtualClient
      return { id, examples: client.examples, train: (task, deliver, signal) => runMember(client, job, task, deliver, signal) }
    })
  /** One task of one site: a sub-round over its members, then one update to the coordinator. */
  const runSite = async (site: SimulationSite, job: SimulatedJob, task: TrainAssignment): Promise<void> => {
    const outcome = await runSiteTask(job.spec, task, {
      members: siteMembers(site, job),
      pipeline: pipelineOf(job, site.id),
      send: (update) => send(site.id, job.spec, update),
      ...(init.siteFraction === undefined ? {} : { siteFraction: init.siteFraction }),
      // Secure aggregation: the site's own session over its members, and its masked update in the coordinator's.
      ...(job.spec.privacy.secureAggregation === undefined ? {} : { secure: { secagg, sessions: sessionsOf(site.id) } }),
    })
    init.onSiteRound?.({
      site: site.id,
      jobId: task.jobId,
      round: task.round,
      ...(outcome.site === undefined ? {} : { aggregate: outcome.site }),
      dropped: outcome.site?.dropped ?? outcome.dropped ?? [],
    })
    if (!outcome.ok && outcome.stage !== 'send') components.coordinator()?.taskFailed(task.jobId, site.id, task.round, outcome.reason)
  }
  const examplesOf = (id: string): number | undefined => {
    const site = sites?.get(id)
    if (site === undefined) return sites === undefined ? clients.get(id)?.examples : undefined
    return site.members.reduce((sum, m) => sum + (clients.get(m)?.examples ?? 0), 0)
  }
  const transport: CoordinatorTransport = {
    candidates: () => ids,
    async invite(id, jobId, spec) {
      const examples = examplesOf(id)
      if (examples === undefined) return { ok: false, reason: `no virtual ${sites === undefined ? 'client' : 'site'} ${id}` }
      let job = jobs.get(jobId)
      if (job === undefined) {
        job = { spec, members: new Set(), pipelines: new Map(), collusion: new Map() }
        jobs.set(jobId, job)
      }
      job.members.add(id)
      return { ok: true, examples }
    },
    async train(id, task, _signal, progress) {
      const site = sites?.get(id)
      const client = sites === undefined ? clients.get(id) : undefined
      const job = jobs.get(task.jobId)
      if ((client === undefined && site === undefined) || job === undefined) {
        return { ok: false, reason: `virtual ${sites === undefined ? 'client' : 'site'} ${id} was not invited to job ${task.jobId}` }
      }
      // The model is shared memory here: no bytes hold the link, so the next hand-out may start at once.
      progress?.modelSent()
      const running = site === undefined ? runTask(client as VirtualClient, job, task) : runSite(site, job, task)
      void running.catch((err: unknown) => {
        // A failed task is a dropped client, at once and with the reason, not silently at the round's deadline.
        components.coordinator()?.taskFailed(task.jobId, id, task.round, `its update failed: ${(err as Error)?.message ?? String(err)}`)
      })
      return { ok: true, bytesDown: task.params.byteLength }
    },
    async evaluate(id, task) {
      const job = jobs.get(task.jobId)
      const site = sites?.get(id)
      const members = site === undefined ? (sites === undefined ? [id] : []) : site.members
      const evaluated = members.map((m) => clients.get(m)).filter((c) => c !== undefined)
      if (evaluated.length === 0 || job === undefined) return { ok: false, reason: `virtual ${sites === undefined ? 'client' : 'site'} ${id} was not invited to job ${task.jobId}` }
      // A site evaluates on all its members' data: the example-weighted loss and accuracy over them.
      const results = await Promise.all(evaluated.map((c) => c.pool.evaluate({ spec: job.spec.model, params: task.params, dataset: c.data })))
      if (results.length === 1) return { ok: true, ...(results[0] as (typeof results)[number]) }
      const examples = results.reduce((sum, e) => sum + e.examples, 0)
      const mean = (pick: (e: (typeof results)[number]) => number) => results.reduce((sum, e) => sum + e.examples * pick(e), 0) / Math.max(1, examples)
      return { ok: true, loss: mean((e) => e.loss), accuracy: mean((e) => e.accuracy), examples }
    },
    async release(id, jobId) {
      const job = jobs.get(jobId)
      if (job === undefined) return
      job.members.delete(id)
      job.pipelines.delete(id)
      for (const m of sites?.get(id)?.members ?? []) job.pipelines.delete(m)
      if (job.members.size === 0) jobs.delete(jobId)
    },
    secagg,
  }
  return Object.freeze(transport)
}

/** The sites by id, checked against the clients; undefined for a flat simulation. */
function checkSites(sites: readonly SimulationSite[] | undefined, clients: ReadonlyMap<string, VirtualClient>): ReadonlyMap<string, SimulationSite> | undefined {
  if (sites === undefined) return undefined
  if (sites.length === 0) throw new RangeError('init.sites must name at least one site when given')
  const byId = new Map<string, SimulationSite>()
  const placed = new Set<string>()
  for (const site of sites) {
    if (byId.has(site.id) || clients.has(site.id)) throw new RangeError(`init.sites: site id ${site.id} is repeated or is a client's id`)
    if (site.members.length === 0) throw new RangeError(`init.sites: site ${site.id} has no members`)
    for (const m of site.members) {
      if (!clients.has(m)) throw new RangeError(`init.sites: site ${site.id} names ${m}, which is not a virtual client`)
      if (placed.has(m)) throw new RangeError(`init.sites: client ${m} is in more than one site`)
      placed.add(m)
    }
    byId.set(site.id, site)
  }
  return byId
}
