// The simulator with the job options that change what clients send: compression shrinks the bytes without
// stopping learning, and a seeded fraction of attacking clients hurts FedAvg while the median holds.
import { attackConfigSchema, type JobSpec, parseJobSpec } from '@weft/fl'
import { runSimulation, type SimulationResult } from '@weft/fl-sim'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { afterAll, describe, expect, it } from 'vitest'
import { synthetic } from './fixtures.js'

const train = synthetic('train', 2000, 1)
const test = synthetic('test', 500, 2)
const pool = createWorkerPool({ size: 1 })
afterAll(() => pool.close())

function spec(extra: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    model: { architecture: 'mlp', inputShape: [4], hidden: [16], numClasses: 2 },
    dataset: 'synth',
    rounds: 6,
    clients: { fraction: 1, min: 10 },
    train: { epochs: 1, batchSize: 10, optimizer: { kind: 'sgd', lr: 0.1 } },
    evaluation: { centralized: { dataset: 'test', every: 6 } },
    seed: 3,
    ...extra,
  })
}

const simulate = (s: JobSpec, attack?: unknown): Promise<SimulationResult> =>
  runSimulation({ spec: s, clients: 10, partition: { scheme: 'iid' }, train, test, pool, ...(attack === undefined ? {} : { attack: attackConfigSchema.parse(attack) }) })

const accuracy = (r: SimulationResult): number => r.rounds.at(-1)?.metrics?.evaluation?.centralized?.accuracy ?? 0
const bytesUp = (r: SimulationResult): number => r.rounds.reduce((sum, x) => sum + (x.metrics?.bytesUp ?? 0), 0)

describe('simulation', () => {
  it('top-k compression with error feedback sends a fraction of the bytes and still learns', async () => {
    const plain = await simulate(spec())
    const topk = await simulate(spec({ compression: { kind: 'topk', fraction: 0.1 } }))
    expect(plain.job.status).toBe('finished')
    expect(topk.job.status).toBe('finished')
    // 10% of the values plus their varint-coded indices: well under a quarter of float32.
    expect(bytesUp(topk) / bytesUp(plain)).toBeLessThan(0.25)
    expect(accuracy(plain)).toBeGreaterThan(0.85)
    expect(accuracy(topk)).toBeGreaterThan(0.8)
  })

  it('a seeded 40% of sign-flipping attackers breaks FedAvg; the coordinate-wise median holds', async () => {
    const attack = { kind: 'sign-flip', fraction: 0.4, scale: 4 }
    const fedavg = await simulate(spec(), attack)
    const median = await simulate(spec({ strategy: { name: 'fedmedian' } }), attack)
    expect(fedavg.attackers).toHaveLength(4)
    expect(median.attackers).toEqual(fedavg.attackers)
    expect(accuracy(median)).toBeGreaterThan(0.8)
    expect(accuracy(fedavg)).toBeLessThan(accuracy(median) - 0.15)
  })

  it('secure aggregation: every virtual client masks its update, the coordinator sees only the sum, and the job learns', async () => {
    const events: string[] = []
    const r = await runSimulation({
      spec: spec({ privacy: { secureAggregation: { clip: 1 } } }),
      clients: 10,
      partition: { scheme: 'iid' },
      train,
      test,
      pool,
      onEvent: (e) => events.push(e.type),
    })
    expect(r.job.status).toBe('finished')
    expect(r.rounds.map((x) => x.metrics?.secureAggregation?.contributors.length)).toEqual(new Array(6).fill(10))
    expect(events).not.toContain('client-dropped')
    expect(accuracy(r)).toBeGreaterThan(0.85)
  })

  it('secure aggregation with unsigned round keys (unsignedSecAggKeysUnsafe, for benchmarks) runs the same job: no client refused or dropped', async () => {
    const events: string[] = []
    const r = await runSimulation({
      spec: spec({ privacy: { secureAggregation: { clip: 1 } } }),
      clients: 10,
      partition: { scheme: 'iid' },
      train,
      test,
      pool,
      unsignedSecAggKeysUnsafe: true,
      onEvent: (e) => events.push(e.type),
    })
    expect(r.job.status).toBe('finished')
    expect(r.rounds.map((x) => x.metrics?.secureAggregation?.contributors.length)).toEqual(new Array(6).fill(10))
    expect(events).not.toContain('client-dropped')
    expect(accuracy(r)).toBeGreaterThan(0.85)
  })
})
