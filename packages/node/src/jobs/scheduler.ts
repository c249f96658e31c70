// The owner side of orchestration. The node a job is submitted through owns its scheduling: it places the job's
// replicas on nodes chosen from their signed ads (@weft/jobs `place`), reserves their capacity with leases, starts
// the work (an FL coordinator, swarm peers, served models) or runs batch tasks through them with quorum verification,
// checks on every placement each heartbeat (renewing its lease), and places again, with backoff and the failed node
// excluded, whatever is lost. It announces the job, signed, on `weft/jobs/1` with its lease; every node keeps what it
// hears, and when an owner's lease lapses while the owner is gone, the live node that ranks first for the job
// (rendezvous hashing over the nodes that take work) takes it over at the next epoch and adopts its placements.

import { createHash } from 'node:crypto'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  type Assignment,
  capacityFromAd,
  countersign,
  decideQuorum,
  effectiveQuorum,
  expandBatch,
  type JobSpec,
  type Ledger,
  type NodeCapacity,
  parseJobSpec,
  place,
  Reputation,
  resultCid,
  type Signer,
  verifyReceipt,
} from '@weft/jobs'
import { RpcError } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import {
  JOBS_RECEIPT,
  JOBS_RELEASE,
  JOBS_RESERVE,
  JOBS_SIGN,
  JOBS_START,
  JOBS_STATUS,
  JOBS_TASK,
  JOBS_TOPIC,
  MAX_JOB_ID,
  MAX_JOB_SPEC_BYTES,
  ReceiptSchema,
  SignedJobAnnouncementSchema,
  toHex,
  WireErrorCode,
} from '@weft/protocol'
import type { Logger } from 'pino'
import { JOBS_DHT_NAMESPACE } from '../components/core.js'
import type { PeerTable } from '../peer-table.js'
import { signAnnouncement, verifyAnnouncement } from './announcement.js'
import { emptyUsage } from './capacity.js'
import type { JobDb } from './job-db.js'
import { type JobRecord, JobRequestError, type JobState, type PlacementRecord, type PlacementRecordState, type TaskRecord } from './job-record.js'
import type { WorkerApi } from './worker.js'

const MAX_EVENTS = 500
const BACKOFF_MS = 1_000
const MAX_BACKOFF_MS = 30_000
const CALL_TIMEOUT_MS = 10_000
const TASK_TIMEOUT_MS = 5 * 60_000
/** The quorum the reputation's policy counts in (a job's own quorum may differ: see firstReplicas). */
const POLICY_QUORUM = 2

export interface SchedulerComponents {
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly signer: Signer
  readonly privateKeySign: (bytes: Uint8Array) => Promise<Uint8Array>
  readonly ledger: Ledger
  readonly db: JobDb
  readonly logger: Logger
  readonly now: () => number
  /** This node as a placement candidate (its own ad is not in its peer table); undefined when it takes no work. */
  readonly self: () => NodeCapacity | undefined
  /** This node's worker service, called in-process for placements on itself. */
  readonly worker: () => WorkerApi | undefined
  /** Why this node would not take work from `peer` (its jobs.from), or undefined: it takes over only such owners' jobs. */
  readonly refuseOwner: (peer: string) => string | undefined
  readonly leaseMs: number
  readonly heartbeatMs: number
  readonly maxAttempts: number
  readonly onPlacement?: (outcome: 'placed' | 'refused' | 'lost' | 'rescheduled') => void
  readonly onTaskVerified?: (outcome: 'accepted' | 'invalid-result' | 'failed') => void
  readonly onJobEnd?: (state: JobState) => void
}

export interface Scheduler {
  submit(input: unknown): JobRecord
  list(): JobRecord[]
  get(id: string): JobRecord | undefined
  cancel(id: string): Promise<JobRecord>
  /** Jobs this node heard of but does not own (their owners' announcements). */
  known(): Array<{ id: string; owner: string; epoch: number; state: string; leaseExpiresAt: number }>
  /** Who owns a job this node does not: from the announcements heard, else from the lease in the DHT. */
  lookup(id: string): Promise<{ id: string; owner: string; epoch: number; state: string; leaseExpiresAt: number } | undefined>
  reputation(): Reputation
  stop(): Promise<void>
}

/** Starts the scheduler: resumes owned jobs from jobs.db, listens for announcements, runs its loop. */
export async function startScheduler(c: SchedulerComponents): Promise<Scheduler> {
  const self = c.mesh.peerId
  const jobs = new Map<string, JobRecord>()
  const reputation = new Reputation({}, c.db.listReputation())
  const dirty = new Set<string>()
  /**
   * How long a reservation outlives the owner's last heartbeat: three heartbeats, and no less than twice the owner's
   * own lease. A worker busy for seconds (loading a model on a loaded machine) does not drop work its owner still
   * wants, and when the owner dies its placements are still held when another node takes the job over (after the
   * owner's lease and a takeover round) and adopts them.
   */
  const placementLease = Math.max(c.heartbeatMs * 3, c.leaseMs * 2)
  const dhtPuts = new Map<string, Promise<void>>()
  let stopped = false
  let lastAnnounce = 0

  for (const row of c.db.listOwned()) {
    try {
      const record = JSON.parse(row.record) as JobRecord
      for (const t of record.tasks) t.errors ??= []
      jobs.set(record.id, record)
      if (record.state === 'pending' || record.state === 'running') event(record, `owner restarted; resuming at epoch ${record.epoch}`)
    } catch (err) {
      c.logger.warn({ job: row.id, err: (err as Error).message }, 'a stored job could not be read; it is skipped')
    }
  }

  function event(job: JobRecord, message: string): void {
    job.events.push({ at: c.now(), message })
    if (job.events.length > MAX_EVENTS) job.events.splice(0, job.events.length - MAX_EVENTS)
    dirty.add(job.id)
    c.logger.info({ job: job.id }, message)
  }

  function finish(job: JobRecord, state: JobState, reason: string): void {
    if (job.state === 'done' || job.state === 'failed' || job.state === 'cancelled') return
    job.state = state
    job.reason = reason
    job.finishedAt = c.now()
    event(job, `${state}${reason === '' ? '' : `: ${reason}`}`)
    c.onJobEnd?.(state)
    void releaseAll(job)
    void announce(job)
  }

  // -- calls to workers: over RPC, or in-process for this node itself --------------------------------------------

  async function call<K extends keyof WorkerApi>(peer: string, method: K, request: Record<string, unknown>, timeoutMs = CALL_TIMEOUT_MS): Promise<Awaited<ReturnType<WorkerApi[K]>>> {
    const m = { reserve: JOBS_RESERVE, release: JOBS_RELEASE, start: JOBS_START, status: JOBS_STATUS, task: JOBS_TASK, receipt: JOBS_RECEIPT, sign: JOBS_SIGN }[method]
    if (peer === self) {
      const worker = c.worker()
      if (worker === undefined) throw new RpcError(WireErrorCode.UNAVAILABLE, 'this node takes no placements')
      const full = create(m.input as never, request as never)
      return (await (worker[method] as (r: unknown, caller: string, signal: AbortSignal) => unknown)(full, self, AbortSignal.timeout(timeoutMs))) as Awaited<ReturnType<WorkerApi[K]>>
    }
    return (await c.mesh.rpc.call(peer, m as never, request as never, { timeoutMs })) as Awaited<ReturnType<WorkerApi[K]>>
  }

  async function releaseAll(job: JobRecord): Promise<void> {
    await Promise.all(
      job.placements
        .filter((p) => p.peerId !== null && (p.state === 'reserved' || p.state === 'running'))
        .map(async (p) => {
          try {
            await call(p.peerId as string, 'release', { jobId: job.id, placement: p.name })
          } catch {
            // Its lease lapses by itself.
          }
          if (p.state === 'reserved' || p.state === 'running') p.state = job.state === 'done' ? 'done' : 'failed'
        }),
    )
    dirty.add(job.id)
  }

  // -- announcements and takeover ---------------------------------------------------------------------------------

  const topic = c.mesh.pubsub.topic(JOBS_TOPIC, SignedJobAnnouncementSchema, {
    validate: async (message) => {
      const verdict = await verifyAnnouncement(toBinary(SignedJobAnnouncementSchema, message))
      // Relayed announcements are fine: what counts is the owner's signature inside.
      if (!verdict.ok) return { ok: false, reason: verdict.reason, penalize: true }
      return { ok: true }
    },
  })

  async function announce(job: JobRecord): Promise<void> {
    if (job.owner !== self) return
    const signed = await signAnnouncement(
      {
        jobId: job.id,
        owner: self,
        epoch: BigInt(job.epoch),
        state: job.state,
        leaseExpiresAtMs: BigInt(c.now() + c.leaseMs),
        issuedAtMs: BigInt(c.now()),
        spec: new TextEncoder().encode(JSON.stringify(job.input)),
      },
      c.privateKeySign,
    )
    try {
      await topic.publish(fromBinary(SignedJobAnnouncementSchema, signed))
    } catch (err) {
      c.logger.debug({ job: job.id, err: (err as Error).message }, 'announcing the job failed')
    }
    // The lease in the DHT too, so a node that missed the gossip finds the job's owner (one put per job at a time).
    if (!dhtPuts.has(job.id)) {
      const put = c.mesh.dht
        .put(JOBS_DHT_NAMESPACE, job.id, signed, { signal: AbortSignal.timeout(Math.max(c.leaseMs, 10_000)) })
        .catch((err: unknown) => c.logger.debug({ job: job.id, err: (err as Error).message }, 'storing the job lease in the DHT failed'))
        .finally(() => dhtPuts.delete(job.id))
      dhtPuts.set(job.id, put)
    }
  }

  const unsubscribe = topic.subscribe((message) => {
    void (async () => {
      const verdict = await verifyAnnouncement(toBinary(SignedJobAnnouncementSchema, message))
      if (!verdict.ok) return
      const a = verdict.announcement
      const mine = jobs.get(a.jobId)
      if (mine !== undefined && a.owner !== self) {
        // Another node owns it at a later epoch (it took over while this one was away), or took it over at the same
        // epoch and ranks first: this node stops scheduling it.
        if (Number(a.epoch) > mine.epoch || (Number(a.epoch) === mine.epoch && a.owner < self)) {
          event(mine, `${a.owner} owns the job now (epoch ${a.epoch}); this node stops scheduling it`)
          jobs.delete(a.jobId)
          c.db.deleteOwned(a.jobId)
        } else return
      }
      c.db.putKnown({
        id: a.jobId,
        announcement: toBinary(SignedJobAnnouncementSchema, message),
        owner: a.owner,
        epoch: Number(a.epoch),
        state: a.state,
        leaseExpiresAt: Number(a.leaseExpiresAtMs),
        receivedAt: c.now(),
      })
    })()
  })

  /** Takes over the jobs whose owner's lease lapsed while the owner is gone, when this node ranks first for them. */
  async function takeOver(): Promise<void> {
    const now = c.now()
    for (const k of c.db.listKnown()) {
      if (jobs.has(k.id) || (k.state !== 'pending' && k.state !== 'running')) continue
      if (k.leaseExpiresAt > now) continue
      const owner = c.peers.get(k.owner)
      if (owner !== undefined && owner.status === 'alive') continue
      // Only the work of an owner this node would take work from: a stranger cannot announce a job, leave, and have
      // a trusted node run it under the trusted node's name.
      if (c.refuseOwner(k.owner) !== undefined) continue
      if (!ranksFirst(k.id)) continue
      const verdict = await verifyAnnouncement(k.announcement)
      if (!verdict.ok || verdict.announcement.spec.length === 0) continue
      let input: unknown
      let spec: JobSpec
      try {
        input = JSON.parse(new TextDecoder().decode(verdict.announcement.spec))
        spec = parseJobSpec(input)
      } catch (err) {
        c.logger.warn({ job: k.id, err: (err as Error).message }, 'a job whose owner is gone cannot be taken over: its announced spec is refused')
        continue
      }
      const job = newRecord(k.id, input, spec, k.epoch + 1)
      event(job, `took the job over from ${k.owner}, whose lease lapsed ${now - k.leaseExpiresAt} ms ago while it was gone (epoch ${job.epoch})`)
      jobs.set(job.id, job)
      c.db.deleteKnown(job.id)
      await adopt(job)
      await announce(job)
    }
  }

  /** Whether this node is the first live node that takes work in the job's rendezvous order. */
  function ranksFirst(jobId: string): boolean {
    const candidates = c.peers
      .list()
      .filter((p) => p.status === 'alive' && p.ad.work !== undefined)
      .map((p) => p.peerId)
    if (c.self() !== undefined) candidates.push(self)
    let best: string | undefined
    let bestScore = ''
    for (const peer of candidates) {
      const score = createHash('sha256').update(`${jobId}\u0000${peer}`).digest('hex')
      if (best === undefined || score < bestScore) {
        best = peer
        bestScore = score
      }
    }
    return best === self
  }

  /** A new owner asks every live node which placements of the job it holds, and adopts them (a higher epoch). */
  async function adopt(job: JobRecord): Promise<void> {
    const nodes = c.peers
      .list()
      .filter((p) => p.status === 'alive')
      .map((p) => p.peerId)
    nodes.push(self)
    await Promise.all(
      nodes.map(async (peer) => {
        try {
          const answer = await call(peer, 'status', { jobId: job.id, epoch: BigInt(job.epoch), leaseMs: c.leaseMs })
          for (const held of answer.placements ?? []) {
            const p = job.placements.find((x) => x.name === held.placement)
            if (p === undefined || p.peerId !== null) continue
            if (held.state !== 'reserved' && held.state !== 'running') continue
            p.peerId = peer
            p.answeredAt = c.now()
            p.state = held.state as PlacementRecordState
            p.detail = held.detail ?? ''
            const ad = peer === self ? c.self() : capacityOf(peer)
            if (ad !== undefined) p.pricing = { ...ad.pricing }
            event(job, `adopted ${p.name} on ${peer} (${p.state})`)
          }
        } catch {
          // Nodes without the service or without placements of the job.
        }
      }),
    )
    job.state = 'running'
  }

  // -- submission -----------------------------------------------------------------------------------------------

  function newRecord(id: string, input: unknown, spec: JobSpec, epoch: number): JobRecord {
    const names = spec.kind === 'fl' ? ['coordinator'] : Array.from({ length: spec.replicas }, (_, i) => `${spec.kind === 'batch' ? 'slot' : 'replica'}-${i}`)
    const tasks: TaskRecord[] =
      spec.kind === 'batch' && spec.batch !== undefined
        ? expandBatch(spec.batch).map((t) => ({ id: t.id, index: t.index, spec: t.spec, seed: t.seed, state: 'pending', quorum: 0, needed: 0, results: [], asked: [], inflight: [], errors: [] }))
        : []
    return {
      id,
      input,
      spec,
      owner: self,
      epoch,
      state: 'pending',
      reason: '',
      submittedAt: c.now(),
      finishedAt: null,
      placements: names.map((name) => ({ name, peerId: null, state: 'pending', attempts: 0, nextAttemptAt: 0, detail: '', missed: 0, answeredAt: 0, usage: emptyUsage(), pricing: { coreHour: 0, gibHour: 0, acceleratorHour: 0 }, excluded: [] })),
      tasks,
      events: [],
      reschedules: 0,
      receiptCredit: 0,
      receipts: 0,
    }
  }

  // -- placement and supervision --------------------------------------------------------------------------------

  function capacityOf(peer: string): NodeCapacity | undefined {
    const entry = c.peers.get(peer)
    return entry === undefined || entry.status !== 'alive' ? undefined : capacityFromAd(entry.ad)
  }

  function candidates(): NodeCapacity[] {
    const out: NodeCapacity[] = []
    for (const p of c.peers.list()) {
      if (p.status !== 'alive') continue
      const cap = capacityFromAd(p.ad)
      if (cap !== undefined) out.push(cap)
    }
    const mine = c.self()
    if (mine !== undefined) out.push(mine)
    return out
  }

  async function placePending(job: JobRecord): Promise<void> {
    const now = c.now()
    const due = job.placements.filter((p) => p.state === 'pending' && p.nextAttemptAt <= now)
    if (due.length === 0) return
    const existing = job.placements.filter((p) => p.peerId !== null && (p.state === 'reserved' || p.state === 'running')).map((p) => ({ placement: p.name, peerId: p.peerId as string }))
    const request = (names: readonly string[], exclude: readonly string[]) =>
      place(
        {
          jobId: job.id,
          resources: job.spec.resources,
          constraints: { ...job.spec.constraints, exclude: [...(job.spec.constraints.exclude ?? []), ...exclude] },
          strategy: job.spec.strategy,
          placements: names,
          existing,
          ...(job.spec.deadlineSeconds === undefined ? {} : { deadlineSeconds: job.spec.deadlineSeconds }),
          ...(job.spec.estimatedCoreSeconds === undefined ? {} : { estimatedCoreSeconds: job.spec.estimatedCoreSeconds }),
          ...(job.spec.budget === undefined ? {} : { budget: job.spec.budget }),
        },
        candidates(),
      )
    if (job.spec.kind !== 'batch') {
      const result = request(
        due.map((p) => p.name),
        [...new Set(due.flatMap((p) => p.excluded))],
      )
      if (!result.ok) {
        for (const p of due) backoff(job, p, `unschedulable: ${result.reason}`)
        return
      }
      await Promise.all(result.assignments.map((a) => reserveAndStart(job, a)))
      return
    }
    // A batch job's slots are its quorum's workers: two on one node would be one worker, so each slot goes to a node
    // that holds none of the job's other slots.
    const taken = new Set(existing.map((e) => e.peerId))
    const assignments: Assignment[] = []
    for (const p of due) {
      const result = request([p.name], [...p.excluded, ...taken])
      if (!result.ok) {
        backoff(job, p, `unschedulable: ${result.reason}`)
        continue
      }
      for (const a of result.assignments) {
        taken.add(a.peerId)
        assignments.push(a)
        // The next slot's placement counts this one (spread across sites).
        existing.push({ placement: a.placement, peerId: a.peerId })
      }
    }
    await Promise.all(assignments.map((a) => reserveAndStart(job, a)))
  }

  function backoff(job: JobRecord, p: PlacementRecord, why: string): void {
    p.attempts++
    p.detail = why
    if (p.attempts >= c.maxAttempts) {
      finish(job, 'failed', `${p.name} could not be placed after ${p.attempts} attempts: ${why}`)
      return
    }
    const delay = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (p.attempts - 1))
    p.nextAttemptAt = c.now() + delay
    c.onPlacement?.('refused')
    event(job, `${p.name}: ${why}; next attempt in ${(delay / 1000).toFixed(0)} s (${p.attempts}/${c.maxAttempts})`)
  }

  async function reserveAndStart(job: JobRecord, a: Assignment): Promise<void> {
    const p = job.placements.find((x) => x.name === a.placement)
    if (p === undefined) return
    const r = job.spec.resources
    try {
      const granted = await call(a.peerId, 'reserve', {
        jobId: job.id,
        placement: p.name,
        cores: r.cores,
        memoryBytes: BigInt(r.memoryBytes),
        accelerators: r.accelerators,
        leaseMs: placementLease,
        epoch: BigInt(job.epoch),
      })
      if (granted.granted !== true) {
        p.excluded.push(a.peerId)
        backoff(job, p, `${a.peerId} refused the reservation: ${granted.reason ?? ''}`)
        return
      }
    } catch (err) {
      p.excluded.push(a.peerId)
      backoff(job, p, `reserving on ${a.peerId} failed: ${(err as Error).message}`)
      return
    }
    p.peerId = a.peerId
    p.state = 'reserved'
    p.missed = 0
    p.answeredAt = c.now()
    const cap = a.peerId === self ? c.self() : capacityOf(a.peerId)
    if (cap !== undefined) p.pricing = { ...cap.pricing }
    c.onPlacement?.('placed')
    event(job, `${p.name} placed on ${a.peerId} (${a.costPerHour.toFixed(3)} credits/h)`)
    if (job.state === 'pending') job.state = 'running'
    if (job.spec.kind === 'batch') return
    const body = job.spec.kind === 'fl' ? job.spec.fl : job.spec.kind === 'swarm' ? job.spec.swarm : job.spec.serve
    try {
      const started = await call(a.peerId, 'start', { jobId: job.id, placement: p.name, kind: job.spec.kind, spec: new TextEncoder().encode(JSON.stringify(body ?? {})), epoch: BigInt(job.epoch) }, 60_000)
      if (started.started !== true) {
        lose(job, p, `${a.peerId} could not start it: ${started.reason ?? ''}`, true)
        return
      }
      p.state = 'running'
      event(job, `${p.name} started on ${a.peerId}`)
    } catch (err) {
      lose(job, p, `starting on ${a.peerId} failed: ${(err as Error).message}`, true)
    }
  }

  /** A placement's node is gone, failed it or stopped answering: it is placed again elsewhere. */
  function lose(job: JobRecord, p: PlacementRecord, why: string, failed = false): void {
    const peer = p.peerId
    if (peer !== null) {
      p.excluded.push(peer)
      void call(peer, 'release', { jobId: job.id, placement: p.name }).catch(() => undefined)
    }
    p.peerId = null
    p.state = 'pending'
    p.missed = 0
    job.reschedules++
    c.onPlacement?.(failed ? 'rescheduled' : 'lost')
    for (const t of job.tasks) if (peer !== null && t.inflight.includes(peer)) t.inflight = t.inflight.filter((w) => w !== peer)
    backoff(job, p, why)
  }

  async function heartbeat(job: JobRecord): Promise<void> {
    const byPeer = new Map<string, PlacementRecord[]>()
    for (const p of job.placements) {
      if (p.peerId === null || (p.state !== 'reserved' && p.state !== 'running')) continue
      byPeer.set(p.peerId, [...(byPeer.get(p.peerId) ?? []), p])
    }
    await Promise.all(
      [...byPeer].map(async ([peer, placements]) => {
        const entry = peer === self ? undefined : c.peers.get(peer)
        if (peer !== self && (entry === undefined || entry.status !== 'alive')) {
          for (const p of placements) {
            event(job, `${p.name}: node ${peer} is gone (${entry?.goneReason ?? 'unknown'})`)
            lose(job, p, `node ${peer} gone`)
          }
          return
        }
        let answer: Awaited<ReturnType<WorkerApi['status']>>
        try {
          answer = await call(peer, 'status', { jobId: job.id, epoch: BigInt(job.epoch), leaseMs: placementLease }, Math.max(1_000, c.heartbeatMs * 2))
        } catch (err) {
          // A node that stops answering loses its placements once it missed three heartbeats and its lease ran out:
          // a busy node (loading a model) answers late but keeps its work.
          const now = c.now()
          for (const p of placements) {
            p.missed++
            if (p.missed >= 3 && now - p.answeredAt > placementLease) lose(job, p, `node ${peer} missed ${p.missed} heartbeats (${(err as Error).message})`)
          }
          return
        }
        for (const p of placements) {
          const held = (answer.placements ?? []).find((x) => x.placement === p.name)
          if (held === undefined) {
            lose(job, p, `node ${peer} no longer holds it`)
            continue
          }
          p.missed = 0
          p.answeredAt = c.now()
          p.detail = held.detail ?? ''
          p.usage = { coreSeconds: held.coreSeconds ?? 0, memoryByteSeconds: held.memoryByteSeconds ?? 0, acceleratorSeconds: held.acceleratorSeconds ?? 0, bytes: Number(held.bytes ?? 0n) }
          if (held.state === 'failed') lose(job, p, `it failed on ${peer}: ${p.detail}`, true)
          else if (held.state === 'done' && p.state !== 'done') {
            p.state = 'done'
            event(job, `${p.name} finished on ${peer}`)
          } else if (held.state === 'running' && job.spec.kind !== 'batch') p.state = 'running'
        }
        dirty.add(job.id)
      }),
    )
    if (job.spec.kind !== 'batch' && job.spec.kind !== 'serve' && job.placements.every((p) => p.state === 'done')) finish(job, 'done', '')
  }

  // -- batch tasks: dispatch and quorum -------------------------------------------------------------------------

  function dispatchTasks(job: JobRecord): void {
    const batch = job.spec.batch
    if (batch === undefined) return
    const slots = job.placements.filter((p) => p.state === 'reserved' && p.peerId !== null)
    const busy = new Set(job.tasks.flatMap((t) => t.inflight))
    for (const slot of slots) {
      const worker = slot.peerId as string
      if (busy.has(worker)) continue
      const task = job.tasks.find((t) => t.state === 'pending' && t.results.length + t.inflight.length < Math.max(1, t.needed) && !t.asked.includes(worker))
      if (task === undefined) continue
      if (task.quorum === 0) {
        const first = batch.adaptive ? firstReplicas(worker, batch.quorum) : { quorum: batch.quorum, results: batch.quorum }
        task.quorum = first.quorum
        task.needed = first.results
      }
      busy.add(worker)
      task.asked.push(worker)
      task.inflight.push(worker)
      void runTask(job, slot, task, worker)
    }
    // A task whose results disagree needs one more worker than the slots that answered it: without one, it fails.
    const placing = job.placements.some((p) => p.state === 'pending')
    for (const t of job.tasks) {
      if (t.state !== 'pending' || t.inflight.length > 0 || t.results.length === 0 || t.results.length >= t.needed || placing) continue
      if (slots.every((s) => t.asked.includes(s.peerId as string))) {
        t.state = 'failed'
        const agree = new Set(t.results.map((r) => r.resultCid)).size === 1
        t.reason = agree
          ? `${t.results.length} result(s) of the ${t.needed} needed: every other worker asked failed it (${t.errors.at(-1) ?? 'no answer'})`
          : `results disagree and no other worker is left to break the tie (${t.results.length} results from ${slots.length} slots)`
        c.onTaskVerified?.('failed')
      }
    }
    if (job.tasks.every((t) => t.state !== 'pending')) {
      const failed = job.tasks.filter((t) => t.state === 'failed')
      finish(job, failed.length === 0 ? 'done' : 'failed', failed.length === 0 ? '' : `${failed.length} of ${job.tasks.length} tasks failed (first: ${failed[0]?.id}: ${failed[0]?.reason})`)
    }
  }

  async function runTask(job: JobRecord, slot: PlacementRecord, task: TaskRecord, worker: string): Promise<void> {
    const batch = job.spec.batch as NonNullable<JobSpec['batch']>
    try {
      const answer = await call(worker, 'task', { jobId: job.id, taskId: task.id, placement: slot.name, spec: new TextEncoder().encode(JSON.stringify(task.spec)), seed: BigInt(task.seed) }, TASK_TIMEOUT_MS)
      task.inflight = task.inflight.filter((w) => w !== worker)
      if (task.state !== 'pending' || job.state !== 'running') return
      const bytes = answer.result ?? new Uint8Array(0)
      const claimed = answer.receipt ?? new Uint8Array(0)
      const receipt = fromBinary(ReceiptSchema, claimed)
      // The worker's claim must be about this task, by it, for this owner, of these result bytes.
      if (receipt.worker !== worker || receipt.owner !== self || receipt.jobId !== job.id || receipt.taskId !== task.id || receipt.resultCid !== resultCid(bytes)) {
        throw new Error('its receipt does not describe the result it sent')
      }
      task.results.push({ worker, result: JSON.parse(new TextDecoder().decode(bytes)), resultCid: receipt.resultCid, receipt: b64(claimed), signature: b64(answer.workerSignature ?? new Uint8Array(0)) })
      await decide(job, task, batch)
    } catch (err) {
      task.inflight = task.inflight.filter((w) => w !== worker)
      if (err instanceof RpcError && err.code === WireErrorCode.BAD_REQUEST) {
        task.state = 'failed'
        task.reason = err.message
        c.onTaskVerified?.('failed')
      } else {
        event(job, `task ${task.id} on ${worker} failed: ${(err as Error).message}`)
        task.errors.push(`${worker}: ${(err as Error).message}`.slice(0, 300))
        if (task.errors.length > 8) task.errors.shift()
        if (task.asked.length >= batch.maxAttempts) {
          task.state = 'failed'
          task.reason = `no quorum within ${batch.maxAttempts} attempts`
          c.onTaskVerified?.('failed')
        }
      }
    }
    dirty.add(job.id)
  }

  async function decide(job: JobRecord, task: TaskRecord, batch: NonNullable<JobSpec['batch']>): Promise<void> {
    // A quorum lowered for a trusted worker holds only for trusted workers' results (the task may have been sent on
    // after that worker failed it); once raised it stays raised.
    task.quorum = effectiveQuorum(task.results, task.quorum, batch.quorum, (w) => reputation.trusted(w))
    const decision = decideQuorum(task.results, task.quorum, batch.tolerance, batch.maxAttempts)
    if (decision.state === 'pending') {
      task.needed = task.results.length + decision.need
      return
    }
    if (decision.state === 'failed') {
      task.state = 'failed'
      task.reason = decision.reason
      for (const w of decision.invalid) {
        reputation.record(w, false, c.now())
        c.db.saveReputation(reputation.get(w))
      }
      c.onTaskVerified?.('failed')
      return
    }
    task.state = 'accepted'
    task.result = decision.result
    task.resultCid = decision.resultCid
    c.onTaskVerified?.('accepted')
    // Only results checked against others say anything of their workers: a trusted worker's lone result does not.
    if (task.results.length >= 2) {
      for (const w of decision.valid) reputation.record(w, true, c.now())
      for (const w of decision.invalid) {
        reputation.record(w, false, c.now())
        c.onTaskVerified?.('invalid-result')
        event(job, `task ${task.id}: ${w} returned a result the quorum refused; its reputation falls`)
      }
      for (const w of new Set([...decision.valid, ...decision.invalid])) c.db.saveReputation(reputation.get(w))
    }
    // Receipts: countersigned for the workers whose results were accepted, kept here and delivered to them.
    for (const result of task.results.filter((r) => decision.valid.includes(r.worker))) {
      try {
        const receipt = fromBinary(ReceiptSchema, unb64(result.receipt))
        const signed = await countersign(receipt, unb64(result.signature), c.signer)
        const verdict = await verifyReceipt(signed)
        if (!verdict.ok) throw new Error(verdict.reason)
        await c.ledger.append(signed)
        job.receipts++
        job.receiptCredit += receipt.credit
        void call(result.worker, 'receipt', { signedReceipt: signed }).catch(() => undefined)
      } catch (err) {
        event(job, `task ${task.id}: no receipt for ${result.worker}: ${(err as Error).message}`)
      }
    }
  }

  /**
   * Results a task first sent to `worker` needs (BOINC's adaptive replication): one from a trusted worker (now and
   * then the full quorum, a spot check), the job's quorum from any other, one more after a recent bad result.
   */
  function firstReplicas(worker: string, quorum: number): { quorum: number; results: number } {
    if (quorum <= 1) return { quorum: 1, results: 1 }
    const base = reputation.replicasFor(worker, Math.random)
    return base === 1 ? { quorum: 1, results: 1 } : { quorum, results: quorum + Math.max(0, base - POLICY_QUORUM) }
  }

  // -- the loop ----------------------------------------------------------------------------------------------------

  let timer: ReturnType<typeof setTimeout> | undefined
  let lastBeat = 0
  const loop = async (): Promise<void> => {
    if (stopped) return
    try {
      const now = c.now()
      const beat = now - lastBeat >= c.heartbeatMs
      if (beat) lastBeat = now
      // Higher priority first: its placements take the free capacity before a lower one's next attempt.
      const active = [...jobs.values()].filter((j) => j.state === 'pending' || j.state === 'running').sort((x, y) => y.spec.priority - x.spec.priority || x.submittedAt - y.submittedAt)
      for (const job of active) {
        if (job.state !== 'pending' && job.state !== 'running') continue
        await placePending(job)
        if (beat) await heartbeat(job)
        if (job.spec.kind === 'batch' && job.state === 'running') dispatchTasks(job)
      }
      if (now - lastAnnounce >= c.leaseMs / 3) {
        lastAnnounce = now
        for (const job of jobs.values()) if (job.state === 'pending' || job.state === 'running') await announce(job)
        await takeOver()
      }
      for (const id of dirty) {
        const job = jobs.get(id)
        if (job !== undefined) c.db.saveOwned(id, JSON.stringify(job), c.now())
      }
      dirty.clear()
    } catch (err) {
      c.logger.warn({ err: (err as Error).message }, 'the scheduler loop failed; it goes on')
    }
    if (!stopped) timer = setTimeout(() => void loop(), Math.min(250, c.heartbeatMs))
  }
  timer = setTimeout(() => void loop(), 0)

  return {
    submit(input) {
      let spec: JobSpec
      try {
        spec = parseJobSpec(input)
      } catch (err) {
        throw new JobRequestError(400, (err as Error).message)
      }
      if (new TextEncoder().encode(JSON.stringify(input)).length > MAX_JOB_SPEC_BYTES) throw new JobRequestError(400, `a job spec is at most ${MAX_JOB_SPEC_BYTES} bytes`)
      const id = `job-${c.now().toString(36)}-${toHex(crypto.getRandomValues(new Uint8Array(4)))}`
      const job = newRecord(id, input, spec, 1)
      event(job, `submitted: ${spec.kind} "${spec.name}", ${job.placements.length} placement(s)${job.tasks.length > 0 ? `, ${job.tasks.length} tasks` : ''}`)
      jobs.set(id, job)
      c.db.saveOwned(id, JSON.stringify(job), c.now())
      void announce(job)
      return job
    },
    list: () => [...jobs.values()].sort((a, b) => b.submittedAt - a.submittedAt),
    get: (id) => jobs.get(id),
    async cancel(id) {
      const job = jobs.get(id)
      if (job === undefined) throw new JobRequestError(404, `this node owns no job ${id}`)
      if (job.state === 'pending' || job.state === 'running') finish(job, 'cancelled', 'cancelled by its owner')
      await releaseAll(job)
      c.db.saveOwned(id, JSON.stringify(job), c.now())
      return job
    },
    known: () => c.db.listKnown().map((k) => ({ id: k.id, owner: k.owner, epoch: k.epoch, state: k.state, leaseExpiresAt: k.leaseExpiresAt })),
    async lookup(id) {
      const k = c.db.getKnown(id)
      if (k !== undefined) return { id, owner: k.owner, epoch: k.epoch, state: k.state, leaseExpiresAt: k.leaseExpiresAt }
      if (id.length === 0 || id.length > MAX_JOB_ID) return undefined
      const bytes = await c.mesh.dht.get(JOBS_DHT_NAMESPACE, id, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
      if (bytes === undefined) return undefined
      const verdict = await verifyAnnouncement(bytes)
      if (!verdict.ok || verdict.announcement.jobId !== id) return undefined
      const a = verdict.announcement
      return { id, owner: a.owner, epoch: Number(a.epoch), state: a.state, leaseExpiresAt: Number(a.leaseExpiresAtMs) }
    },
    reputation: () => reputation,
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      unsubscribe()
      for (const job of jobs.values()) c.db.saveOwned(job.id, JSON.stringify(job), c.now())
    },
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}

function unb64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'))
}
