// Chaos scenarios in YAML: the topology, the workload, the faults (a schedule, or random with a seed), how long, and
// the short form CI runs. Validated with zod; a bad file is refused naming the field.
import { readFileSync } from 'node:fs'
import { deriveSeed, mulberry32 } from '@weft/runtime'
import { parse } from 'yaml'
import { z } from 'zod'

export const FAULT_KINDS = [
  'kill-coordinator',
  'kill-client',
  'pause-client',
  'partition-client',
  'partition-client-one-way',
  'full-disk-coordinator',
  'full-disk-client',
  'lossy-client',
  'slow-client',
  'clock-jump-client',
  'clock-jump-coordinator',
  'laggy-client',
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]
/** Faults that move a node's wall clock: the cluster runs its nodes under libfaketime. */
export const CLOCK_FAULTS: readonly FaultKind[] = ['clock-jump-client', 'clock-jump-coordinator']

const range = z.tuple([z.number().positive(), z.number().positive()]).refine(([a, b]) => a <= b, 'the first number must not exceed the second')

const scenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  description: z.string().default(''),
  seed: z.number().int().nonnegative(),
  topology: z.strictObject({
    /** Client nodes: under FL and swarm each holds its own share of a synthetic two-class CSV (and a test share); under storage, a store; under inference, a span; under batch, work. */
    clients: z.number().int().min(1).max(20),
    /** Examples per client share. */
    examples: z.number().int().min(32).max(100_000).default(240),
    /** The coordinator's data directory on a tmpfs of this many MiB (needed by `full-disk-coordinator`). */
    coordinatorDiskMiB: z.number().int().min(16).max(4096).optional(),
    /** Each client's data directory on a tmpfs of this many MiB (needed by `full-disk-client`). */
    clientDiskMiB: z.number().int().min(16).max(4096).optional(),
  }),
  workload: z.discriminatedUnion('kind', [
    z.strictObject({
      /** Federated jobs back to back, submitted to the coordinator; the clients train on their shares. */
      kind: z.literal('fl'),
      /** The job spec (model, rounds, train, privacy, timeouts); the dataset is the clients' share. */
      spec: z.record(z.string(), z.unknown()),
    }),
    z.strictObject({
      /**
       * Artifacts written to the coordinator node (here only the origin of writes: every node stores and takes
       * replicas), each pinned and given a replication target; acknowledged when both answered.
       */
      kind: z.literal('storage'),
      spec: z
        .strictObject({
          /** Bytes per artifact (seeded random content), KiB. */
          fileKiB: z.number().int().min(1).max(64 * 1024).default(600),
          /** Copies wanted, the origin's included. */
          factor: z.number().int().min(1).max(16).default(3),
          /** Seconds between writes. */
          everySeconds: z.number().positive().default(1),
        })
        .prefault({}),
    }),
    z.strictObject({
      /**
       * Swarms (serverless training) back to back: every client starts the spec (its name made unique per swarm) on
       * its own share; a client killed and started again joins the running swarm anew, as its operator would.
       */
      kind: z.literal('swarm'),
      /** The swarm spec (model, inner, outer, samples, averaging); `dataset: synth` and `evaluation` are the clients' shares. */
      spec: z.record(z.string(), z.unknown()),
      /** Test accuracy every peer that ends `done` must reach (the learned model is sound, not merely finished). */
      accuracyFloor: z.number().min(0).max(1).default(0.8),
    }),
    z.strictObject({
      /**
       * Completions through a language model split in spans served by the clients, asked of the coordinator (the
       * entry node) one after another; a server killed and started again serves its span anew.
       */
      kind: z.literal('inference'),
      spec: z
        .strictObject({
          /** Transformer blocks; client i serves block i mod layers (so each block has clients / layers servers). */
          layers: z.number().int().min(1).max(8).default(2),
          /** Tokens per completion (greedy: the expected text is computed once by one engine alone). */
          maxTokens: z.number().int().min(1).max(64).default(16),
          /** Seconds between completions. */
          everySeconds: z.number().nonnegative().default(0.5),
          /** Longest one completion may take before it counts as hung. */
          requestSeconds: z.number().positive().default(60),
        })
        .prefault({}),
    }),
    z.strictObject({
      /**
       * Batch jobs back to back, owned by the coordinator, placed on the clients and verified by quorum; the first
       * `cheaters` clients return wrong results (the node's `jobs.cheat`).
       */
      kind: z.literal('batch'),
      /** The fabric job spec (kind batch: resources, replicas, the batch's task, shards and quorum). */
      spec: z.record(z.string(), z.unknown()),
      cheaters: z.number().int().min(0).default(1),
    }),
  ]),
  faults: z.strictObject({
    /** Seconds during which faults are injected (jobs run back to back meanwhile). */
    durationSeconds: z.number().positive(),
    /** Seconds before the first fault. */
    warmupSeconds: z.number().nonnegative().default(3),
    meanGapSeconds: z.number().positive(),
    kinds: z.array(z.enum(FAULT_KINDS)).min(1),
    /** How long a fault lasts (a killed node stays down, a paused one stopped, a partition up), uniform in [a, b]. */
    downSeconds: range,
    /** `lossy-client`: the share of the client's packets dropped, both ways. */
    lossPercent: z.number().min(1).max(100).default(30),
    /** `slow-client`: the client's bandwidth both ways, kbit/s. */
    rateKbit: z.number().int().min(8).default(128),
    /** `laggy-client`: delay added to each of the client's mesh connections, each way, ms (plus up to `jitterMs`). */
    latencyMs: z.number().int().min(1).max(60_000).default(400),
    jitterMs: z.number().int().min(0).max(60_000).default(100),
    /** `clock-jump-*`: how far the wall clock jumps, uniform in [a, b] seconds, ahead or behind (even odds). */
    clockJumpSeconds: range.default([5, 45]),
  }),
  /** Longest a job may take to end once faults stop. */
  livenessSeconds: z.number().positive(),
  /** The short form, run in CI (absent: the scenario runs only in its long form). */
  short: z.strictObject({ durationSeconds: z.number().positive() }).optional(),
})
  .refine((s) => !s.faults.kinds.includes('full-disk-coordinator') || s.topology.coordinatorDiskMiB !== undefined, {
    message: 'full-disk-coordinator needs topology.coordinatorDiskMiB (the tmpfs the coordinator runs on)',
    path: ['topology', 'coordinatorDiskMiB'],
  })
  .refine((s) => !s.faults.kinds.includes('full-disk-client') || s.topology.clientDiskMiB !== undefined, {
    message: 'full-disk-client needs topology.clientDiskMiB (the tmpfs each client runs on)',
    path: ['topology', 'clientDiskMiB'],
  })
  .refine((s) => !s.faults.kinds.includes('laggy-client') || !s.faults.kinds.some((k) => k.startsWith('partition-')), {
    // Through the relays a partition's address rules no longer see the peer's address.
    message: 'laggy-client routes the mesh through relays, where partitions by address do not apply: use one or the other',
    path: ['faults', 'kinds'],
  })
  .refine((s) => s.workload.kind !== 'batch' || s.workload.cheaters < s.topology.clients, {
    message: 'at least one client must be honest',
    path: ['workload', 'cheaters'],
  })
export type Scenario = z.infer<typeof scenarioSchema>

/**
 * Reads and validates a scenario file.
 * @throws Error naming the file and the first invalid field
 */
export function loadScenario(path: string, form: 'short' | 'long' = 'long'): Scenario {
  const parsed = scenarioSchema.safeParse(parse(readFileSync(path, 'utf8')))
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new Error(`${path}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`)
  }
  const s = parsed.data
  return form === 'short' && s.short !== undefined ? { ...s, faults: { ...s.faults, durationSeconds: s.short.durationSeconds } } : s
}

/** Whether the scenario adds latency (its mesh connections then go through the harness's relays). */
export function addsLatency(s: Scenario): boolean {
  return s.faults.kinds.includes('laggy-client')
}

/** Whether the scenario jumps clocks (its nodes then run under libfaketime). */
export function jumpsClocks(s: Scenario): boolean {
  return s.faults.kinds.some((k) => CLOCK_FAULTS.includes(k))
}

export interface PlannedFault {
  /** Seconds from the start. */
  readonly at: number
  readonly kind: FaultKind
  /** A client's index for client faults. */
  readonly client: number
  readonly downSeconds: number
  /** `clock-jump-*`: the jump in seconds (negative: behind). */
  readonly clockSeconds?: number
}

/** The fault schedule the seed gives: exponential gaps, kinds and targets drawn uniformly, one fault at a time. */
export function planFaults(s: Scenario): PlannedFault[] {
  const prng = mulberry32(deriveSeed(s.seed, 0xc4a05))
  const rand = (): number => prng.next()
  const out: PlannedFault[] = []
  let t = s.faults.warmupSeconds
  for (;;) {
    t += -Math.log(1 - rand()) * s.faults.meanGapSeconds
    const [lo, hi] = s.faults.downSeconds
    const down = lo + rand() * (hi - lo)
    if (t + down > s.faults.durationSeconds) return out
    const kind = s.faults.kinds[Math.floor(rand() * s.faults.kinds.length)] as FaultKind
    const client = Math.floor(rand() * s.topology.clients)
    // Drawn only for clock faults: the schedules of scenarios without them stay as they were.
    if (CLOCK_FAULTS.includes(kind)) {
      const [jlo, jhi] = s.faults.clockJumpSeconds
      const jump = jlo + rand() * (jhi - jlo)
      out.push({ at: t, kind, client, downSeconds: down, clockSeconds: rand() < 0.5 ? -jump : jump })
    } else {
      out.push({ at: t, kind, client, downSeconds: down })
    }
    t += down
  }
}
