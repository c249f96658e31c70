// The coordinator's round logic through its public API, with scripted clients behind a CoordinatorTransport. Every
// test runs on a ManualClock: round deadlines, waits, hand-out slots and the clients' own delays are virtual time,
// which moves only while the test waits (waitFor, finish), so a 30-second deadline costs no real time.
import {
  isJobEvent,
  ManualClock,
  settle,
  SecureClientSessions,
  secureInput,
  type Coordinator,
  type CoordinatorInit,
  type CoordinatorTransport,
  type HandOutProgress,
  createCoordinator,
  type JobRecord,
  type JobStore,
  memoryJobStore,
  modelHash,
  parseJobSpec,
  type TrainAssignment,
  type UpdateHeader,
  MAX_EVENT_STRING,
  withMessage,
} from '@weft/fl'
import { computeEpsilon } from '@weft/dp'
import { initialFlatParams } from '@weft/runtime'
import { createEd25519Directory, type SecAggMessage } from '@weft/secagg'
import { nativeX25519 } from '@weft/secagg/node'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const MODEL = { architecture: 'logreg', inputShape: [4], numClasses: 2 } as const
const P = 10 // logreg 4×2 kernel + 2 biases

interface ScriptedClient {
  examples: number
  /** The delta it sends (length P unless testing a bad shape). */
  delta: Float32Array
  /** Never sends its update (a straggler or a dead process). */
  silent?: boolean
  /** Delay before sending (ms). */
  delayMs?: number
  /** The local training time it reports (s; default 0.01). */
  trainSeconds?: number
  /** How long it takes to take the model and acknowledge its task (ms; default at once; Infinity: never). */
  ackMs?: number
  /** Reports its model sent at once, before the acknowledgement (as a mesh transfer does once its bytes are out). */
  sentAtOnce?: boolean
  /** A hostile client: header fields it forges. */
  forge?: Partial<UpdateHeader>
}

/** A transport whose clients answer at once and send scripted deltas through admit/deliver. */
class ScriptedTransport implements CoordinatorTransport {
  coordinator: Coordinator | undefined
  readonly reachable = new Set<string>()
  readonly tasks: { client: string; task: TrainAssignment }[] = []
  readonly released: string[] = []
  readonly refusals: { client: string; reason: string }[] = []
  /** Hand-outs in progress now, and the most seen at once. */
  active = 0
  maxActive = 0

  constructor(readonly clients: Map<string, ScriptedClient>) {
    for (const id of clients.keys()) this.reachable.add(id)
  }

  candidates(): readonly string[] {
    return [...this.clients.keys()].filter((id) => this.reachable.has(id))
  }

  async invite(id: string): ReturnType<CoordinatorTransport['invite']> {
    return { ok: true as const, examples: this.clients.get(id)?.examples ?? 0 }
  }

  async train(id: string, task: TrainAssignment, signal: AbortSignal, progress?: HandOutProgress) {
    this.tasks.push({ client: id, task })
    const c = this.clients.get(id)
    if (c?.sentAtOnce === true) progress?.modelSent()
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    try {
      if (c?.ackMs !== undefined) {
        await new Promise<void>((resolve) => {
          const ackMs = c.ackMs as number
          const timer = Number.isFinite(ackMs) ? clock.setTimer(resolve, ackMs) : undefined
          signal.addEventListener('abort', () => resolve(timer === undefined ? undefined : clock.clearTimer(timer)), { once: true })
        })
        if (signal.aborted) return { ok: false as const, reason: 'no acknowledgement' }
      }
    } finally {
      this.active--
    }
    if (c !== undefined && c.silent !== true) {
      clock.setTimer(() => this.send(id, { ...this.header(task, c.examples, c.delta.length, c.trainSeconds), ...c.forge }, c.delta), c.delayMs ?? 1)
    }
    return { ok: true as const, bytesDown: task.params.byteLength }
  }

  header(task: { jobId: string; round: number; modelHash: string }, examples: number, length: number, trainSeconds = 0.01): UpdateHeader {
    return { jobId: task.jobId, round: task.round, baseHash: task.modelHash, examples, trainLoss: 0.5, trainAccuracy: 0, trainSeconds, length }
  }

  /** What the mesh does with an update: admit the header, then deliver the data. */
  send(id: string, header: UpdateHeader, delta: Float32Array): { ok: boolean; reason?: string } {
    const c = this.coordinator as Coordinator
    const first = c.admit(id, header)
    const verdict = first.ok ? c.deliver(id, header, delta, { bytes: delta.byteLength, seconds: 0.001 }) : first
    if (!verdict.ok) this.refusals.push({ client: id, reason: verdict.reason })
    return verdict
  }

  async evaluate() {
    return { ok: false as const, reason: 'not scripted' }
  }

  async release(id: string) {
    this.released.push(id)
  }
}

function constDelta(v: number, n = P): Float32Array {
  return new Float32Array(n).fill(v)
}

function spec(extra: Record<string, unknown> = {}) {
  return parseJobSpec({
    model: MODEL,
    dataset: 'd',
    rounds: 1,
    clients: { min: 3 },
    timeouts: { roundSeconds: 30, waitSeconds: 30 },
    ...extra,
  })
}

function setup(clients: Record<string, ScriptedClient>, store: JobStore = memoryJobStore(), init: CoordinatorInit = {}) {
  const transport = new ScriptedTransport(new Map(Object.entries(clients)))
  const coordinator = createCoordinator({ store, transport, clock }, { pollMs: 50, reinviteAfterMs: 100, ...init })
  transport.coordinator = coordinator
  running.push(coordinator)
  return { transport, coordinator, store }
}

const running: Coordinator[] = []
let clock: ManualClock
beforeEach(() => {
  clock = new ManualClock()
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()))
})

/** init + Σ n_i d_i / Σ n_i, in float64 then rounded once. */
function weightedMean(init: Float32Array, parts: { n: number; d: Float32Array }[]): Float32Array {
  const total = parts.reduce((s, p) => s + p.n, 0)
  return init.map((x, i) => x + parts.reduce((s, p) => s + p.n * (p.d[i] as number), 0) / total)
}

/**
 * Runs virtual time forward, timer by timer, until `cond` holds.
 * @throws when `ms` of virtual time pass first, or nothing is left to happen
 */
async function waitFor(cond: () => boolean, what: string, ms = 600_000): Promise<void> {
  const end = clock.now() + ms
  for (let idle = 0; !cond(); ) {
    await settle()
    if (cond()) return
    if (clock.now() > end) throw new Error(`timed out waiting for ${what} (${ms} ms of virtual time)`)
    if (clock.fireNext()) idle = 0
    else if (++idle > 1_000) throw new Error(`nothing left to happen while waiting for ${what}`)
  }
}

/** The job's record once it stops running, virtual time running meanwhile. */
async function finish(coordinator: Coordinator, jobId: string): Promise<JobRecord> {
  let record: JobRecord | undefined
  void coordinator.done(jobId).then((r) => {
    record = r
  })
  await waitFor(() => record !== undefined, `job ${jobId} to end`)
  return record as JobRecord
}

function finalModel(store: JobStore, job: JobRecord): Float32Array {
  return store.getModel((store.getJob(job.id) as JobRecord).modelHash) as Float32Array
}

describe('coordinator', () => {
  it('FedAvg over three clients equals the example-weighted mean of their updates', async () => {
    const d = { a: constDelta(0.1), b: constDelta(-0.2), c: Float32Array.from({ length: P }, (_, i) => i / 10) }
    const { coordinator, store } = setup({ a: { examples: 1, delta: d.a }, b: { examples: 2, delta: d.b }, c: { examples: 5, delta: d.c } })
    const s = spec({ seed: 7 })
    const job = coordinator.submit(s)
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('finished')
    expect(end.round).toBe(2)
    const expected = weightedMean(initialFlatParams(s.model, 7), [
      { n: 1, d: d.a },
      { n: 2, d: d.b },
      { n: 5, d: d.c },
    ])
    const got = finalModel(store, job)
    for (let i = 0; i < P; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 6)
    const [round] = store.listRounds(job.id)
    expect(round?.metrics).toMatchObject({ results: 3, sampled: 3, dropped: 0, examples: 8 })
    expect(end.modelHash).toBe(modelHash(got))
  })

  it('refuses malformed, out-of-round, uninvited and duplicate updates with a reason, and the round goes on', async () => {
    const good = { a: constDelta(1), b: constDelta(2), c: constDelta(4) }
    const { coordinator, transport, store } = setup({
      a: { examples: 10, delta: good.a, delayMs: 150 },
      b: { examples: 10, delta: good.b, delayMs: 150 },
      c: { examples: 20, delta: good.c, delayMs: 150 },
    })
    const s = spec()
    const job = coordinator.submit(s)
    await waitFor(() => transport.tasks.length === 3, 'three training tasks')
    const task = (transport.tasks[0] as { task: TrainAssignment }).task
    const bad = (id: string, h: Partial<UpdateHeader>, delta: Float32Array) => transport.send(id, { ...transport.header(task, 10, delta.length), ...h }, delta)

    expect(bad('a', {}, constDelta(1, P - 1)).reason).toMatch(/update has 9 values; the model has 10/)
    const nan = constDelta(1)
    nan[3] = Number.NaN
    expect(bad('a', {}, nan).reason).toMatch(/update value 3 is NaN; every value must be finite/)
    expect(bad('a', { round: 2 }, constDelta(1)).reason).toMatch(/round 2 has not started/)
    expect(bad('mallory', {}, constDelta(1)).reason).toMatch(/mallory was not asked to train in round 1/)
    expect(bad('b', { baseHash: 'ff'.repeat(32) }, constDelta(1)).reason).toMatch(/trained from model ffffffffffff, not round 1's model/)
    expect(bad('b', { examples: 0 }, constDelta(1)).reason).toMatch(/reports 0 examples/)

    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('finished')
    // A late duplicate of an accepted update is refused: the job has moved on.
    expect(bad('a', {}, constDelta(1)).ok).toBe(false)
    const expected = weightedMean(initialFlatParams(s.model, 0), [
      { n: 10, d: good.a },
      { n: 10, d: good.b },
      { n: 20, d: good.c },
    ])
    const got = finalModel(store, job)
    for (let i = 0; i < P; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 5)
    expect(store.listRounds(job.id)[0]?.metrics).toMatchObject({ results: 3, refused: 6 })
    const events = store.events(job.id, 0).map((e) => e.type)
    expect(events.filter((t) => t === 'update-accepted')).toHaveLength(3)
  })

  it('hands tasks out a few at a time, longest-training clients first: by examples, then by measured training time', async () => {
    const d = constDelta(0.1)
    // b has the fewest examples but trains slowest (a weaker machine): from round 2 on it goes first.
    const { coordinator, transport, store } = setup(
      {
        a: { examples: 30, delta: d, ackMs: 5, trainSeconds: 3 },
        b: { examples: 10, delta: d, ackMs: 5, trainSeconds: 9 },
        c: { examples: 20, delta: d, ackMs: 5, trainSeconds: 2 },
        e: { examples: 40, delta: d, ackMs: 5, trainSeconds: 4 },
      },
      memoryJobStore(),
      { dispatchConcurrency: 2 },
    )
    const job = coordinator.submit(spec({ rounds: 3, clients: { min: 4 } }))
    expect((await finish(coordinator, job.id)).status).toBe('finished')
    const order = (round: number) => transport.tasks.filter((t) => t.task.round === round).map((t) => t.client)
    expect(order(1)).toEqual(['e', 'a', 'c', 'b'])
    expect(order(2)).toEqual(['b', 'e', 'a', 'c'])
    expect(order(3)).toEqual(['b', 'e', 'a', 'c'])
    expect(transport.maxActive).toBe(2)
    expect(store.listRounds(job.id).map((r) => r.metrics?.results)).toEqual([4, 4, 4])
  })

  it('a hand-out frees its slot once its model is sent, so acknowledgements overlap the next transfers', async () => {
    const d = constDelta(0.1)
    const slow = { delta: d, ackMs: 100, sentAtOnce: true }
    const { coordinator, transport } = setup({ a: { examples: 4, ...slow }, b: { examples: 3, ...slow }, c: { examples: 2, ...slow }, e: { examples: 1, ...slow } }, memoryJobStore(), {
      dispatchConcurrency: 1,
    })
    const job = coordinator.submit(spec({ clients: { min: 4 } }))
    expect((await finish(coordinator, job.id)).status).toBe('finished')
    // Each waits 100 ms for its acknowledgement; with the slot held until then only one would be in flight.
    expect(transport.maxActive).toBe(4)
    expect(transport.tasks.map((t) => t.client)).toEqual(['a', 'b', 'c', 'e'])
  })

  it('a client that never acknowledges its task holds its hand-out slot for dispatchSlotMs only, and is dropped at its deadline', async () => {
    const d = constDelta(0.1)
    const { coordinator, transport, store } = setup(
      { stuck: { examples: 100, delta: d, ackMs: Number.POSITIVE_INFINITY }, a: { examples: 3, delta: d }, b: { examples: 2, delta: d }, c: { examples: 1, delta: d } },
      memoryJobStore(),
      { dispatchConcurrency: 1, dispatchSlotMs: 50, trainAckTimeoutMs: 400 },
    )
    const job = coordinator.submit(spec({ clients: { min: 3 } }))
    // The stuck client goes first (most examples) and holds the only slot; the others are handed out after 50 ms.
    const start = clock.now()
    await waitFor(() => transport.tasks.length === 4, 'every hand-out started', 300)
    expect(clock.now() - start).toBe(50)
    expect(transport.tasks.map((t) => t.client)).toEqual(['stuck', 'a', 'b', 'c'])
    expect((await finish(coordinator, job.id)).status).toBe('finished')
    expect(store.listRounds(job.id)[0]?.metrics).toMatchObject({ results: 3, dropped: 1 })
    expect(store.events(job.id, 0).find(isJobEvent('client-dropped'))).toMatchObject({ round: 1, data: { client: 'stuck', reason: expect.stringMatching(/no acknowledgement|timed out/) } })
  })

  it('refuses a second update from the same client in the same round', async () => {
    const { coordinator, transport } = setup({
      a: { examples: 1, delta: constDelta(1) },
      b: { examples: 1, delta: constDelta(1) },
      c: { examples: 1, delta: constDelta(1), delayMs: 200 },
    })
    const job = coordinator.submit(spec())
    await waitFor(() => transport.tasks.length === 3 && coordinator.live(job.id)?.round?.delivered === 2, 'two updates')
    const task = (transport.tasks[0] as { task: TrainAssignment }).task
    expect(transport.send('a', transport.header(task, 1, P), constDelta(1)).reason).toMatch(/already counted/)
    expect((await finish(coordinator, job.id)).status).toBe('finished')
  })

  it('closes a round at its deadline with the minimum results; a late update is refused as closed', async () => {
    const { coordinator, transport, store } = setup({
      a: { examples: 1, delta: constDelta(1) },
      b: { examples: 1, delta: constDelta(3) },
      slow: { examples: 1, delta: constDelta(100), silent: true },
    })
    const s = spec({ rounds: 2, clients: { min: 3, minResults: 2 }, timeouts: { roundSeconds: 0.3, waitSeconds: 5 } })
    const job = coordinator.submit(s)
    await waitFor(() => (store.getJob(job.id)?.round ?? 0) >= 2, 'round 1 to close')
    const lateTask = transport.tasks.find((t) => t.client === 'slow' && t.task.round === 1)?.task as TrainAssignment
    expect(transport.send('slow', transport.header(lateTask, 1, P), constDelta(100)).reason).toMatch(/round 1 is closed/)
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('finished')
    const rounds = store.listRounds(job.id)
    expect(rounds.map((r) => r.metrics?.results)).toEqual([2, 2])
    expect(rounds.map((r) => r.metrics?.dropped)).toEqual([1, 1])
    const init = initialFlatParams(s.model, 0)
    // Two rounds of the mean of 1 and 3.
    expect(finalModel(store, job)[0]).toBeCloseTo((init[0] as number) + 4, 5)
  })

  it('drops a client that disappears mid-round and samples it again once it is back', async () => {
    const { coordinator, transport, store } = setup({
      a: { examples: 1, delta: constDelta(1), delayMs: 50 },
      b: { examples: 1, delta: constDelta(1), delayMs: 50 },
      gone: { examples: 1, delta: constDelta(1), silent: true },
    })
    const s = spec({ rounds: 3, clients: { min: 2, minResults: 2 } })
    const job = coordinator.submit(s)
    await waitFor(() => transport.tasks.some((t) => t.client === 'gone'), 'the task of the client about to vanish')
    transport.reachable.delete('gone')
    coordinator.clientGone('gone', 'process killed')
    await waitFor(() => (store.getJob(job.id)?.round ?? 0) >= 2, 'round 1 to close')
    ;(transport.clients.get('gone') as ScriptedClient).silent = false
    transport.reachable.add('gone')
    coordinator.wake()
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('finished')
    const [r1, ...later] = store.listRounds(job.id)
    expect(r1?.metrics).toMatchObject({ results: 2, dropped: 1 })
    const back = later.find((r) => r.participants.includes('gone'))
    expect(back?.metrics).toMatchObject({ results: 3, dropped: 0 })
    expect(store.events(job.id, 0).filter(isJobEvent('client-dropped')).map((e) => e.data)).toContainEqual({ client: 'gone', reason: 'process killed' })
  })

  it('a client reporting its task failed is dropped from that round at once, with the reason; a stale report is ignored', async () => {
    const { coordinator, transport, store } = setup({
      a: { examples: 1, delta: constDelta(1), delayMs: 50 },
      b: { examples: 1, delta: constDelta(1), delayMs: 50 },
      broken: { examples: 1, delta: constDelta(1), silent: true },
    })
    // A long deadline: only the report can close round 1 early.
    const s = spec({ rounds: 2, clients: { min: 2, minResults: 2 }, timeouts: { roundSeconds: 600, waitSeconds: 10 } })
    const job = coordinator.submit(s)
    await waitFor(() => transport.tasks.some((t) => t.client === 'broken'), 'the task of the client whose engine fails')
    // A report about another round changes nothing.
    coordinator.taskFailed(job.id, 'broken', 7, 'stale')
    coordinator.taskFailed('another-job', 'broken', 1, 'wrong job')
    coordinator.taskFailed(job.id, 'broken', 1, 'TorchWorkerCrashedError: the PyTorch worker died')
    await waitFor(() => (store.getJob(job.id)?.round ?? 0) >= 2, 'round 1 to close')
    const r1 = store.listRounds(job.id)[0]
    expect(r1?.metrics).toMatchObject({ results: 2, dropped: 1 })
    const drops = store.events(job.id, 0).filter(isJobEvent('client-dropped'))
    expect(drops.map((e) => [e.round, e.data])).toEqual([[1, { client: 'broken', reason: 'its task failed: TorchWorkerCrashedError: the PyTorch worker died' }]])
    coordinator.cancel(job.id)
  })

  it('fails the job with a clear reason when too few clients are available', async () => {
    const { coordinator } = setup({ a: { examples: 1, delta: constDelta(1) }, b: { examples: 1, delta: constDelta(1) } })
    const job = coordinator.submit(spec({ timeouts: { roundSeconds: 1, waitSeconds: 0.2 } }))
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('failed')
    expect(end.error).toMatch(/round 1: only 2 of the 3 clients needed were available after waiting 0.2 s/)
  })

  it('resumes a round after a restart without losing or double-counting accepted updates', async () => {
    const store = memoryJobStore()
    const d = { a: constDelta(1), b: constDelta(2), c: constDelta(6) }
    const first = setup({ a: { examples: 1, delta: d.a }, b: { examples: 1, delta: d.b, silent: true }, c: { examples: 2, delta: d.c, silent: true } }, store)
    const s = spec({ seed: 3 })
    const job = first.coordinator.submit(s)
    await waitFor(() => first.coordinator.live(job.id)?.round?.delivered === 1, "a's update")
    await first.coordinator.stop() // the coordinator goes away mid-round
    expect(store.getJob(job.id)?.status).toBe('running')

    const second = setup({ a: { examples: 1, delta: d.a }, b: { examples: 1, delta: d.b }, c: { examples: 2, delta: d.c } }, store)
    expect(second.coordinator.resumeAll()).toEqual([job.id])
    const end = await finish(second.coordinator, job.id)
    expect(end.status).toBe('finished')
    // The resumed round asked only b and c; a's stored update was folded back in, once.
    expect(second.transport.tasks.map((t) => t.client).sort()).toEqual(['b', 'c'])
    const expected = weightedMean(initialFlatParams(s.model, 3), [
      { n: 1, d: d.a },
      { n: 1, d: d.b },
      { n: 2, d: d.c },
    ])
    const got = finalModel(store, job)
    for (let i = 0; i < P; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 5)
    expect(store.listRounds(job.id)[0]?.metrics).toMatchObject({ results: 3, examples: 4 })
    const resent = second.transport.send('a', second.transport.header(first.transport.tasks[0]?.task as TrainAssignment, 1, P), d.a)
    expect(resent.ok).toBe(false)
  })

  it('runs FedBuff server steps from buffered updates with staleness weights', async () => {
    const { coordinator, store } = setup({
      a: { examples: 1, delta: constDelta(1) },
      b: { examples: 1, delta: constDelta(1), delayMs: 30 },
      c: { examples: 1, delta: constDelta(1), delayMs: 60 },
    })
    const s = spec({ rounds: 3, strategy: { name: 'fedbuff', bufferSize: 2, concurrency: 3 }, clients: { min: 1 } })
    const job = coordinator.submit(s)
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('finished')
    const rounds = store.listRounds(job.id)
    expect(rounds.map((r) => r.metrics?.results)).toEqual([2, 2, 2])
    expect(rounds.some((r) => (r.metrics?.staleness ?? 0) > 0)).toBe(true)
    const moved = (finalModel(store, job)[0] as number) - (initialFlatParams(s.model, 0)[0] as number)
    // Each step moves by the mean staleness weight of its two unit deltas: at most 1 per step, less when stale.
    expect(moved).toBeGreaterThan(1.5)
    expect(moved).toBeLessThanOrEqual(3 + 1e-5)
  })

  it('cancels a running job and releases its clients', async () => {
    const { coordinator, transport } = setup({
      a: { examples: 1, delta: constDelta(1), silent: true },
      b: { examples: 1, delta: constDelta(1), silent: true },
      c: { examples: 1, delta: constDelta(1), silent: true },
    })
    const job = coordinator.submit(spec())
    await waitFor(() => transport.tasks.length === 3, 'tasks')
    expect(coordinator.cancel(job.id, 'user asked')).toBe(true)
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('cancelled')
    expect(end.error).toBe('user asked')
    expect(transport.released.sort()).toEqual(['a', 'b', 'c'])
  })

  it('DP-FedAvg with server-side clipping: the update is the unweighted clipped mean over the expected clients', async () => {
    // Each delta has norm sqrt(10)·0.5 ≈ 1.58 > C = 1, so each is scaled to norm 1: every coordinate 1/sqrt(10).
    const clients = { a: { examples: 1, delta: constDelta(0.5) }, b: { examples: 5, delta: constDelta(0.5) }, c: { examples: 9, delta: constDelta(0.5) } }
    const { coordinator, store } = setup(clients)
    const s = spec({ seed: 2, privacy: { dp: { mode: 'central', clipNorm: 1, noiseMultiplier: 1e-6 } } })
    const job = coordinator.submit(s)
    const end = await finish(coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    const init = initialFlatParams(s.model, 2)
    const got = finalModel(store, job)
    // Example counts do not weigh in: the sensitivity bound is per client.
    for (let i = 0; i < P; i++) expect((got[i] as number) - (init[i] as number)).toBeCloseTo(1 / Math.sqrt(10), 4)
  })

  it('DP: reports ε each round, stops before its ε limit, and a restarted coordinator never re-spends', async () => {
    const store = memoryJobStore()
    const release = (rounds: number) => computeEpsilon({ sampleRate: 1, noiseMultiplier: 2, steps: rounds }, 1e-5).epsilon
    // Room for three rounds, not four.
    const limit = (release(3) + release(4)) / 2
    const s = spec({ rounds: 10, privacy: { dp: { mode: 'client', clipNorm: 1, noiseMultiplier: 2, epsilonLimit: limit } } })
    const slow = { examples: 1, delta: constDelta(0.01), delayMs: 40 }
    const first = setup({ a: slow, b: slow, c: slow }, store)
    const job = first.coordinator.submit(s)
    await waitFor(() => store.getRound(job.id, 2)?.status === 'closed', 'two rounds', 10_000)
    await first.coordinator.stop()

    const second = setup({ a: slow, b: slow, c: slow }, store)
    expect(second.coordinator.resumeAll()).toEqual([job.id])
    const end = await finish(second.coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    const rounds = store.listRounds(job.id).filter((r) => r.status === 'closed')
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3])
    // ε after k rounds is the accountant's for exactly k releases: the restart neither reset nor repeated them.
    for (const [k, r] of rounds.entries()) expect(r.metrics?.privacy?.epsilon).toBeCloseTo(release(k + 1), 9)
    expect(store.events(job.id, 0).find(isJobEvent('privacy-budget-reached'))?.data).toMatchObject({ round: 4, epsilonLimit: limit, epsilon: release(3) })
    // Clients were told to clip to C; the hint travels with every training task.
    expect(second.transport.tasks.every((t) => t.task.hints.dp?.clipNorm === 1 && t.task.hints.dp.noiseStd === 0)).toBe(true)
  })

  it('refuses privacy options that do not combine, naming the field', () => {
    expect(() => spec({ strategy: { name: 'fedmedian' }, privacy: { dp: { noiseMultiplier: 1 } } })).toThrow(/privacy\.dp: differential privacy works with fedavg/)
    expect(() => spec({ privacy: { dp: { noiseMultiplier: 1, targetEpsilon: 3 } } })).toThrow(/exactly one of noiseMultiplier and targetEpsilon/)
    expect(() => spec({ privacy: { secureAggregation: {}, dp: { mode: 'central', noiseMultiplier: 1 } } })).toThrow(/privacy\.dp\.mode: central DP/)
    expect(() => spec({ privacy: { secureAggregation: {} }, compression: { kind: 'int8' } })).toThrow(/compression: secure aggregation quantizes/)
  })

  describe('with secure aggregation', () => {
    /** Scripted clients that run SecAgg+: they mask their (weighted) deltas instead of sending them. */
    class SecureTransport extends ScriptedTransport {
      readonly sessions = new Map<string, SecureClientSessions>()
      /** Clients that stop answering secagg messages after the given phase. */
      readonly vanish = new Map<string, 'setup' | 'neighbour-keys' | 'masked'>()
      /** When set, clients vanish only in this many of the job's first sessions. */
      vanishSessions: number | undefined
      readonly #sessionsSeen: number[] = []
      readonly plaintext: string[] = []
      readonly identities = createEd25519Directory()
      /** Rewrites a client's reply before the coordinator sees it (a client playing the attacker). */
      forge: ((id: string, reply: SecAggMessage) => SecAggMessage) | undefined

      sessionsOf(id: string): SecureClientSessions {
        let s = this.sessions.get(id)
        if (s === undefined) {
          s = new SecureClientSessions(id, { keyAgreement: nativeX25519(), identity: this.identities.identityOf(id), minClients: () => 2 })
          this.sessions.set(id, s)
        }
        return s
      }

      override async train(id: string, task: TrainAssignment, signal: AbortSignal) {
        this.tasks.push({ client: id, task })
        const c = this.clients.get(id)
        const hint = task.hints.secure
        if (c === undefined || c.silent === true) return { ok: true as const, bytesDown: task.params.byteLength }
        if (hint === undefined) {
          this.plaintext.push(id)
          return super.train(id, task, signal)
        }
        void (async () => {
          const masked = await this.sessionsOf(id).mask(task.jobId, hint.session, secureInput(c.delta, hint, undefined, 1), 5_000)
          if (this.vanish.get(id) === 'setup' || this.vanish.get(id) === 'neighbour-keys') return
          const header = { ...this.header(task, c.examples, masked.vector.length), secureSession: hint.session }
          const verdict = (this.coordinator as Coordinator).deliverMasked(id, header, masked.vector, { bytes: masked.vector.byteLength, seconds: 0 })
          if (!verdict.ok) this.refusals.push({ client: id, reason: verdict.reason })
        })().catch(() => {})
        return { ok: true as const, bytesDown: task.params.byteLength }
      }

      async secagg(id: string, message: SecAggMessage) {
        if (!this.#sessionsSeen.includes(message.round)) this.#sessionsSeen.push(message.round)
        const vanishing = this.vanishSessions === undefined || this.#sessionsSeen.indexOf(message.round) < this.vanishSessions
        const gone = vanishing ? this.vanish.get(id) : undefined
        if ((gone === 'setup' && message.type !== 'setup') || (gone === 'neighbour-keys' && message.type !== 'setup' && message.type !== 'neighbour-keys')) {
          return { ok: false as const, reason: 'gone' }
        }
        if (gone === 'masked' && message.type === 'unmask-request') return { ok: false as const, reason: 'gone' }
        try {
          const handled = this.sessionsOf(id).handle(message)
          const reply = handled === undefined || this.forge === undefined ? handled : this.forge(id, handled)
          return { ok: true as const, bytes: 1, ...(reply === undefined ? {} : { reply }) }
        } catch (err) {
          return { ok: false as const, reason: (err as Error).message }
        }
      }
    }

    function secureSetup(clients: Record<string, ScriptedClient>, store: JobStore = memoryJobStore()) {
      const transport = new SecureTransport(new Map(Object.entries(clients)))
      const coordinator = createCoordinator({ store, transport, clock }, { pollMs: 50, reinviteAfterMs: 100 })
      transport.coordinator = coordinator
      running.push(coordinator)
      return { transport, coordinator, store }
    }

    const six = (vanishing: Record<string, ScriptedClient> = {}) => ({
      a: { examples: 1, delta: constDelta(0.1) },
      b: { examples: 2, delta: constDelta(-0.2) },
      c: { examples: 4, delta: Float32Array.from({ length: P }, (_, i) => i / 20) },
      d: { examples: 4, delta: constDelta(0.3) },
      e: { examples: 2, delta: constDelta(-0.05) },
      f: { examples: 3, delta: constDelta(0.02) },
      ...vanishing,
    })

    it('gives the example-weighted FedAvg mean within the quantization error, and no plaintext update ever reaches the coordinator', async () => {
      const clients = six()
      const { coordinator, store, transport } = secureSetup(clients)
      const s = spec({ seed: 4, clients: { min: 6 }, timeouts: { roundSeconds: 2, waitSeconds: 30 }, privacy: { secureAggregation: { dropoutRate: 0.2, clip: 1 } } })
      const job = coordinator.submit(s)
      const end = await finish(coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      expect(transport.plaintext).toEqual([])
      const expected = weightedMean(
        initialFlatParams(s.model, 4),
        Object.values(clients).map((c) => ({ n: c.examples, d: c.delta })),
      )
      const got = finalModel(store, job)
      const round = store.listRounds(job.id)[0]!
      const bound = (6 * 1) / 2 ** ((round.metrics?.secureAggregation?.bits ?? 16) - 1)
      for (let i = 0; i < P; i++) expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThanOrEqual(bound)
      expect(round.metrics?.secureAggregation).toMatchObject({ survivors: 6, threshold: expect.any(Number), degree: 5 })
    })

    it('issue 15, finding 5: a client that answers as another is dropped with the reason, and the one it named is not evicted', async () => {
      const clients = six()
      const { coordinator, store, transport } = secureSetup(clients)
      // a answers the key advertisement in b's name (its own keys, b's id): were the reply's sender believed, b's
      // genuine answer would be a duplicate and b evicted.
      transport.forge = (id, reply) => (id === 'a' && reply.type === 'advertise-keys' ? { ...reply, sender: 'b' } : reply)
      const s = spec({ seed: 4, clients: { min: 6, minResults: 4 }, timeouts: { roundSeconds: 1, waitSeconds: 30 }, privacy: { secureAggregation: { dropoutRate: 0.4, clip: 1 } } })
      const job = coordinator.submit(s)
      const end = await finish(coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      const drops = store.events(job.id, 0).filter(isJobEvent('client-dropped'))
      const dropA = drops.find((e) => e.data.client === 'a')
      expect(dropA?.data.reason).toMatch(/^secure aggregation: wrong-sender: keys from a claims to come from b/)
      expect(drops.some((e) => e.data.client === 'b')).toBe(false)
      const contributors = [...(store.listRounds(job.id)[0]?.metrics?.secureAggregation?.contributors ?? [])].sort()
      expect(contributors).toEqual(['b', 'c', 'd', 'e', 'f'])
      const kept = ['b', 'c', 'd', 'e', 'f'].map((k) => clients[k as keyof typeof clients])
      const expected = weightedMean(initialFlatParams(s.model, 4), kept.map((c) => ({ n: c.examples, d: c.delta })))
      const got = finalModel(store, job)
      for (let i = 0; i < P; i++) expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThanOrEqual(1e-3)
    })

    it('unmasks a client that dropped after sending its masked input, excludes one that dropped after the key exchange', async () => {
      const clients = six()
      const { coordinator, store, transport } = secureSetup(clients)
      transport.vanish.set('d', 'masked')
      transport.vanish.set('e', 'setup')
      const s = spec({ seed: 4, clients: { min: 6, minResults: 3 }, timeouts: { roundSeconds: 1, waitSeconds: 30 }, privacy: { secureAggregation: { dropoutRate: 0.4, clip: 1 } } })
      const job = coordinator.submit(s)
      const end = await finish(coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      // d's input is in the sum (its self-mask came back from its neighbours' shares); e's is not.
      const kept = ['a', 'b', 'c', 'd', 'f'].map((k) => clients[k as keyof typeof clients])
      const expected = weightedMean(initialFlatParams(s.model, 4), kept.map((c) => ({ n: c.examples, d: c.delta })))
      const got = finalModel(store, job)
      for (let i = 0; i < P; i++) expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThanOrEqual(1e-3)
      expect(store.listRounds(job.id)[0]?.metrics?.secureAggregation?.survivors).toBe(5)
      expect([...(store.listRounds(job.id)[0]?.metrics?.secureAggregation?.contributors ?? [])].sort()).toEqual(['a', 'b', 'c', 'd', 'f'])
      const drops = store.events(job.id, 0).filter(isJobEvent('client-dropped'))
      expect(drops.some((e) => e.data.client === 'e' && e.data.reason.startsWith('secure aggregation:'))).toBe(true)
    })

    it('aborts a round whose shares fall below the threshold without revealing anything, and runs it again in a new session', async () => {
      const clients = six()
      const { coordinator, store, transport } = secureSetup(clients)
      // Four of six vanish before answering the unmasking: two answers are below the threshold (3).
      for (const id of ['c', 'd', 'e', 'f']) transport.vanish.set(id, 'masked')
      transport.vanishSessions = 1
      const s = spec({ seed: 4, clients: { min: 6, minResults: 2 }, timeouts: { roundSeconds: 1, waitSeconds: 2 }, privacy: { secureAggregation: { dropoutRate: 0.4, clip: 1 } } })
      const job = coordinator.submit(s)
      const end = await finish(coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      const events = store.events(job.id, 0)
      const aborted = events.find(isJobEvent('secure-round-aborted'))
      expect(aborted?.data.reason).toMatch(/masked inputs arrived|shares|threshold/)
      const sessions = events.filter(isJobEvent('secure-round-started')).map((e) => e.data.session)
      expect(new Set(sessions).size).toBe(sessions.length)
      expect(sessions.length).toBeGreaterThanOrEqual(2)
    })

    it('refuses a plaintext update, a masked input of the wrong length and one replayed from an earlier session; the round completes', async () => {
      const clients = six({ e: { examples: 2, delta: constDelta(-0.05), silent: true } })
      const { coordinator, store, transport } = secureSetup(clients)
      const s = spec({ seed: 4, clients: { min: 6, minResults: 4 }, timeouts: { roundSeconds: 1, waitSeconds: 30 }, privacy: { secureAggregation: { dropoutRate: 0.4, clip: 1 } } })
      const job = coordinator.submit(s)
      await waitFor(() => transport.tasks.some((t) => t.client === 'e'), 'e dispatched')
      const task = transport.tasks.find((t) => t.client === 'e')!.task
      const session = task.hints.secure!.session
      const plain = transport.send('e', transport.header(task, 2, P), constDelta(1))
      expect(plain).toMatchObject({ ok: false, reason: 'this round uses secure aggregation: send a masked input, not the update' })
      const c = coordinator as Coordinator
      const wrongLength = c.deliverMasked('e', { ...transport.header(task, 2, P - 1), secureSession: session }, new Uint32Array(P - 1), { bytes: 0, seconds: 0 })
      expect(wrongLength).toMatchObject({ ok: false, reason: `update has ${P - 1} values; a masked input of this round has ${P}` })
      const replay = c.deliverMasked('e', { ...transport.header(task, 2, P), secureSession: session - 1 }, new Uint32Array(P), { bytes: 0, seconds: 0 })
      expect(replay.ok ? '' : replay.reason).toMatch(new RegExp(`masked input for session ${session - 1}; round 1 runs session ${session}`))
      const end = await finish(coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      expect(store.listRounds(job.id)[0]?.metrics?.secureAggregation?.survivors).toBe(5)
    })

    it('a round resumed after a restart runs a new session: the attempt is stored with the round', async () => {
      const store = memoryJobStore()
      const silent = Object.fromEntries(Object.entries(six()).map(([id, c]) => [id, { ...c, silent: true }]))
      const first = secureSetup(silent, store)
      const s = spec({ seed: 4, clients: { min: 6 }, timeouts: { roundSeconds: 30, waitSeconds: 30 }, privacy: { secureAggregation: { dropoutRate: 0.2, clip: 1 } } })
      const job = first.coordinator.submit(s)
      await waitFor(() => store.events(job.id, 0).some(isJobEvent('secure-round-started')), 'the first session')
      expect(store.getRound(job.id, 1)?.attempt).toBe(0)
      await first.coordinator.stop()

      const second = secureSetup(six(), store)
      expect(second.coordinator.resumeAll()).toEqual([job.id])
      const end = await finish(second.coordinator, job.id)
      expect(end.status, end.error).toBe('finished')
      const sessions = store.events(job.id, 0).filter(isJobEvent('secure-round-started')).map((e) => e.data.session)
      expect(sessions).toEqual([4, 5])
    })
  })
})

describe('hostile clients: the numbers of an update header (issue 15, finding 2)', () => {
  const forgeries: { what: string; forge: Partial<UpdateHeader>; reason: RegExp }[] = [
    { what: 'infinite train seconds', forge: { trainSeconds: Number.POSITIVE_INFINITY }, reason: /Infinity train seconds/ },
    { what: 'negative train seconds', forge: { trainSeconds: -1 }, reason: /-1 train seconds/ },
    { what: 'examples at 2^53', forge: { examples: 2 ** 53 }, reason: /9007199254740992 examples; expected a positive integer below 2\^53/ },
    { what: 'more examples than it declared', forge: { examples: 5_000 }, reason: /5000 examples; evil declared 5 when it joined/ },
    { what: 'a NaN train loss', forge: { trainLoss: Number.NaN }, reason: /train loss of NaN/ },
    { what: 'a train accuracy of 7', forge: { trainAccuracy: 7 }, reason: /train accuracy of 7/ },
  ]
  it.each(forgeries)('refuses $what with the reason, and the job finishes on the honest updates', async ({ forge, reason }) => {
    const d = { a: constDelta(0.1), b: constDelta(-0.2) }
    const { coordinator, store, transport } = setup(
      { a: { examples: 1, delta: d.a }, b: { examples: 3, delta: d.b }, evil: { examples: 5, delta: constDelta(9), forge } },
      memoryJobStore(),
    )
    const s = spec({ seed: 3, clients: { min: 3, minResults: 2 }, timeouts: { roundSeconds: 5, waitSeconds: 30 } })
    const job = coordinator.submit(s)
    const end = await finish(coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    expect(transport.refusals).toEqual([{ client: 'evil', reason: expect.stringMatching(reason) }])
    const refused = store.events(job.id, 0).filter(isJobEvent('update-refused'))
    expect(refused.map((e) => e.data.client)).toEqual(['evil'])
    const expected = weightedMean(initialFlatParams(s.model, 3), [
      { n: 1, d: d.a },
      { n: 3, d: d.b },
    ])
    const got = finalModel(store, job)
    for (let i = 0; i < P; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 6)
  })

  it('caps what one update weighs at clients.maxExamples: a client declaring a million examples pulls the model no more than the cap', async () => {
    const d = { a: constDelta(0.1), b: constDelta(-0.2), big: constDelta(9) }
    const run = async (maxExamples?: number) => {
      const { coordinator, store } = setup({ a: { examples: 1, delta: d.a }, b: { examples: 3, delta: d.b }, big: { examples: 1_000_000, delta: d.big } })
      const s = spec({ seed: 3, ...(maxExamples === undefined ? {} : { clients: { min: 3, maxExamples } }) })
      const job = coordinator.submit(s)
      expect((await finish(coordinator, job.id)).status).toBe('finished')
      return { got: finalModel(store, job), init: initialFlatParams(s.model, 3) }
    }
    const capped = await run(3)
    const expected = weightedMean(capped.init, [
      { n: 1, d: d.a },
      { n: 3, d: d.b },
      { n: 3, d: d.big },
    ])
    for (let i = 0; i < P; i++) expect(capped.got[i]).toBeCloseTo(expected[i] as number, 5)
    // Without the cap the declared million wins: the model moves by almost the big client's delta.
    const uncapped = await run()
    expect((uncapped.got[0] as number) - (uncapped.init[0] as number)).toBeCloseTo(9, 3)
  })

  it('holds a client to its declaration after the coordinator restarts: the bound is stored, not only in memory', async () => {
    // evil joins declaring 5 examples; the coordinator dies mid-round; after the restart evil claims 5,000 to
    // outweigh everyone. The restored member's stored declaration refuses it.
    const store = memoryJobStore()
    const d = { a: constDelta(0.1), b: constDelta(-0.2), evil: constDelta(9) }
    const first = setup({ a: { examples: 1, delta: d.a }, b: { examples: 3, delta: d.b, silent: true }, evil: { examples: 5, delta: d.evil, silent: true } }, store)
    const s = spec({ seed: 3, clients: { min: 3, minResults: 2 }, timeouts: { roundSeconds: 5, waitSeconds: 30 } })
    const job = first.coordinator.submit(s)
    await waitFor(() => first.coordinator.live(job.id)?.round?.delivered === 1, "a's update")
    await first.coordinator.stop()
    expect(store.members(job.id).find((m) => m.clientId === 'evil')).toEqual({ clientId: 'evil', examples: 5 })

    const second = setup({ a: { examples: 1, delta: d.a }, b: { examples: 3, delta: d.b }, evil: { examples: 5, delta: d.evil, forge: { examples: 5_000 } } }, store)
    expect(second.coordinator.resumeAll()).toEqual([job.id])
    const end = await finish(second.coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    expect(second.transport.refusals).toEqual([{ client: 'evil', reason: expect.stringMatching(/5000 examples; evil declared 5 when it joined/) }])
    const expected = weightedMean(initialFlatParams(s.model, 3), [
      { n: 1, d: d.a },
      { n: 3, d: d.b },
    ])
    const got = finalModel(store, job)
    for (let i = 0; i < P; i++) expect(got[i]).toBeCloseTo(expected[i] as number, 6)
  })

  it('never commits a non-finite aggregate: the job fails with the reason and keeps its last finite model', async () => {
    // Each update is finite; two rounds of them overflow float32.
    const big = constDelta(3e38)
    const { coordinator, store } = setup({ a: { examples: 1, delta: big }, b: { examples: 1, delta: big } })
    const job = coordinator.submit(spec({ rounds: 2, clients: { min: 2 } }))
    const end = await finish(coordinator, job.id)
    expect(end.status).toBe('failed')
    expect(end.error).toMatch(/round 2's aggregate has a non-finite value \(Infinity at parameter 0\); it was not committed/)
    expect(store.listRounds(job.id).filter((r) => r.status === 'closed').map((r) => r.round)).toEqual([1])
    expect(finalModel(store, job).every(Number.isFinite)).toBe(true)
  })
})

describe('hostile submitters: the size of a job’s model (issue 15, finding 3)', () => {
  it('refuses a model over maxModelBytes from its spec, before allocating it, naming the field', () => {
    const { coordinator, store } = setup({ a: { examples: 1, delta: constDelta(0) } })
    // 16,777,216 × 64 weights: 4 GiB of float32 if anything tried to make it.
    const huge = spec({ model: { architecture: 'logreg', inputShape: [16_777_216], numClasses: 64 } })
    const before = process.memoryUsage().arrayBuffers
    expect(() => coordinator.submit(huge)).toThrow(/^model: 1073741888 parameters are 4096\.0 MiB; this coordinator takes models up to 256\.0 MiB$/)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20)
    expect(store.listJobs()).toEqual([])
  })

  it('takes the limit from its init', () => {
    const { transport } = setup({})
    const small = createCoordinator({ store: memoryJobStore(), transport, clock }, { maxModelBytes: 16 })
    running.push(small)
    expect(() => small.submit(spec())).toThrow(expect.objectContaining({ name: 'InvalidJobSpecError', issues: [{ path: 'model', message: expect.stringContaining('10 parameters are 0.0 MiB') }] }))
  })
})

describe('issue 15, finding 8: differential privacy accounting that holds', () => {
  const six = () => Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => [id, { examples: 10, delta: constDelta(0.01) }]))
  const firstSample = async (s: ReturnType<typeof spec>): Promise<string> => {
    const { coordinator, store } = setup(six(), memoryJobStore())
    const job = coordinator.submit(s)
    await waitFor(() => store.getRound(job.id, 1) !== undefined, 'round 1 to be sampled')
    const sampled = [...(store.getRound(job.id, 1)?.participants ?? [])].sort().join(',')
    coordinator.cancel(job.id)
    return sampled
  }

  it('samples a DP job’s clients with a CSPRNG, not from the public seed; other jobs stay reproducible', async () => {
    const clients = { fraction: 0.5, min: 3 }
    const dp = spec({ seed: 4, clients, privacy: { dp: { mode: 'central', clipNorm: 1, noiseMultiplier: 1 } } })
    const plain = spec({ seed: 4, clients })
    const dpSamples = new Set<string>()
    const plainSamples = new Set<string>()
    for (let i = 0; i < 6; i++) {
      dpSamples.add(await firstSample(dp))
      plainSamples.add(await firstSample(plain))
    }
    // 20 possible samples of 3 in 6: six identical draws would happen with probability 20^-5 if random.
    expect(dpSamples.size).toBeGreaterThan(1)
    expect(plainSamples.size).toBe(1)
  })

  it('takes at most the eligible clients as the population: a declared N of 10^9 does not shrink ε', async () => {
    const rounds = async (population?: number) => {
      const s = spec({ rounds: 1, clients: { fraction: 0.5, min: 3 }, privacy: { dp: { mode: 'central', clipNorm: 1, noiseMultiplier: 1, ...(population === undefined ? {} : { population }) } } })
      const { coordinator, store } = setup(six(), memoryJobStore())
      const job = coordinator.submit(s)
      await finish(coordinator, job.id)
      return store.listRounds(job.id)[0]?.metrics?.privacy?.epsilon as number
    }
    const honest = await rounds()
    const inflated = await rounds(1e9)
    expect(inflated).toBeCloseTo(honest, 9)
    // q = 3/6 for one round at z = 1: the accountant's own figure.
    expect(honest).toBeCloseTo(computeEpsilon({ sampleRate: 0.5, noiseMultiplier: 1, steps: 1 }, 1e-5).epsilon, 9)
  })
})

describe('issue 15, finding 6: what a hostile peer can make a coordinator write is bounded', () => {
  it('a peer sending 2,000 refused update headers gets 10 events a minute and one summary each; the job finishes', async () => {
    const store = memoryJobStore({ maxEventsPerJob: 500 })
    const { coordinator, transport } = setup(
      { a: { examples: 1, delta: constDelta(0.1), delayMs: 90_000 }, b: { examples: 3, delta: constDelta(-0.2), delayMs: 90_000 } },
      store,
      { refusalEventsPerMinute: 10 },
    )
    const s = spec({ seed: 3, clients: { min: 2 }, timeouts: { roundSeconds: 300, waitSeconds: 30 } })
    const job = coordinator.submit(s)
    await waitFor(() => transport.tasks.length === 2, 'the round to start')
    const header = { ...transport.header(transport.tasks[0]?.task as TrainAssignment, 1, P), round: 99 }
    // 1,500 refusals now and 500 a minute later: two windows of the per-minute limit.
    for (let i = 0; i < 1_500; i++) expect(coordinator.admit('evil', header).ok).toBe(false)
    await clock.advance(61_000)
    for (let i = 0; i < 500; i++) expect(coordinator.admit('evil', header).ok).toBe(false)
    const end = await finish(coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    const events = store.events(job.id, 0)
    const refused = events.filter(isJobEvent('update-refused'))
    const suppressed = events.filter(isJobEvent('updates-suppressed'))
    expect(refused).toHaveLength(20)
    expect(suppressed.map((e) => e.data)).toEqual([
      { client: 'evil', suppressed: 1_490, seconds: 61 },
      expect.objectContaining({ client: 'evil', suppressed: 490 }),
    ])
    expect(events.length).toBeLessThan(40)
    expect(store.listRounds(job.id)[0]?.metrics?.refused).toBe(2_000)
  })

  it('a flood past the store’s retention keeps the newest maxEventsPerJob events, the job’s last event among them', async () => {
    const store = memoryJobStore({ maxEventsPerJob: 100 })
    const { coordinator, transport } = setup(
      { a: { examples: 1, delta: constDelta(0.1), delayMs: 90_000 }, b: { examples: 3, delta: constDelta(-0.2), delayMs: 90_000 } },
      store,
      { refusalEventsPerMinute: 2_000 },
    )
    const job = coordinator.submit(spec({ seed: 3, clients: { min: 2 }, timeouts: { roundSeconds: 300, waitSeconds: 30 } }))
    await waitFor(() => transport.tasks.length === 2, 'the round to start')
    const header = { ...transport.header(transport.tasks[0]?.task as TrainAssignment, 1, P), round: 99 }
    for (let i = 0; i < 2_000; i++) coordinator.admit(`evil-${i}`, header)
    const end = await finish(coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    const events = store.events(job.id, 0)
    expect(events).toHaveLength(100)
    expect(events.at(-1)?.type).toBe('job-finished')
  })

  it('a remote string in an event is cut to MAX_EVENT_STRING characters, in its payload and its message', () => {
    const reason = 'x'.repeat(100_000)
    const e = withMessage({ at: 1, type: 'client-refused', data: { client: 'evil', reason } })
    const data = e.data as { reason: string }
    expect(data.reason.length).toBeLessThan(MAX_EVENT_STRING + 100)
    expect(data.reason.startsWith('x'.repeat(MAX_EVENT_STRING))).toBe(true)
    expect(e.message.length).toBeLessThan(MAX_EVENT_STRING + 200)
  })
})

describe('issue 15, finding 7: a flood of candidates costs a coordinator bounded work', () => {
  /** Honest clients behind `sybils` fresh identities that take an invitation and never answer it. */
  class FloodedTransport extends ScriptedTransport {
    readonly sybils: string[]
    candidateCalls = 0
    inviting = 0
    maxInviting = 0
    invited = 0

    constructor(clients: Map<string, ScriptedClient>, sybils: number) {
      super(clients)
      this.sybils = Array.from({ length: sybils }, (_, i) => `sybil-${String(i).padStart(5, '0')}`)
    }

    override candidates(): readonly string[] {
      this.candidateCalls++
      return [...this.sybils, ...super.candidates()]
    }

    override async invite(id: string, _jobId?: string, _spec?: unknown, signal?: AbortSignal) {
      if (!id.startsWith('sybil-')) return super.invite(id)
      this.invited++
      this.inviting++
      this.maxInviting = Math.max(this.maxInviting, this.inviting)
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }))
      this.inviting--
      return { ok: false as const, reason: 'no answer' }
    }
  }

  function floodSetup(sybils: number, init: CoordinatorInit) {
    const clients = new Map(Object.entries({ a: { examples: 1, delta: constDelta(0.1) }, b: { examples: 3, delta: constDelta(-0.2) } }))
    const transport = new FloodedTransport(clients, sybils)
    const store = memoryJobStore()
    const coordinator = createCoordinator({ store, transport, clock }, { pollMs: 50, reinviteAfterMs: 100_000, ...init })
    transport.coordinator = coordinator
    running.push(coordinator)
    return { transport, coordinator, store }
  }

  it('5,000 unanswering candidates: at most maxInvitesInFlight invitations at once, and the honest clients still join', async () => {
    const { coordinator, transport } = floodSetup(5_000, { pollMs: 500, maxInvitesInFlight: 64, inviteTimeoutMs: 1_000, inviteGraceMs: 100 })
    const job = coordinator.submit(spec({ seed: 3, clients: { min: 2 }, timeouts: { roundSeconds: 30, waitSeconds: 600 } }))
    const end = await finish(coordinator, job.id)
    expect(end.status, end.error).toBe('finished')
    expect(transport.maxInviting).toBe(64)
    expect(transport.tasks.map((t) => t.client).sort()).toEqual(['a', 'b'])
  })

  it('wake-ups from a stream of ads are debounced to one per pollMs', async () => {
    // Only one of the three clients needed is reachable: the job waits, looking again on each wake-up.
    const { coordinator, transport } = floodSetup(0, { pollMs: 1_000 })
    transport.reachable.delete('b')
    coordinator.submit(spec({ seed: 3, clients: { min: 3 }, timeouts: { roundSeconds: 30, waitSeconds: 600 } }))
    await settle()
    const before = transport.candidateCalls
    for (let i = 0; i < 1_000; i++) {
      coordinator.wake()
      await settle()
    }
    // At most one wake-up now and one deferred to the end of the period: each look reads the candidates twice.
    expect(transport.candidateCalls - before).toBeLessThanOrEqual(4)
    await clock.advance(1_000)
    expect(transport.candidateCalls - before).toBeLessThanOrEqual(8)
  })
})
