// The JobStore contract as laws, run against every implementation: the in-memory store (here) and the node's
// SQLite + block-file store (packages/node/test/fl-store.test.ts), which also runs the durability laws.
import { describe, expect, it } from 'vitest'
import { type JobRecord, type JobStore, parseJobSpec, type RoundMetrics, withMessage } from '@weft/fl'

export interface JobStoreHarness {
  /** A fresh, empty store (keeping `maxEventsPerJob` events per job where given). */
  open(init?: { readonly maxEventsPerJob?: number }): JobStore
  /** Durable stores: closes `store` and opens the same data again. */
  reopen?(store: JobStore): JobStore
}

const spec = parseJobSpec({
  model: { architecture: 'logreg', inputShape: [3], numClasses: 2 },
  dataset: 'd',
  rounds: 3,
  clients: { min: 2 },
})

function job(id: string, at = 1_000): JobRecord {
  return { id, spec, status: 'running', round: 1, modelHash: `m0-${id}`, submitter: 'local', createdAt: at, updatedAt: at }
}

const floats = (...v: number[]) => Float32Array.from(v)

function update(clientId: string, round: number, examples = 10) {
  return { clientId, round, baseRound: round, examples, trainLoss: 0.5, trainAccuracy: 0, trainSeconds: 1, uploadSeconds: 0.1, bytes: 32 }
}

const metrics: RoundMetrics = {
  sampled: 2,
  results: 2,
  dropped: 0,
  refused: 0,
  examples: 20,
  trainLoss: 0.5,
  bytesDown: 64,
  bytesUp: 64,
  seconds: { total: 2, broadcast: 0.1, training: 1, upload: 0.1, aggregation: 0.01 },
  overheadSeconds: 1,
}

/** Registers the JobStore laws for one implementation. */
export function jobStoreLaws(name: string, h: JobStoreHarness): void {
  describe(`JobStore compliance: ${name}`, () => {
    it('stores jobs with their initial model, lists them in creation order, and refuses a duplicate id', () => {
      const s = h.open()
      s.createJob(job('a', 1), floats(1, 2, 3))
      s.createJob(job('b', 2), floats(4, 5, 6))
      expect(s.getJob('a')).toEqual(job('a', 1))
      expect(s.listJobs().map((j) => j.id)).toEqual(['a', 'b'])
      expect(s.getJob('nope')).toBeUndefined()
      expect(() => s.createJob(job('a'), floats(0))).toThrow()
      expect([...(s.getModel('m0-a') ?? [])]).toEqual([1, 2, 3])
      expect(s.hasModel('m0-a')).toBe(true)
      expect(s.hasModel('m-unknown')).toBe(false)
      expect(s.getModel('m-unknown')).toBeUndefined()
    })

    it('records a status change with its error', () => {
      const s = h.open()
      s.createJob(job('a'), floats(1))
      s.setJobStatus('a', 'failed', 'the strategy refused the round')
      expect(s.getJob('a')).toMatchObject({ status: 'failed', error: 'the strategy refused the round' })
    })

    it('opens a round idempotently: the participant list is replaced, the first start time and the attempt kept', () => {
      const s = h.open()
      s.createJob(job('a'), floats(1))
      s.openRound('a', 1, ['c1', 'c2'], 'm0-a', 100, 1)
      s.openRound('a', 1, ['c1', 'c2', 'c3'], 'm0-a', 200)
      expect(s.getRound('a', 1)).toMatchObject({ status: 'open', participants: ['c1', 'c2', 'c3'], startedAt: 100, attempt: 1, inputHash: 'm0-a' })
      s.openRound('a', 1, ['c1'], 'm0-a', 300, 2)
      expect(s.getRound('a', 1)).toMatchObject({ participants: ['c1'], startedAt: 100, attempt: 2 })
      expect(s.getRound('a', 2)).toBeUndefined()
    })

    it('keeps accepted updates with their deltas until the round commits, then only their keys and contributors', () => {
      const s = h.open()
      s.createJob(job('a'), floats(0, 0, 0))
      s.openRound('a', 1, ['c1', 'c2'], 'm0-a', 100)
      s.addUpdate('a', update('c2', 1), floats(1, 2, 3))
      s.addUpdate('a', update('c1', 1, 30), floats(4, 5, 6))
      expect(s.listUpdates('a', 1).map((u) => [u.clientId, u.examples])).toEqual([
        ['c2', 10],
        ['c1', 30],
      ])
      expect(s.contributors('a', 1)).toEqual(['c2', 'c1'])
      expect(s.hasUpdate('a', 'c1', 1)).toBe(true)
      expect(s.hasUpdate('a', 'c3', 1)).toBe(false)
      expect([...(s.loadDelta('a', 1, 'c1') ?? [])]).toEqual([4, 5, 6])

      const state = { tensors: { momentum: floats(0.5, 0.5, 0.5) }, scalars: { step: 1 } }
      s.commitRound('a', 1, floats(2.5, 3.5, 4.5), 'm1-a', metrics, state, 150)
      expect(s.getJob('a')).toMatchObject({ round: 2, modelHash: 'm1-a', status: 'running' })
      expect(s.getRound('a', 1)).toMatchObject({ status: 'closed', outputHash: 'm1-a', endedAt: 150, metrics })
      expect([...(s.getModel('m1-a') ?? [])]).toEqual([2.5, 3.5, 4.5])
      expect(s.listUpdates('a', 1)).toEqual([])
      expect(s.loadDelta('a', 1, 'c1')).toBeUndefined()
      expect(s.contributors('a', 1)).toEqual(['c2', 'c1'])
      expect(s.hasUpdate('a', 'c1', 1)).toBe(true)
      const back = s.getStrategyState('a')
      expect(back?.scalars).toEqual({ step: 1 })
      expect([...(back?.tensors['momentum'] ?? [])]).toEqual([0.5, 0.5, 0.5])
      expect(s.listRounds('a').map((r) => r.round)).toEqual([1])
    })

    it('adds evaluation results to a committed round only', () => {
      const s = h.open()
      s.createJob(job('a'), floats(0))
      s.openRound('a', 1, ['c1'], 'm0-a', 100)
      s.setRoundEvaluation('a', 1, { federated: { loss: 1, accuracy: 0.5, examples: 10, clients: 1 } })
      expect(s.getRound('a', 1)?.metrics).toBeUndefined()
      s.commitRound('a', 1, floats(1), 'm1-a', metrics, { tensors: {}, scalars: {} }, 150)
      const evaluation = { centralized: { loss: 0.3, accuracy: 0.9, examples: 100, seconds: 0.2 } }
      s.setRoundEvaluation('a', 1, evaluation)
      expect(s.getRound('a', 1)?.metrics).toEqual({ ...metrics, evaluation })
    })

    it('numbers each job’s events from 1 and returns their typed payloads, oldest first, after a sequence number', () => {
      const s = h.open()
      s.createJob(job('a'), floats(0))
      s.createJob(job('b'), floats(0))
      const e1 = s.appendEvent('a', withMessage({ at: 10, type: 'client-joined', data: { client: 'c1', examples: 30 } }))
      const e2 = s.appendEvent('b', withMessage({ at: 11, type: 'job-resumed', data: { round: 2 } }))
      const e3 = s.appendEvent('a', withMessage({ at: 12, type: 'client-dropped', round: 1, data: { client: 'c1', reason: 'disconnected' } }))
      expect([e1.seq, e2.seq, e3.seq]).toEqual([1, 1, 2])
      expect(s.events('a', 0)).toEqual([e1, e3])
      expect(s.events('a', 1)).toEqual([e3])
      expect(s.events('a', 0, 1)).toEqual([e1])
      expect(s.events('a', 0)[1]).toMatchObject({ type: 'client-dropped', round: 1, data: { client: 'c1', reason: 'disconnected' } })
      expect(s.events('nope', 0)).toEqual([])
    })

    it('keeps at most maxEventsPerJob events per job: the oldest are dropped, numbering goes on, other jobs keep theirs', () => {
      const s = h.open({ maxEventsPerJob: 5 })
      s.createJob(job('a'), floats(0))
      s.createJob(job('b'), floats(0))
      s.appendEvent('b', withMessage({ at: 1, type: 'job-resumed', data: { round: 1 } }))
      const seqs: number[] = []
      for (let i = 0; i < 12; i++) seqs.push(s.appendEvent('a', withMessage({ at: i, type: 'client-dropped', round: 1, data: { client: `c${i}`, reason: 'gone' } })).seq)
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      expect(s.events('a', 0).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12])
      expect(s.events('a', 0)[0]).toMatchObject({ data: { client: 'c7' } })
      expect(s.events('a', 10).map((e) => e.seq)).toEqual([11, 12])
      expect(s.events('b', 0).map((e) => e.seq)).toEqual([1])
    })

    it('keeps each member’s declared examples, in order of joining; a later join replaces the declaration', () => {
      const s = h.open()
      s.createJob(job('a'), floats(1))
      s.createJob(job('b'), floats(1))
      expect(s.members('a')).toEqual([])
      s.setMember('a', 'c1', 10)
      s.setMember('a', 'c2', 20)
      s.setMember('a', 'c1', 12)
      s.setMember('b', 'c9', 1)
      expect(s.members('a')).toEqual([
        { clientId: 'c1', examples: 12 },
        { clientId: 'c2', examples: 20 },
      ])
      expect(s.members('b')).toEqual([{ clientId: 'c9', examples: 1 }])
    })

    if (h.reopen !== undefined) {
      const reopen = h.reopen
      it('keeps everything it acknowledged across a restart: jobs, open rounds with their updates, models, state, events', () => {
        let s = h.open()
        s.createJob(job('a'), floats(1, 2, 3))
        s.openRound('a', 1, ['c1', 'c2'], 'm0-a', 100)
        s.addUpdate('a', update('c1', 1), floats(1, 1, 1))
        s.commitRound('a', 1, floats(2, 3, 4), 'm1-a', metrics, { tensors: { v: floats(9, 9, 9) }, scalars: { t: 1 } }, 150)
        s.openRound('a', 2, ['c1', 'c2'], 'm1-a', 200, 3)
        s.addUpdate('a', update('c2', 2), floats(7, 8, 9))
        s.appendEvent('a', withMessage({ at: 201, type: 'round-started', round: 2, data: { participants: 2, resumedUpdates: 0 } }))
        s.setMember('a', 'c2', 40)
        s.setMember('a', 'c1', 7)
        s = reopen(s)
        expect(s.members('a')).toEqual([
          { clientId: 'c2', examples: 40 },
          { clientId: 'c1', examples: 7 },
        ])
        expect(s.getJob('a')).toMatchObject({ round: 2, modelHash: 'm1-a' })
        expect(s.getRound('a', 2)).toMatchObject({ status: 'open', attempt: 3, participants: ['c1', 'c2'] })
        expect([...(s.loadDelta('a', 2, 'c2') ?? [])]).toEqual([7, 8, 9])
        expect(s.hasUpdate('a', 'c1', 1)).toBe(true)
        expect([...(s.getModel('m1-a') ?? [])]).toEqual([2, 3, 4])
        expect([...(s.getStrategyState('a')?.tensors['v'] ?? [])]).toEqual([9, 9, 9])
        expect(s.events('a', 0)).toEqual([expect.objectContaining({ seq: 1, type: 'round-started', data: { participants: 2, resumedUpdates: 0 } })])
      })
    }
  })
}
