// Per-submitter quotas: how much of this coordinator one remote submitter may take (jobs at once, jobs a day, model
// bytes held for its running jobs). The node's operator (jobs through its own API, submitter 'local') has none.
import type { JobRecord, JobSpec } from '@weft/fl'
import { paramCount } from '@weft/runtime'

/** What one remote submitter may have on this coordinator. */
export interface SubmitterQuota {
  /** Jobs running at once. */
  readonly runningJobs: number
  /** Jobs submitted in any 24 hours (finished, failed and cancelled ones count). */
  readonly jobsPerDay: number
  /** Float32 bytes of the models of its running jobs, the new one included. */
  readonly modelBytes: number
}

const DAY_MS = 24 * 60 * 60 * 1000

/** A submission over quota: the mesh answers RESOURCE_EXHAUSTED, the submitting node's API 429. */
export class QuotaExceededError extends Error {
  override readonly name = 'QuotaExceededError'
}

/**
 * Why `submitter` may not start `spec` now, or undefined. `jobs` are the jobs this node holds (any submitter).
 * @param now - epoch ms
 */
export function quotaRefusal(jobs: readonly JobRecord[], submitter: string, spec: JobSpec, quota: SubmitterQuota, now: number): string | undefined {
  if (submitter === 'local') return undefined
  const own = jobs.filter((j) => j.submitter === submitter)
  const running = own.filter((j) => j.status === 'running')
  if (running.length >= quota.runningJobs) {
    return `quota: ${submitter} has ${running.length} jobs running here, the most a submitter may (fl.quota.runningJobs ${quota.runningJobs})`
  }
  const today = own.filter((j) => now - j.createdAt < DAY_MS).length
  if (today >= quota.jobsPerDay) {
    return `quota: ${submitter} submitted ${today} jobs here in the last 24 hours, the most a submitter may (fl.quota.jobsPerDay ${quota.jobsPerDay})`
  }
  const bytes = (s: JobSpec): number => paramCount(s.model) * 4
  const held = running.reduce((n, j) => n + bytes(j.spec), 0) + bytes(spec)
  if (held > quota.modelBytes) {
    return `quota: ${submitter}'s running jobs would hold ${held} bytes of models here, over fl.quota.modelBytes ${quota.modelBytes}`
  }
  return undefined
}
