// The site aggregator's side towards its members, over a fake mesh: it joins with its members' examples, hands each
// the round's task, takes only an open task's update (a stranger, a wrong round, an inflated example count and a
// repeat are refused), forwards one update for the site, and refuses the jobs a site cannot run.
import { createClientUpdatePipeline, type JobSpec, type PreparedClientUpdate, parseJobSpec, type TrainAssignment, type UpdateHeader } from '@weft/fl'
import { createSiteAggregator, type FlEndpoint } from '@weft/fl-mesh'
import { FL_CANCEL, FL_INVITE } from '@weft/protocol'
import { paramCount } from '@weft/runtime'
import { describe, expect, it } from 'vitest'

const spec = (extra: Record<string, unknown> = {}): JobSpec =>
  parseJobSpec({
    model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
    dataset: 'synth',
    rounds: 2,
    clients: { min: 1 },
    train: { epochs: 1, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 } },
    seed: 5,
    ...extra,
  })

/** A mesh where every member accepts the invitation with 10 examples and takes every model it is sent. */
function fakeMesh() {
  const handedOut: string[] = []
  const cancelled: string[] = []
  const mesh = {
    peerId: 'aggregator',
    rpc: {
      async call(peer: string, method: unknown) {
        if (method === FL_INVITE) return { accepted: true, reason: '', examples: 10n }
        if (method === FL_CANCEL) cancelled.push(peer)
        return {}
      },
    },
    tensors: {
      async send(peer: string) {
        handedOut.push(peer)
        return { ok: true, bytes: 40 }
      },
    },
  } as unknown as FlEndpoint
  return { mesh, handedOut, cancelled }
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 1))
  expect(check()).toBe(true)
}

describe('site aggregator (members side)', () => {
  it('folds only the updates of open tasks and forwards one update weighing what its members delivered', async () => {
    const job = spec()
    const { mesh, handedOut, cancelled } = fakeMesh()
    const site = createSiteAggregator({ mesh, members: () => ['m1', 'm2', 'aggregator'] }, { site: 'tucson' })
    expect(await site.join('j1', job, 'coord')).toEqual({ ok: true, examples: 20 })
    expect(site.jobSpec('j1')).toBe(job)

    const P = paramCount(job.model)
    const task: TrainAssignment = { jobId: 'j1', round: 1, modelHash: 'ab'.repeat(32), params: new Float32Array(P), seed: 3, hints: {} }
    const forwarded: PreparedClientUpdate[] = []
    const round = site.train('j1', task, {
      pipeline: createClientUpdatePipeline(job),
      send: async (u) => {
        forwarded.push(u)
        return { ok: true }
      },
    })
    await until(() => handedOut.length === 2)
    expect(handedOut.sort()).toEqual(['m1', 'm2'])

    const header = (examples: number, round = 1): UpdateHeader => ({
      jobId: 'j1',
      round,
      baseHash: task.modelHash,
      examples,
      trainLoss: 0.5,
      trainAccuracy: 0,
      trainSeconds: 0.1,
      length: P,
    })
    const set = createClientUpdatePipeline(job).prepare(new Float32Array(P).fill(0.25), {}).set
    // A peer without a task of this job, and a member's update for another round, are refused on the header.
    expect(site.admit('stranger', header(10))).toMatchObject({ ok: false, reason: expect.stringMatching(/has no task of job j1/) })
    expect(await site.deliver('stranger', header(10), set)).toMatchObject({ ok: false })
    expect(site.admit('m1', header(10, 2))).toMatchObject({ ok: false, reason: expect.stringMatching(/round 2; the site's round is 1/) })
    // A member claiming more examples than it declared is refused (the coordinator's own check), and dropped.
    expect(await site.deliver('m1', header(11), set)).toMatchObject({ ok: false, reason: expect.stringMatching(/11 examples; m1 holds 10/) })
    expect(await site.deliver('m2', header(10), set)).toEqual({ ok: true })
    // Its task is closed: the same update again is refused.
    expect(await site.deliver('m2', header(10), set)).toMatchObject({ ok: false })

    const outcome = await round
    expect(outcome.ok).toBe(true)
    expect(outcome.site?.delivered).toEqual(['m2'])
    expect(outcome.site?.dropped).toEqual([{ id: 'm1', reason: expect.stringMatching(/11 examples/) }])
    expect(forwarded).toHaveLength(1)
    expect(forwarded[0]?.header).toMatchObject({ jobId: 'j1', round: 1, examples: 10, baseHash: task.modelHash })
    expect(Array.from(outcome.site?.delta ?? [])).toEqual(Array.from({ length: P }, () => 0.25))

    await site.leave('j1', 'job finished')
    expect(cancelled.sort()).toEqual(['m1', 'm2'])
    expect(site.jobSpec('j1')).toBeUndefined()
  })

  it('drops a member that reports its task failed or goes away, without waiting for the deadline', async () => {
    const job = spec()
    const { mesh, handedOut } = fakeMesh()
    const site = createSiteAggregator({ mesh, members: () => ['m1', 'm2'] }, { site: 'tucson' })
    await site.join('j1', job, 'coord')
    const task: TrainAssignment = { jobId: 'j1', round: 1, modelHash: 'cd'.repeat(32), params: new Float32Array(paramCount(job.model)), seed: 3, hints: {} }
    const round = site.train('j1', task, { pipeline: createClientUpdatePipeline(job), send: async () => ({ ok: true }) })
    await until(() => handedOut.length === 2)
    expect(site.taskFailed('j1', 'm1', 1, 'out of memory')).toBe(true)
    expect(site.taskFailed('other-job', 'm1', 1, 'x')).toBe(false)
    site.memberGone('m2', 'disconnected')
    const outcome = await round
    expect(outcome).toMatchObject({ ok: false, stage: 'train' })
    expect(outcome.dropped).toEqual([
      { id: 'm1', reason: 'its task failed: out of memory' },
      { id: 'm2', reason: 'member gone (disconnected)' },
    ])
  })

  it('refuses jobs a site cannot run, and a site with no eligible member', async () => {
    const { mesh } = fakeMesh()
    const site = createSiteAggregator({ mesh, members: () => ['m1'] }, { site: 'tucson' })
    const dp = await site.join('j2', spec({ privacy: { dp: { mode: 'client', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 } } }), 'coord')
    expect(dp).toMatchObject({ ok: false, reason: expect.stringMatching(/^site tucson aggregates its members: privacy\.dp does not combine with site aggregators/) })
    // A site smaller than the job's secure cohort would unmask one member's update: refused, and the member released.
    const { mesh: lone, cancelled } = fakeMesh()
    const small = createSiteAggregator({ mesh: lone, members: () => ['m1'] }, { site: 'yuma' })
    const secure = spec({ clients: { min: 2 }, privacy: { secureAggregation: { clip: 1, dropoutRate: 0 } } })
    expect(await small.join('j4', secure, 'coord')).toEqual({ ok: false, reason: 'site yuma has 1 members in the job; its secure aggregation needs at least 2' })
    expect(cancelled).toEqual(['m1'])
    expect(small.jobs()).toEqual([])
    const empty = createSiteAggregator({ mesh, members: () => [] }, { site: 'phoenix' })
    expect(await empty.join('j3', spec(), 'coord')).toEqual({ ok: false, reason: 'no member of site phoenix is eligible for the job' })
  })
})
