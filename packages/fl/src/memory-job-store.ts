// A JobStore in memory: simulations and tests (nothing survives the process).
import type { JobRecord, JobStore, RoundRecord, UpdateRecord } from './contracts/job-store.js'
import type { JobEvent } from './contracts/events.js'
import type { StrategyState } from './contracts/strategy.js'

export interface MemoryJobStoreInit {
  /** Keep update deltas (needed only to resume a round; simulations turn it off). Default true. */
  readonly keepDeltas?: boolean
  /** Keep every round's model (false: only the latest; default true). */
  readonly keepModels?: boolean
  /** Events kept per job; the oldest are dropped past it (their sequence numbers are not reused). Default 10 000. */
  readonly maxEventsPerJob?: number
}

interface MemJob {
  record: JobRecord
  rounds: Map<number, RoundRecord>
  updates: Map<number, Map<string, { record: UpdateRecord; delta: Float32Array | undefined }>>
  seen: Set<string>
  contributors: Map<number, string[]>
  state: StrategyState | undefined
  events: JobEvent[]
  /** Declared examples by member, in order of joining. */
  members: Map<string, number>
}

/** The default of a store's events kept per job. */
export const DEFAULT_MAX_EVENTS_PER_JOB = 10_000

/** A store's `maxEventsPerJob`, defaulted and checked. @throws RangeError unless a positive safe integer */
export function checkMaxEvents(n: number | undefined): number {
  const v = n ?? DEFAULT_MAX_EVENTS_PER_JOB
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`maxEventsPerJob must be a positive integer, got ${v}`)
  return v
}

/** A JobStore in memory (simulations and tests; nothing survives the process). */
export function memoryJobStore(init: MemoryJobStoreInit = {}): JobStore {
  const keepDeltas = init.keepDeltas ?? true
  const keepModels = init.keepModels ?? true
  const maxEvents = checkMaxEvents(init.maxEventsPerJob)
  const jobs = new Map<string, MemJob>()
  const models = new Map<string, Float32Array>()
  const get = (id: string): MemJob => {
    const j = jobs.get(id)
    if (j === undefined) throw new Error(`unknown job ${id}`)
    return j
  }
  const patch = (j: MemJob, p: Partial<JobRecord>): void => {
    j.record = { ...j.record, ...p, updatedAt: Date.now() }
  }
  return {
    createJob(job, initialModel) {
      if (jobs.has(job.id)) throw new Error(`job ${job.id} exists`)
      models.set(job.modelHash, initialModel.slice())
      jobs.set(job.id, { record: job, rounds: new Map(), updates: new Map(), seen: new Set(), contributors: new Map(), state: undefined, events: [], members: new Map() })
    },
    getJob: (id) => jobs.get(id)?.record,
    listJobs: () => [...jobs.values()].map((j) => j.record),
    setJobStatus(id, status, error) {
      const j = get(id)
      patch(j, { status, ...(error === undefined ? {} : { error }) })
    },
    getModel: (hash) => models.get(hash),
    hasModel: (hash) => models.has(hash),
    openRound(jobId, round, participants, inputHash, startedAt, attempt) {
      const j = get(jobId)
      const prev = j.rounds.get(round)
      const at = attempt ?? prev?.attempt
      j.rounds.set(round, {
        jobId,
        round,
        status: 'open',
        participants: [...participants],
        inputHash,
        startedAt: prev?.startedAt ?? startedAt,
        ...(at === undefined ? {} : { attempt: at }),
      })
    },
    getRound: (jobId, round) => jobs.get(jobId)?.rounds.get(round),
    listRounds: (jobId) => [...(jobs.get(jobId)?.rounds.values() ?? [])].sort((a, b) => a.round - b.round),
    addUpdate(jobId, update, delta) {
      const j = get(jobId)
      let m = j.updates.get(update.round)
      if (m === undefined) {
        m = new Map()
        j.updates.set(update.round, m)
      }
      m.set(update.clientId, { record: update, delta: keepDeltas ? delta.slice() : undefined })
      j.seen.add(`${update.clientId}@${update.baseRound}`)
      const names = j.contributors.get(update.round) ?? []
      if (!names.includes(update.clientId)) names.push(update.clientId)
      j.contributors.set(update.round, names)
    },
    listUpdates: (jobId, round) => [...(jobs.get(jobId)?.updates.get(round)?.values() ?? [])].map((u) => u.record),
    contributors: (jobId, round) => [...(jobs.get(jobId)?.contributors.get(round) ?? [])],
    hasUpdate: (jobId, clientId, baseRound) => jobs.get(jobId)?.seen.has(`${clientId}@${baseRound}`) ?? false,
    loadDelta: (jobId, round, clientId) => jobs.get(jobId)?.updates.get(round)?.get(clientId)?.delta,
    commitRound(jobId, round, output, outputHash, metrics, state, endedAt) {
      const j = get(jobId)
      const r = j.rounds.get(round)
      if (r === undefined) throw new Error(`round ${round} of job ${jobId} was never opened`)
      if (!keepModels && r.inputHash !== outputHash) models.delete(r.inputHash)
      models.set(outputHash, output)
      j.rounds.set(round, { ...r, status: 'closed', outputHash, endedAt, metrics })
      j.updates.delete(round)
      j.state = state
      patch(j, { round: round + 1, modelHash: outputHash })
    },
    getStrategyState: (jobId) => jobs.get(jobId)?.state,
    setRoundEvaluation(jobId, round, evaluation) {
      const j = get(jobId)
      const r = j.rounds.get(round)
      if (r?.metrics === undefined) return
      j.rounds.set(round, { ...r, metrics: { ...r.metrics, evaluation } })
    },
    appendEvent(jobId, event) {
      const j = get(jobId)
      const e = { ...event, seq: (j.events.at(-1)?.seq ?? 0) + 1 } as JobEvent
      j.events.push(e)
      if (j.events.length > maxEvents) j.events.splice(0, j.events.length - maxEvents)
      return e
    },
    events: (jobId, after, limit = 1000) => (jobs.get(jobId)?.events ?? []).filter((e) => e.seq > after).slice(0, limit),
    setMember(jobId, clientId, examples) {
      get(jobId).members.set(clientId, examples)
    },
    members: (jobId) => [...(jobs.get(jobId)?.members ?? new Map<string, number>())].map(([clientId, examples]) => ({ clientId, examples })),
  }
}
