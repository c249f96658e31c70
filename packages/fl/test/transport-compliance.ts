// The CoordinatorTransport contract as laws, run against every implementation: the mesh transport of
// @weft/fl-mesh (packages/node/test/fl-transport.test.ts, over real in-process nodes) and the simulator's
// (packages/fl-sim/test). Expected failures are values ({ ok: false, reason }), never exceptions.
import { describe, expect, it } from 'vitest'
import { type CoordinatorTransport, type JobSpec, modelHash, type TrainAssignment } from '@weft/fl'
import { initialFlatParams } from '@weft/runtime'

export interface TransportFixture {
  readonly transport: CoordinatorTransport
  readonly spec: JobSpec
  readonly jobId: string
  /** A client that holds data for `spec` and takes part. */
  readonly willing: string
  /** An id no client answers to. */
  readonly stranger: string
}

export interface TransportHarness {
  /** Called once for the suite (transports may need running nodes). */
  setup(): Promise<TransportFixture>
  teardown?(): Promise<void>
}

/** Registers the CoordinatorTransport laws for one implementation. */
export function transportLaws(name: string, h: TransportHarness): void {
  describe(`CoordinatorTransport compliance: ${name}`, () => {
    let f: TransportFixture
    const signal = () => AbortSignal.timeout(60_000)
    const assignment = (round: number): TrainAssignment => {
      const params = initialFlatParams(f.spec.model, round)
      return { jobId: f.jobId, round, modelHash: modelHash(params), params, seed: round, hints: {} }
    }

    it('sets up', async () => {
      f = await h.setup()
    }, 120_000)

    it('lists the willing client among the candidates for the spec', () => {
      expect(f.transport.candidates(f.spec)).toContain(f.willing)
      expect(f.transport.candidates(f.spec)).not.toContain(f.stranger)
    })

    it('invites: the willing client joins with its example count; a stranger is a refusal with a reason, not an exception', async () => {
      const yes = await f.transport.invite(f.willing, f.jobId, f.spec, signal())
      expect(yes).toMatchObject({ ok: true })
      expect(yes.ok && yes.examples).toBeGreaterThan(0)
      const no = await f.transport.invite(f.stranger, f.jobId, f.spec, signal())
      expect(no.ok).toBe(false)
      expect(no.ok ? '' : no.reason).not.toBe('')
    }, 60_000)

    it('hands out a task: resolves once the client took it, after reporting the model sent', async () => {
      let sent = 0
      const r = await f.transport.train(f.willing, assignment(1), signal(), { modelSent: () => void sent++ })
      expect(r).toMatchObject({ ok: true })
      expect(r.ok && r.bytesDown).toBeGreaterThanOrEqual(0)
      expect(sent).toBeGreaterThanOrEqual(1)
    }, 60_000)

    it('refuses a task for a client that is not in the job with a reason', async () => {
      const r = await f.transport.train(f.stranger, assignment(2), signal())
      expect(r.ok).toBe(false)
      expect(r.ok ? '' : r.reason).not.toBe('')
    }, 60_000)

    it('evaluates a model on the client’s data', async () => {
      const task = assignment(1)
      const r = await f.transport.evaluate(f.willing, { jobId: f.jobId, round: 1, modelHash: task.modelHash, params: task.params }, signal())
      expect(r).toMatchObject({ ok: true })
      if (r.ok) {
        expect(r.examples).toBeGreaterThan(0)
        expect(r.accuracy).toBeGreaterThanOrEqual(0)
        expect(r.accuracy).toBeLessThanOrEqual(1)
        expect(Number.isFinite(r.loss)).toBe(true)
      }
    }, 60_000)

    it('releases anyone without throwing', async () => {
      await expect(f.transport.release(f.willing, f.jobId, 'done')).resolves.toBeUndefined()
      await expect(f.transport.release(f.stranger, f.jobId, 'done')).resolves.toBeUndefined()
    }, 30_000)

    it('tears down', async () => {
      await h.teardown?.()
    }, 60_000)
  })
}
