// Admission is one pure function of what the job knows: properties over arbitrary update headers (issue 15,
// finding 2: no number out of range gets past it, whatever a hostile client writes).
import { type AdmissionView, admitUpdate, headerNumbersProblem, type UpdateHeader } from '@weft/fl'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

const view = (declared = 50): AdmissionView => ({
  jobId: 'j',
  stopping: false,
  asynchronous: false,
  paramCount: 10,
  maxStaleness: 20,
  jobRound: 1,
  current: { round: 1, open: true, participants: new Set(['c']), delivered: new Set(), inputHash: 'h' },
  pastRound: () => undefined,
  alreadyCounted: () => false,
  declaredExamples: () => declared,
})

const header = (h: Partial<UpdateHeader>): UpdateHeader => ({
  jobId: 'j',
  round: 1,
  baseHash: 'h',
  examples: 10,
  trainLoss: 0.5,
  trainAccuracy: 0,
  trainSeconds: 1,
  length: 10,
  ...h,
})

/** Any double, the awkward ones included. */
const anyNumber = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, -1, 0, 1e308), fc.integer())

describe('issue 15, finding 2: admission of update headers (properties)', () => {
  it('admits a header only when every number is in range and the examples are within what the client declared', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, anyNumber, fc.integer({ min: 1, max: 1000 }), (examples, trainLoss, trainAccuracy, trainSeconds, declared) => {
        const h = header({ examples, trainLoss, trainAccuracy, trainSeconds })
        const verdict = admitUpdate(view(declared), 'c', h)
        const inRange =
          Number.isSafeInteger(examples) &&
          examples >= 1 &&
          examples <= declared &&
          Number.isFinite(trainLoss) &&
          Number.isFinite(trainAccuracy) &&
          trainAccuracy >= 0 &&
          trainAccuracy <= 1 &&
          Number.isFinite(trainSeconds) &&
          trainSeconds >= 0
        expect(verdict.ok).toBe(inRange)
        if (!verdict.ok) expect(verdict.reason).toMatch(/examples|train loss|train accuracy|train seconds/)
      }),
      { numRuns: 2_000 },
    )
  })

  it('names the field of the first number out of range', () => {
    expect(headerNumbersProblem(header({ trainSeconds: Number.POSITIVE_INFINITY }))).toBe('update reports Infinity train seconds; expected a finite number ≥ 0')
    expect(headerNumbersProblem(header({ examples: 1.5 }))).toMatch(/^update reports 1\.5 examples/)
    expect(headerNumbersProblem(header({}))).toBeUndefined()
  })

  it('does not bound the examples of a client whose declaration is unknown (a member restored after a restart)', () => {
    expect(admitUpdate(view(0), 'c', header({ examples: 5_000 }))).toEqual({ ok: true })
  })
})
