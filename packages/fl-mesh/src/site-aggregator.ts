// A site aggregator over the mesh (hierarchical FL, issue 20): to a job's coordinator this node is one client whose
// examples are its site's; to its site's member nodes it is the job's coordinator. It invites them with the job's spec,
// hands each round's model and task to them over the ordinary client protocol (fl-model, fl/train), takes their
// updates on fl-update (the node's update receiver routes them here), folds them with the FL core's `runSiteTask` and
// forwards one update. Under secure aggregation it runs the job's SecAgg+ session over its members (it sees only their
// sum) and masks the site's update in the coordinator's session. Members run the unchanged participant: nothing on
// their side knows of sites.
import {
  type ClientEvaluation,
  type ClientSendOutcome,
  type ClientTaskOutcome,
  type ClientUpdatePipeline,
  type EvaluateAssignment,
  hierarchyProblem,
  type JobSpec,
  type PreparedClientUpdate,
  runSiteTask,
  type SecureClientSessions,
  secureCohortMinimum,
  type SiteMember,
  type SiteTaskOutcome,
  type TrainAssignment,
  type UpdateHeader,
} from '@weft/fl'
import type { HashOptions, TensorSet } from '@weft/protocol'
import { meshCoordinatorTransport } from './coordinator-transport.js'
import { type FlEndpoint, type FlLogger, silentLogger } from './endpoint.js'
import type { ModelHandout } from './model-handout.js'

export interface SiteAggregatorComponents {
  readonly mesh: FlEndpoint
  /** The site's member nodes eligible for `spec` and reachable now (the node reads its peer table), without this node. */
  readonly members: (spec: JobSpec) => readonly string[]
  /** The node's block store, for jobs that hand models out by CID (absent: models go to members directly). */
  readonly handout?: ModelHandout
  /** The model's hash (the node passes OpenSSL's sha256; default noble's). */
  readonly hash?: HashOptions
  readonly logger?: FlLogger
}

export interface SiteAggregatorInit {
  /** The site's name (its members' `site` label). */
  readonly site: string
  /** Most members one job drives (the first ones the peer table lists). Default 1 024. */
  readonly maxMembers?: number
  /** Longest a member's task may take, hand-out to update (ms). Default: the job's `timeouts.roundSeconds`. */
  readonly memberTimeoutMs?: number
}

/** What a site's member sends in: judged by the node's update receiver, then handed here. */
export interface SiteUpdateSink {
  /** The spec of a job this node aggregates for its site, or undefined. */
  jobSpec(jobId: string): JobSpec | undefined
  /** Judges a member's update from its header alone (before any data moves). */
  admit(from: string, header: UpdateHeader): ClientSendOutcome
  /** Takes a member's update once its data arrived (decoded and folded by the site's round). */
  deliver(from: string, header: UpdateHeader, set: TensorSet): Promise<ClientSendOutcome>
  /** A member reported its task of `round` failed; false when `jobId` is not aggregated here. */
  taskFailed(jobId: string, from: string, round: number, reason: string): boolean
  /** A member went away: its open task fails at once. */
  memberGone(peer: string, reason: string): void
}

/** What the participant asks of a site (the client role when this node aggregates a site). */
export interface ParticipantSite {
  /** Invites the site's members to a job; resolves with the site's examples (its weight) or the refusal. */
  join(jobId: string, spec: JobSpec, coordinator: string, signal?: AbortSignal): Promise<{ ok: true; examples: number } | { ok: false; reason: string }>
  /**
   * Runs one round's task on the site's members and sends one update for the site through `send`. Under secure
   * aggregation the site runs its own session over its members and masks its update in the coordinator's session
   * with `secure`, the participant's own client sessions.
   */
  train(
    jobId: string,
    task: TrainAssignment,
    c: {
      readonly pipeline: ClientUpdatePipeline
      readonly send: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>
      readonly secure?: SecureClientSessions
      readonly signal?: AbortSignal
    },
  ): Promise<SiteTaskOutcome>
  /** Federated evaluation on the site's members, example-weighted. @throws Error when no member could evaluate */
  evaluate(jobId: string, task: EvaluateAssignment, signal?: AbortSignal): Promise<ClientEvaluation>
  /** Releases the site's members from a job (it ended, or the coordinator cancelled it). */
  leave(jobId: string, reason: string): Promise<void>
}

export interface SiteAggregator extends SiteUpdateSink, ParticipantSite {
  readonly site: string
  /** Jobs aggregated here with their members (peer id → examples declared when it joined). */
  jobs(): { readonly id: string; readonly coordinator: string; readonly members: ReadonlyMap<string, number> }[]
  /** Leaves every job (its members are released). */
  stop(): Promise<void>
}

/** Waits before the second and third try of a hand-out that failed to reach its member (ms). */
const HANDOUT_RETRIES = [250, 1_000] as const
/** Hand-out failures worth another try: the member could not be reached, not a refusal. */
const TRANSIENT = /cannot open|transfer failed|UNAVAILABLE|TIMEOUT|reset|closed/i

/** One member's open task of a round. */
interface MemberTask {
  readonly round: number
  readonly send: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>
  readonly settle: (outcome: ClientTaskOutcome) => void
}

interface SiteJob {
  readonly id: string
  readonly spec: JobSpec
  readonly coordinator: string
  readonly members: Map<string, number>
  readonly open: Map<string, MemberTask>
  readonly abort: AbortController
}

/**
 * Makes the site aggregator: the participant's `site` (the coordinator-facing side) and the update receiver's sink
 * (the members' side). Its transport to the members is the coordinator's own (`meshCoordinatorTransport`).
 */
export function createSiteAggregator(c: SiteAggregatorComponents, init: SiteAggregatorInit): SiteAggregator {
  if (typeof init.site !== 'string' || init.site.length === 0) throw new TypeError('site must be a non-empty string')
  const maxMembers = init.maxMembers ?? 1024
  if (!Number.isSafeInteger(maxMembers) || maxMembers < 1) throw new RangeError(`maxMembers must be a positive integer, got ${maxMembers}`)
  const log = c.logger ?? silentLogger
  const jobs = new Map<string, SiteJob>()
  const transport = meshCoordinatorTransport({
    mesh: c.mesh,
    candidates: (spec) => c.members(spec),
    jobSpec: (jobId) => jobs.get(jobId)?.spec,
    ...(c.handout === undefined ? {} : { handout: c.handout }),
    ...(c.hash === undefined ? {} : { hash: c.hash }),
  })

  /** Hands `task` to one member and waits for its update (delivered here), its failure, or the deadline. */
  const trainMember = (job: SiteJob, id: string, task: TrainAssignment, send: MemberTask['send'], signal?: AbortSignal): Promise<ClientTaskOutcome> =>
    new Promise<ClientTaskOutcome>((resolve) => {
      const timeoutMs = init.memberTimeoutMs ?? job.spec.timeouts.roundSeconds * 1000
      const both = AbortSignal.any([job.abort.signal, ...(signal === undefined ? [] : [signal])])
      let done = false
      const settle = (outcome: ClientTaskOutcome): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        both.removeEventListener('abort', onAbort)
        if (job.open.get(id) === entry) job.open.delete(id)
        resolve(outcome)
      }
      const onAbort = (): void => settle({ ok: false, stage: 'train', reason: 'the site left the job' })
      const timer = setTimeout(() => settle({ ok: false, stage: 'train', reason: `no update within ${timeoutMs} ms` }), timeoutMs)
      const entry: MemberTask = { round: task.round, send, settle }
      job.open.set(id, entry)
      if (both.aborted) return onAbort()
      both.addEventListener('abort', onAbort, { once: true })
      const t0 = performance.now()
      // A stream that could not be opened (a connection closing as a simultaneous dial is deduplicated, a link that
      // blinked) is tried again twice before the member is dropped from the round.
      const handOut = async (): Promise<{ ok: true } | { ok: false; reason: string }> => {
        for (let attempt = 0; ; attempt++) {
          const r = await transport.train(id, task, both)
          if (r.ok || attempt >= HANDOUT_RETRIES.length || both.aborted || r.reason.startsWith('task refused') || !TRANSIENT.test(r.reason)) return r
          log.debug({ job: job.id, round: task.round, member: id, reason: r.reason }, 'handing the task to a site member failed; trying again')
          await new Promise((resolve) => setTimeout(resolve, HANDOUT_RETRIES[attempt]))
        }
      }
      handOut().then(
        (r) => {
          log.debug({ job: job.id, round: task.round, member: id, ok: r.ok, ms: Math.round(performance.now() - t0) }, 'handed the task to a site member')
          if (!r.ok) settle({ ok: false, stage: 'train', reason: `its task was not handed out: ${r.reason}` })
        },
        (err: Error) => settle({ ok: false, stage: 'train', reason: `its task was not handed out: ${err.message}` }),
      )
    })

  const leave = async (jobId: string, reason: string): Promise<void> => {
    const job = jobs.get(jobId)
    if (job === undefined) return
    jobs.delete(jobId)
    job.abort.abort(new Error(reason))
    await Promise.allSettled([...job.members.keys()].map((id) => transport.release(id, jobId, reason)))
    log.info({ job: jobId, site: init.site, reason }, 'the site left a federated job')
  }

  /** A member's update is admitted while its task of that round is open. */
  const admit = (from: string, header: UpdateHeader): ClientSendOutcome => {
    const job = jobs.get(header.jobId)
    if (job === undefined) return { ok: false, reason: `no job ${header.jobId} here` }
    const open = job.open.get(from)
    if (open === undefined) return { ok: false, reason: `${from} has no task of job ${header.jobId} from site ${init.site}` }
    if (open.round !== header.round) return { ok: false, reason: `update is for round ${header.round}; the site's round is ${open.round}` }
    return { ok: true }
  }

  return {
    site: init.site,
    async join(jobId, spec, coordinator, signal) {
      const problem = hierarchyProblem(spec)
      if (problem !== undefined) return { ok: false, reason: `site ${init.site} aggregates its members: ${problem}` }
      const existing = jobs.get(jobId)
      if (existing !== undefined) {
        if (existing.coordinator !== coordinator) return { ok: false, reason: `job ${jobId} is coordinated by ${existing.coordinator}` }
        return { ok: true, examples: [...existing.members.values()].reduce((a, b) => a + b, 0) }
      }
      const candidates = [...new Set(c.members(spec))].filter((p) => p !== c.mesh.peerId).slice(0, maxMembers)
      if (candidates.length === 0) return { ok: false, reason: `no member of site ${init.site} is eligible for the job` }
      const answers = await Promise.all(candidates.map((id) => transport.invite(id, jobId, spec, signal ?? AbortSignal.timeout(60_000))))
      const members = new Map<string, number>()
      const refusals: string[] = []
      answers.forEach((a, i) => {
        const id = candidates[i] as string
        if (a.ok && Number.isSafeInteger(a.examples) && a.examples >= 1) members.set(id, a.examples)
        else refusals.push(`${id}: ${a.ok ? `declared ${a.examples} examples` : a.reason}`)
      })
      if (members.size === 0) return { ok: false, reason: `no member of site ${init.site} accepted the job (${refusals.join('; ')})` }
      const cohort = spec.privacy.secureAggregation === undefined ? 1 : secureCohortMinimum(spec)
      if (members.size < cohort) {
        await Promise.allSettled([...members.keys()].map((id) => transport.release(id, jobId, 'the site has too few members for the job')))
        const why = refusals.length === 0 ? '' : ` (${refusals.join('; ')})`
        return { ok: false, reason: `site ${init.site} has ${members.size} members in the job; its secure aggregation needs at least ${cohort}${why}` }
      }
      const examples = [...members.values()].reduce((a, b) => a + b, 0)
      if (!Number.isSafeInteger(examples)) return { ok: false, reason: `site ${init.site}'s members declare ${examples} examples, past a safe integer` }
      jobs.set(jobId, { id: jobId, spec, coordinator, members, open: new Map(), abort: new AbortController() })
      log.info({ job: jobId, site: init.site, members: members.size, examples, refused: refusals.length }, 'the site joined a federated job')
      return { ok: true, examples }
    },
    async train(jobId, task, t) {
      const job = jobs.get(jobId)
      if (job === undefined) return { ok: false, stage: 'train', reason: `site ${init.site} does not aggregate job ${jobId}` }
      const members: SiteMember[] = [...job.members].map(([id, examples]) => ({
        id,
        examples,
        train: (memberTask, send, signal) => trainMember(job, id, memberTask, send, signal),
      }))
      const signal = AbortSignal.any([job.abort.signal, ...(t.signal === undefined ? [] : [t.signal])])
      log.debug({ job: jobId, round: task.round, site: init.site, members: members.length }, 'the site starts its round')
      const secure = t.secure === undefined || transport.secagg === undefined ? undefined : { secagg: transport.secagg.bind(transport), sessions: t.secure }
      const outcome = await runSiteTask(job.spec, task, { members, pipeline: t.pipeline, send: t.send, signal, ...(secure === undefined ? {} : { secure }) })
      if (outcome.site !== undefined) {
        const s = outcome.site
        log.info(
          { job: jobId, round: task.round, site: init.site, delivered: s.delivered.length, dropped: s.dropped, examples: s.examples, bytesUp: s.bytesUp, secure: s.secure },
          s.secure === undefined ? 'the site folded its members’ updates' : 'the site unmasked its members’ sum',
        )
      } else if (outcome.dropped !== undefined) {
        log.warn({ job: jobId, round: task.round, site: init.site, dropped: outcome.dropped }, 'no member of the site delivered')
      }
      return outcome
    },
    async evaluate(jobId, task, signal) {
      const job = jobs.get(jobId)
      if (job === undefined) throw new Error(`site ${init.site} does not aggregate job ${jobId}`)
      const both = AbortSignal.any([job.abort.signal, ...(signal === undefined ? [] : [signal])])
      const results = await Promise.all([...job.members.keys()].map((id) => transport.evaluate(id, task, both)))
      let examples = 0
      let loss = 0
      let accuracy = 0
      for (const r of results) {
        if (!r.ok || !(r.examples >= 1) || !Number.isFinite(r.loss) || !(r.accuracy >= 0 && r.accuracy <= 1)) continue
        examples += r.examples
        loss += r.loss * r.examples
        accuracy += r.accuracy * r.examples
      }
      if (examples === 0) throw new Error(`no member of site ${init.site} evaluated the model`)
      return { loss: loss / examples, accuracy: accuracy / examples, examples }
    },
    leave,
    jobSpec: (jobId) => jobs.get(jobId)?.spec,
    admit,
    async deliver(from, header, set) {
      const verdict = admit(from, header)
      if (!verdict.ok) return verdict
      const open = jobs.get(header.jobId)?.open.get(from) as MemberTask
      const outcome = await open.send({ header, set })
      log.debug({ job: header.jobId, round: header.round, member: from, ok: outcome.ok }, 'a site member delivered its update')
      // The member's task ends either way: its client flow takes a refusal as final.
      open.settle(outcome.ok ? { ok: true, trainSeconds: header.trainSeconds, examples: header.examples, trainLoss: header.trainLoss } : { ok: false, stage: 'send', reason: outcome.reason })
      return outcome
    },
    taskFailed(jobId, from, round, reason) {
      const job = jobs.get(jobId)
      if (job === undefined) return false
      const open = job.open.get(from)
      if (open !== undefined && open.round === round) open.settle({ ok: false, stage: 'train', reason: `its task failed: ${reason}` })
      return true
    },
    memberGone(peer, reason) {
      for (const job of jobs.values()) job.open.get(peer)?.settle({ ok: false, stage: 'train', reason: `member gone (${reason})` })
    },
    jobs: () => [...jobs.values()].map((j) => ({ id: j.id, coordinator: j.coordinator, members: j.members })),
    async stop() {
      await Promise.allSettled([...jobs.keys()].map((id) => leave(id, 'node stopping')))
    },
  }
}
