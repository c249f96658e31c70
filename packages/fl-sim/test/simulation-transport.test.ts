// The simulator's transport on its own, over a fake engine pool and a recording coordinator: virtual clients send
// what the one client flow prepares, colluding attackers craft their update from the round's benign ones, a failed
// training reaches the coordinator at once, and clients that were not invited are refused.
import type { SharedDatasetDescriptor } from '@weft/data'
import { type AttackConfigInput, attackConfigSchema, type JobSpec, parseJobSpec, type TrainAssignment, type UpdateHeader } from '@weft/fl'
import { createSimulationTransport, type SimulationCoordinator, type VirtualClient } from '@weft/fl-sim'
import { paramCount, type TrainingPool } from '@weft/runtime'
import { nobleX25519 } from '@weft/secagg'
import { describe, expect, it } from 'vitest'

const spec: JobSpec = parseJobSpec({
  model: { architecture: 'mlp', inputShape: [2], hidden: [2], numClasses: 2 },
  dataset: 'synth',
  rounds: 1,
  clients: { fraction: 1, min: 2 },
  train: { epochs: 1, batchSize: 1, optimizer: { kind: 'sgd', lr: 0.1 } },
  seed: 1,
})
const n = paramCount(spec.model)

/** Client `c<k>`'s data: only its name matters to the fake pool. */
const data = (name: string): SharedDatasetDescriptor => ({
  kind: 'weft.shared-dataset/1',
  name,
  featureShape: [2],
  numClasses: 2,
  features: { dtype: 'float32', buffer: new SharedArrayBuffer(8) },
  labels: new SharedArrayBuffer(4),
})

/** Training on `c<k>`'s data adds k + 1 to every parameter; names in `failing` make the engine throw. */
function fakePool(failing: ReadonlySet<string> = new Set()): TrainingPool {
  return {
    engine: 'fake',
    size: 1,
    async train(task) {
      const name = (task.dataset as SharedDatasetDescriptor).name
      if (failing.has(name)) throw new Error(`engine crashed on ${name}`)
      const k = Number(name.slice(1)) + 1
      return { params: task.params.map((x) => x + k), result: { steps: 1, epochs: 1, examples: 1, meanLoss: 0.5, finalLoss: 0.5, durationMs: 0 } }
    },
    async evaluate() {
      return { loss: 0.25, accuracy: 0.75, examples: 1 }
    },
    async close() {},
  }
}

/** A coordinator that accepts everything and records what reached it. */
function recordingCoordinator(expected: number) {
  const delivered = new Map<string, { header: UpdateHeader; delta: Float32Array; bytes: number }>()
  const failed = new Map<string, string>()
  const all = Promise.withResolvers<void>()
  const check = (): void => {
    if (delivered.size + failed.size === expected) all.resolve()
  }
  const coordinator: SimulationCoordinator = {
    admit: () => ({ ok: true }),
    deliver(from, header, delta, transfer) {
      delivered.set(from, { header, delta, bytes: transfer.bytes })
      check()
      return { ok: true }
    },
    deliverMasked: () => ({ ok: false, reason: 'not in this test' }),
    taskFailed(_job, client, _round, reason) {
      failed.set(client, reason)
      check()
    },
  }
  return { coordinator, delivered, failed, all: all.promise }
}

const task = (round = 1): TrainAssignment => ({ jobId: 'job-1', round, modelHash: 'ab'.repeat(32), params: new Float32Array(n), seed: 7, hints: {} })

function setup(count: number, options: { attack?: AttackConfigInput; attackers?: string[]; failing?: string[] } = {}) {
  const pool = fakePool(new Set(options.failing))
  const clients: VirtualClient[] = Array.from({ length: count }, (_, k) => ({ id: `c${k}`, data: data(`c${k}`), examples: 10 + k, pool }))
  const rec = recordingCoordinator(count)
  const transport = createSimulationTransport(
    {
      clients,
      ...(options.attack === undefined ? {} : { attack: { config: attackConfigSchema.parse(options.attack), attackers: new Set(options.attackers) } }),
    },
    { coordinator: () => rec.coordinator, keyAgreement: nobleX25519 },
  )
  return { transport, clients, ...rec }
}

async function trainAll(s: ReturnType<typeof setup>, ids: string[]): Promise<void> {
  const signal = new AbortController().signal
  for (const id of ids) expect(await s.transport.invite(id, 'job-1', spec, signal)).toEqual({ ok: true, examples: 10 + Number(id.slice(1)) })
  // Handed out together, attackers first: they must wait for the benign updates of the round.
  const handed = await Promise.all(ids.map((id) => s.transport.train(id, task(), signal)))
  for (const h of handed) expect(h).toEqual({ ok: true, bytesDown: n * 4 })
  await s.all
}

describe('createSimulationTransport', () => {
  it('offers every virtual client and delivers each honest update through the coordinator’s decoding', async () => {
    const s = setup(3)
    expect(s.transport.candidates(spec)).toEqual(['c0', 'c1', 'c2'])
    await trainAll(s, ['c0', 'c1', 'c2'])
    for (const [k, id] of ['c0', 'c1', 'c2'].entries()) {
      const got = s.delivered.get(id)
      expect(got?.header).toMatchObject({ jobId: 'job-1', round: 1, examples: 10 + k, length: n, trainLoss: 0.5 })
      expect([...(got?.delta ?? [])]).toEqual(new Array(n).fill(k + 1))
      // Uncompressed: the update's bytes are its float32 values.
      expect(got?.bytes).toBe(n * 4)
    }
    expect(s.failed.size).toBe(0)
  })

  it('colluding IPM attackers wait for the round’s benign updates and send −ε times their mean', async () => {
    const s = setup(5, { attack: { kind: 'ipm', epsilon: 0.5 }, attackers: ['c3', 'c4'] })
    await trainAll(s, ['c3', 'c4', 'c0', 'c1', 'c2'])
    // Benign updates 1, 2, 3 per coordinate: mean 2, so each attacker sends −1 (not its own honest 4 or 5).
    for (const id of ['c3', 'c4']) expect([...(s.delivered.get(id)?.delta ?? [])]).toEqual(new Array(n).fill(-1))
    for (const [k, id] of ['c0', 'c1', 'c2'].entries()) expect([...(s.delivered.get(id)?.delta ?? [])]).toEqual(new Array(n).fill(k + 1))
  })

  it('a non-colluding attacker changes only its own update (sign flip)', async () => {
    const s = setup(2, { attack: { kind: 'sign-flip' }, attackers: ['c1'] })
    await trainAll(s, ['c0', 'c1'])
    expect([...(s.delivered.get('c0')?.delta ?? [])]).toEqual(new Array(n).fill(1))
    expect([...(s.delivered.get('c1')?.delta ?? [])]).toEqual(new Array(n).fill(-2))
  })

  it('a failed training is reported with taskFailed at once, and a colluding attacker does not wait for it', async () => {
    const s = setup(3, { attack: { kind: 'ipm', epsilon: 1 }, attackers: ['c2'], failing: ['c1'] })
    await trainAll(s, ['c2', 'c0', 'c1'])
    expect(s.failed.get('c1')).toMatch(/engine crashed on c1/)
    expect(s.delivered.has('c1')).toBe(false)
    // Only c0's update (1) was benign and arrived.
    expect([...(s.delivered.get('c2')?.delta ?? [])]).toEqual(new Array(n).fill(-1))
  })

  it('refuses to train or evaluate a client that was not invited to the job, and evaluates one that was', async () => {
    const s = setup(2)
    const signal = new AbortController().signal
    expect((await s.transport.train('c0', task(), signal)).ok).toBe(false)
    expect((await s.transport.invite('nobody', 'job-1', spec, signal)).ok).toBe(false)
    expect((await s.transport.evaluate('c0', { jobId: 'job-1', round: 1, modelHash: '', params: new Float32Array(n) }, signal)).ok).toBe(false)
    await s.transport.invite('c0', 'job-1', spec, signal)
    expect(await s.transport.evaluate('c0', { jobId: 'job-1', round: 1, modelHash: '', params: new Float32Array(n) }, signal)).toEqual({
      ok: true,
      loss: 0.25,
      accuracy: 0.75,
      examples: 1,
    })
    await s.transport.release('c0', 'job-1', 'finished')
    expect((await s.transport.train('c0', task(), signal)).ok).toBe(false)
  })

  it('rejects an empty or repeated client list', () => {
    const pool = fakePool()
    expect(() => createSimulationTransport({ clients: [] }, { coordinator: () => undefined })).toThrow(RangeError)
    const c = { id: 'c0', data: data('c0'), examples: 1, pool }
    expect(() => createSimulationTransport({ clients: [c, c] }, { coordinator: () => undefined })).toThrow(RangeError)
  })
})
