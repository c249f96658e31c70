// Orchestration on the control API: /v1/jobs (submit, list, status, logs, cancel, cost), /v1/work (this node's offer
// and the placements it holds), /v1/ledger (its receipts, credits, heads heard, verification of any node's chain) and
// /v1/reputation. Errors are { error, message } like the other Weft routes.
import { fromBinary } from '@bufbuild/protobuf'
import { ReceiptSchema, SignedReceiptSchema, toHex } from '@weft/protocol'
import type { Context, Hono } from 'hono'
import { z } from 'zod'
import type { NodeJobs } from '../components/jobs.js'
import { type JobRecord, JobRequestError, jobCost } from './job-record.js'

const ERRORS = { 400: 'bad-request', 404: 'not-found', 409: 'conflict', 503: 'unavailable' } as const
const StartBody = z.object({ spec: z.unknown() })
/** Tasks listed in a job view (all of them are counted). */
const MAX_TASKS_SHOWN = 200

/** A job as the API shows it. */
export function jobView(job: JobRecord) {
  const cost = jobCost(job)
  const tasks = { total: job.tasks.length, pending: 0, accepted: 0, failed: 0, results: 0 }
  for (const t of job.tasks) {
    tasks[t.state]++
    tasks.results += t.results.length
  }
  return {
    id: job.id,
    name: job.spec.name,
    kind: job.spec.kind,
    owner: job.owner,
    epoch: job.epoch,
    state: job.state,
    reason: job.reason,
    submittedAt: job.submittedAt,
    finishedAt: job.finishedAt,
    spec: job.spec,
    reschedules: job.reschedules,
    placements: job.placements.map((p, i) => ({
      name: p.name,
      peerId: p.peerId,
      state: p.state,
      attempts: p.attempts,
      detail: p.detail,
      usage: p.usage,
      cost: cost.placements[i]?.cost ?? 0,
    })),
    tasks: {
      ...tasks,
      // Results computed per accepted task: 1 is no replication, 2 is always-twice.
      replication: tasks.accepted === 0 ? 0 : job.tasks.filter((t) => t.state === 'accepted').reduce((s, t) => s + t.results.length, 0) / tasks.accepted,
      list: job.tasks.slice(0, MAX_TASKS_SHOWN).map((t) => ({
        id: t.id,
        state: t.state,
        params: t.spec.params,
        results: t.results.length,
        workers: t.results.map((r) => r.worker),
        ...(t.resultCid === undefined ? {} : { resultCid: t.resultCid, result: t.result }),
        ...(t.reason === undefined ? {} : { reason: t.reason }),
      })),
    },
    usage: cost.usage,
    cost: cost.total,
    receipts: job.receipts,
    receiptCredit: job.receiptCredit,
  }
}

/** Mounts the orchestration routes. */
export function mountJobs(app: Hono, jobs: () => NodeJobs | undefined): void {
  const withJobs =
    (handler: (c: Context, j: NodeJobs) => Promise<Response> | Response) =>
    async (c: Context): Promise<Response> => {
      const j = jobs()
      if (j === undefined) return c.json({ error: 'unavailable', message: 'orchestration is not running on this node' }, 503)
      try {
        return await handler(c, j)
      } catch (err) {
        if (err instanceof JobRequestError) return c.json({ error: ERRORS[err.status], message: err.message }, err.status)
        return c.json({ error: 'internal', message: (err as Error).message }, 500)
      }
    }
  const owned = (j: NodeJobs, id: string): JobRecord => {
    const job = j.scheduler.get(id)
    if (job === undefined) {
      const heard = j.scheduler.known().find((k) => k.id === id)
      throw new JobRequestError(404, heard === undefined ? `no job ${id} is known here` : `job ${id} is owned by ${heard.owner} (epoch ${heard.epoch}); ask that node`)
    }
    return job
  }

  app.get(
    '/v1/jobs',
    withJobs((c, j) => c.json({ jobs: j.scheduler.list().map(jobView), known: j.scheduler.known() })),
  )
  app.post(
    '/v1/jobs',
    withJobs(async (c, j) => {
      let body: unknown
      try {
        body = await c.req.json()
      } catch {
        throw new JobRequestError(400, 'the body must be JSON')
      }
      const parsed = StartBody.safeParse(body)
      if (!parsed.success) throw new JobRequestError(400, 'the body must be { "spec": { … } }')
      return c.json(jobView(j.scheduler.submit(parsed.data.spec)), 201)
    }),
  )
  app.get(
    '/v1/jobs/:id',
    withJobs(async (c, j) => {
      const id = c.req.param('id') ?? ''
      const job = j.scheduler.get(id)
      if (job !== undefined) return c.json(jobView(job))
      // Not owned here: who owns it, from the announcements heard or the lease in the DHT.
      const found = await j.scheduler.lookup(id)
      throw new JobRequestError(404, found === undefined ? `no job ${id} is known here or in the DHT` : `job ${id} is owned by ${found.owner} (epoch ${found.epoch}, ${found.state}); ask that node`)
    }),
  )
  app.get(
    '/v1/jobs/:id/logs',
    withJobs((c, j) => {
      const job = owned(j, c.req.param('id') ?? '')
      const after = Number(c.req.query('after') ?? '0')
      const events = job.events.slice(Number.isFinite(after) && after > 0 ? after : 0).map((e) => ({ at: e.at, message: e.message }))
      return c.json({ events, next: job.events.length, state: job.state })
    }),
  )
  app.get(
    '/v1/jobs/:id/cost',
    withJobs((c, j) => {
      const job = owned(j, c.req.param('id') ?? '')
      return c.json({ id: job.id, state: job.state, ...jobCost(job), receipts: job.receipts })
    }),
  )
  app.delete(
    '/v1/jobs/:id',
    withJobs(async (c, j) => c.json(jobView(await j.scheduler.cancel(c.req.param('id') ?? '')))),
  )
  app.get(
    '/v1/work',
    withJobs((c, j) => {
      j.capacity.accrue()
      return c.json({
        offer: j.capacity.offer,
        reserved: j.capacity.reserved(),
        placements: j.capacity.list().map((r) => ({
          jobId: r.jobId,
          placement: r.placement,
          owner: r.owner,
          epoch: Number(r.epoch),
          state: r.state,
          detail: r.detail,
          cores: r.cores,
          memoryBytes: r.memoryBytes,
          accelerators: r.accelerators,
          expiresAt: r.expiresAt,
          usage: r.usage,
        })),
      })
    }),
  )
  app.get(
    '/v1/ledger',
    withJobs((c, j) => {
      const from = Math.max(1, Number(c.req.query('from') ?? '1') || 1)
      const limit = Math.min(256, Math.max(1, Number(c.req.query('limit') ?? '100') || 100))
      const entries = j.ledger.entries(from, limit).map((e) => {
        const signed = fromBinary(SignedReceiptSchema, e.receipt)
        const r = fromBinary(ReceiptSchema, signed.receipt)
        return {
          seq: Number(e.seq),
          hash: toHex(e.hash),
          prev: toHex(e.prev),
          receipt: { jobId: r.jobId, taskId: r.taskId, kind: r.kind, worker: r.worker, owner: r.owner, resultCid: r.resultCid, coreSeconds: r.coreSeconds, bytes: Number(r.bytes), credit: r.credit, issuedAt: Number(r.issuedAtMs) },
        }
      })
      return c.json({ holder: j.ledger.self, head: j.ledger.head(), entries, heads: j.ledger.heads() })
    }),
  )
  app.get(
    '/v1/ledger/verify',
    withJobs(async (c, j) => {
      const node = c.req.query('node')
      const check = await j.ledger.verify(node === undefined || node === '' ? j.ledger.self : node)
      return c.json({ ...check, verdict: check.verdict.ok ? { ok: true, length: check.verdict.length, head: toHex(check.verdict.head) } : check.verdict })
    }),
  )
  app.get(
    '/v1/reputation',
    withJobs((c, j) => c.json({ workers: j.scheduler.reputation().records() })),
  )
}

