// The federated workload: jobs back to back on the coordinator, each client training on its own share of a synthetic
// two-class CSV; every job's events go to the history as they come, and each job's end state once faults are done.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { JobEvent } from '@weft/fl'
import Database from 'better-sqlite3'
import { writeSyntheticCsv } from '../../fixtures/synthetic-csv.js'
import { at, retrying, sleep, submitJob, type Workload, type WorkloadContext } from './context.js'

export function flWorkload(spec: Record<string, unknown>, examples: number): Workload {
  return {
    nodeConfig(name, index, dir) {
      if (name === 'coordinator') return { fl: { participate: false } }
      writeSyntheticCsv(join(dir, 'share.csv'), examples, index + 1)
      return { datasets: [{ name: 'synth', source: join(dir, 'share.csv'), label: 'label' }] }
    },
    ready: (peer) => peer.ad.datasets.some((d) => d.name === 'synth'),
    async run(ctx, faultsDone) {
      const probe = probeStoredUpdates(ctx)
      try {
        return await runJobs(ctx, spec, faultsDone)
      } finally {
        probe.stop()
      }
    },
  }
}

/**
 * Reads the coordinator's fl.db (read-only, beside the running node) every second: each client update it holds a
 * tensor for (a row of fl_updates with its delta), as a snapshot in the history. Under secure aggregation there must
 * never be one: the coordinator holds only masked inputs in memory and stores the round's sum.
 */
function probeStoredUpdates(ctx: WorkloadContext): { stop(): void } {
  const path = join(ctx.cluster.nodes.get('coordinator')?.dir as string, 'fl.db')
  const timer = setInterval(() => {
    if (!existsSync(path)) return
    let db: Database.Database | undefined
    try {
      db = new Database(path, { readonly: true, fileMustExist: true })
      const rows = db.prepare('SELECT job_id AS job, client_id AS client, round FROM fl_updates WHERE delta_block IS NOT NULL').all() as { job: string; client: string; round: number }[]
      ctx.history.add({ at: ctx.history.now(), kind: 'coordinator-store', updates: rows })
    } catch {
      // Busy or mid-migration: the next snapshot reads it.
    } finally {
      db?.close()
    }
  }, 1_000)
  return { stop: () => clearInterval(timer) }
}

/**
 * Federated jobs back to back until the faults are over, then the last one runs to its end; every job's events go
 * to the history as they come, and each job's end state once the faults are done.
 */
async function runJobs(ctx: WorkloadContext, spec: Record<string, unknown>, faultsDone: Promise<void>): Promise<Record<string, number>> {
  const { s, history, log } = ctx
  const api = () => ctx.cluster.api('coordinator')
  const jobs: string[] = []
  const ended = new Map<string, { status: string; error?: string }>()
  while (!ctx.faultsOver() || jobs.length === 0) {
    const id = await submitJob(ctx, () =>
      api()
        .submitJob({ name: `${s.name}-${jobs.length}`, dataset: 'synth', ...spec })
        .then((r) => r.id),
    )
    if (id === undefined) break
    jobs.push(id)
    const deadline = Math.max(ctx.faultsOverAt, Date.now()) + s.livenessSeconds * 1000
    let after = 0
    for (;;) {
      const page = await api()
        .jobEvents(id, after, 1)
        .catch(() => undefined)
      for (const e of (page?.events ?? []) as JobEvent[]) {
        after = e.seq
        history.add({ at: history.now(), kind: 'job-event', job: id, seq: e.seq, type: e.type, ...(e.round === undefined ? {} : { round: e.round }), data: e.data as Record<string, unknown> })
      }
      const status = page?.status
      if (status !== undefined && status !== 'running' && (page?.events.length ?? 0) === 0) {
        // The coordinator may be killed between the two calls: ask again on the next turn.
        const view = await api()
          .job(id)
          .catch(() => undefined)
        if (view === undefined) {
          await sleep(300)
          continue
        }
        ended.set(id, { status: view.status, ...(view.error === undefined ? {} : { error: view.error }) })
        history.add({ at: history.now(), kind: 'op', op: 'ended', job: id, status: view.status, ...(view.error === undefined ? {} : { error: view.error }) })
        log(`${at(ctx)}: job ${id} ${view.status}${view.error === undefined ? '' : `: ${view.error}`}`)
        break
      }
      if (Date.now() > deadline) break
      if (page === undefined) await sleep(300)
    }
    if (!ended.has(id)) break
  }
  await faultsDone
  // Every job's end state, from the coordinator (restarted if the last fault left it down).
  for (const id of jobs) {
    // The coordinator may still be starting: a few tries before the job counts as unread (a violation, if acked).
    const view = await retrying(() => api().job(id), 30, 1_000)
    if (view === undefined) continue
    history.add({
      at: history.now(),
      kind: 'final-job',
      job: id,
      status: view.status,
      rounds: view.history.map((r) => ({
        round: r.round,
        delivered: [...r.delivered],
        results: r.metrics?.results,
        ...(r.metrics?.secureAggregation === undefined ? {} : { session: r.metrics.secureAggregation.session }),
        ...(r.metrics?.privacy === undefined ? {} : { epsilon: r.metrics.privacy.epsilon }),
      })),
    })
  }
  const statuses = [...ended.values()].map((e) => e.status)
  return { submitted: jobs.length, finished: statuses.filter((x) => x === 'finished').length, failed: statuses.filter((x) => x !== 'finished').length }
}
