// Chaos scenarios in YAML: the topology, the workload, the faults (a schedule, or random with a seed), how long, and
// the short form CI runs. Validated with zod; a bad file is refused naming the field.
import { readFileSync } from 'node:fs'
import { deriveSeed, mulberry32 } from '@weft/runtime'
import { parse } from 'yaml'
import { z } from 'zod'

export const FAULT_KINDS = ['kill-coordinator', 'kill-client', 'pause-client', 'partition-client', 'partition-client-one-way', 'full-disk-coordinator'] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

const range = z.tuple([z.number().positive(), z.number().positive()]).refine(([a, b]) => a <= b, 'the first number must not exceed the second')

const scenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  description: z.string().default(''),
  seed: z.number().int().nonnegative(),
  topology: z.strictObject({
    /** Client nodes, each holding its own share of a synthetic two-class CSV. */
    clients: z.number().int().min(1).max(20),
    /** Examples per client share. */
    examples: z.number().int().min(32).max(100_000).default(240),
    /** The coordinator's data directory on a tmpfs of this many MiB (needed by `full-disk-coordinator`). */
    coordinatorDiskMiB: z.number().int().min(16).max(4096).optional(),
  }),
  workload: z.strictObject({
    kind: z.literal('fl'),
    /** The job spec (model, rounds, train, privacy, timeouts); the dataset is the clients' share. */
    spec: z.record(z.string(), z.unknown()),
  }),
  faults: z.strictObject({
    /** Seconds during which faults are injected (jobs run back to back meanwhile). */
    durationSeconds: z.number().positive(),
    /** Seconds before the first fault. */
    warmupSeconds: z.number().nonnegative().default(3),
    meanGapSeconds: z.number().positive(),
    kinds: z.array(z.enum(FAULT_KINDS)).min(1),
    /** How long a fault lasts (a killed node stays down, a paused one stopped, a partition up), uniform in [a, b]. */
    downSeconds: range,
  }),
  /** Longest a job may take to end once faults stop. */
  livenessSeconds: z.number().positive(),
  /** The short form, run in CI (absent: the scenario runs only in its long form). */
  short: z.strictObject({ durationSeconds: z.number().positive() }).optional(),
}).refine((s) => !s.faults.kinds.includes('full-disk-coordinator') || s.topology.coordinatorDiskMiB !== undefined, {
  message: 'full-disk-coordinator needs topology.coordinatorDiskMiB (the tmpfs the coordinator runs on)',
  path: ['topology', 'coordinatorDiskMiB'],
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

export interface PlannedFault {
  /** Seconds from the start. */
  readonly at: number
  readonly kind: FaultKind
  /** A client's index for client faults. */
  readonly client: number
  readonly downSeconds: number
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
    out.push({ at: t, kind, client: Math.floor(rand() * s.topology.clients), downSeconds: down })
    t += down
  }
}
