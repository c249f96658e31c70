// Per-submitter quotas (issue 15, deliverable 3): running jobs, jobs a day and model bytes, and none for the operator.
import { type JobRecord, parseJobSpec } from '@weft/fl'
import { describe, expect, it } from 'vitest'
import { quotaRefusal } from '../src/fl/quotas.js'

const spec = (inputs = 4) => parseJobSpec({ model: { architecture: 'logreg', inputShape: [inputs], numClasses: 2 }, dataset: 'd', rounds: 1 })
const HOUR = 3_600_000
const job = (submitter: string, status: JobRecord['status'], createdAt: number, inputs = 4): JobRecord => ({
  id: `${submitter}-${createdAt}`,
  spec: spec(inputs),
  status,
  round: 1,
  modelHash: 'm',
  submitter,
  createdAt,
  updatedAt: createdAt,
})
const quota = { runningJobs: 2, jobsPerDay: 3, modelBytes: 1000 }
const now = 100 * HOUR

describe('quotaRefusal', () => {
  it('counts only the submitter’s own jobs: another submitter’s do not use its quota', () => {
    const others = [job('b', 'running', now), job('b', 'running', now), job('b', 'running', now)]
    expect(quotaRefusal(others, 'a', spec(), quota, now)).toBeUndefined()
  })

  it('refuses a third running job, and counts finished ones only toward the day', () => {
    expect(quotaRefusal([job('a', 'running', now), job('a', 'running', now)], 'a', spec(), quota, now)).toMatch(/has 2 jobs running here/)
    expect(quotaRefusal([job('a', 'running', now), job('a', 'finished', now)], 'a', spec(), quota, now)).toBeUndefined()
  })

  it('refuses past jobsPerDay within 24 hours; older jobs no longer count', () => {
    const day = [job('a', 'finished', now - 1 * HOUR), job('a', 'failed', now - 2 * HOUR), job('a', 'cancelled', now - 23 * HOUR)]
    expect(quotaRefusal(day, 'a', spec(), quota, now)).toMatch(/submitted 3 jobs here in the last 24 hours/)
    const older = [job('a', 'finished', now - 1 * HOUR), job('a', 'failed', now - 2 * HOUR), job('a', 'cancelled', now - 25 * HOUR)]
    expect(quotaRefusal(older, 'a', spec(), quota, now)).toBeUndefined()
  })

  it('adds the new model to the running ones against modelBytes', () => {
    // logreg 4→2: 10 parameters, 40 bytes; 100→2: 202 parameters, 808 bytes.
    expect(quotaRefusal([job('a', 'running', now, 100)], 'a', spec(4), quota, now)).toBeUndefined()
    expect(quotaRefusal([job('a', 'running', now, 100)], 'a', spec(100), quota, now)).toMatch(/would hold 1616 bytes of models here, over fl.quota.modelBytes 1000/)
  })

  it('holds the node’s operator to none of it', () => {
    const many = Array.from({ length: 10 }, (_, i) => job('local', 'running', now - i))
    expect(quotaRefusal(many, 'local', spec(1000), quota, now)).toBeUndefined()
  })
})
