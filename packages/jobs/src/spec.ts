// The job model: one spec for fl, swarm, serve and batch work, parsed from what a user writes (YAML/JSON) with
// field-naming errors, and the expansion of a batch job into its tasks.
import { z } from 'zod'

/** What a job runs: federated learning, a training swarm, a model server, or a batch of independent tasks. */
export type JobKind = 'fl' | 'swarm' | 'serve' | 'batch'
/** How placement orders the nodes that fit: best fit, most free first, or cheapest (under a deadline). */
export type PlacementStrategy = 'binpack' | 'spread' | 'cost'

/** What one replica of a job needs of a node. */
export interface ResourceRequest {
  readonly cores: number
  readonly memoryBytes: number
  readonly accelerators: number
  readonly acceleratorKind?: string
  /** An ML engine the node must offer, e.g. 'torch' (or 'torch/cuda' for one backend). */
  readonly engine?: string
  /** A data set the node must hold, by name. */
  readonly dataset?: string
}

/** A label a node carries: `key` = `value`. */
export interface LabelRule {
  readonly key: string
  readonly value: string
}

/** Where a job's replicas may and should go. */
export interface Constraints {
  /** Every one must match the node's labels. */
  readonly labels: Readonly<Record<string, string>>
  /** Shorthand for labels.tier. */
  readonly tier?: string
  /** The node's labels.site must be one of these. */
  readonly sites?: readonly string[]
  /** At most `maxPerValue` replicas (existing and new) per value of the node label `key`, e.g. one per site. */
  readonly spread?: { readonly key: string; readonly maxPerValue: number }
  /** Preferred (they raise a node's score), not required. */
  readonly affinity?: readonly LabelRule[]
  /** Avoided (they lower a node's score), not refused. */
  readonly antiAffinity?: readonly LabelRule[]
  /** Peer ids never to use (the scheduler adds nodes that failed the job). */
  readonly exclude?: readonly string[]
}

/** The body of a batch job: one task kind mapped over items, shards or a parameter grid. */
export interface BatchSpec {
  /** The task kind a node runs (e.g. 'evaluate'); nodes check names. */
  readonly task: string
  readonly params: Readonly<Record<string, unknown>>
  readonly map:
    | { readonly kind: 'items'; readonly items: readonly unknown[] }
    | { readonly kind: 'shards'; readonly count: number }
    | { readonly kind: 'grid'; readonly grid: Readonly<Record<string, readonly unknown[]>> }
  /** 0: results must be equal; else numbers may differ by tolerance·max(1,|a|,|b|). */
  readonly tolerance: number
  /** Results that must agree (default 2). */
  readonly quorum: number
  readonly seed: number
  /** Results asked for per task before it fails (default quorum + 2). */
  readonly maxAttempts: number
  /** Replicate less for workers with a long valid record (BOINC's adaptive replication; default true); false: every task gets `quorum` results. */
  readonly adaptive: boolean
}

/** A validated job with every default filled in. */
export interface JobSpec {
  readonly name: string
  readonly kind: JobKind
  readonly resources: ResourceRequest
  readonly constraints: Constraints
  /** 0..100, default 50. */
  readonly priority: number
  /** Default 1. */
  readonly replicas: number
  readonly deadlineSeconds?: number
  readonly budget?: number
  /** Default 'binpack'. */
  readonly strategy: PlacementStrategy
  /** Work of one replica on a node of speed 1, in core-seconds: what deadline and cost placement use. */
  readonly estimatedCoreSeconds?: number
  readonly fl?: Readonly<Record<string, unknown>>
  readonly swarm?: Readonly<Record<string, unknown>>
  readonly serve?: Readonly<Record<string, unknown>>
  readonly batch?: BatchSpec
}

/** A job spec (or a part of one) that does not validate; `path` names the first bad field, the message every one. */
export class JobSpecError extends Error {
  override name = 'JobSpecError'
  readonly path: string
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.path = path
  }
}

/** The most tasks one batch job expands to. */
export const MAX_BATCH_TASKS = 10_000

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
}

/**
 * A size in bytes from a number of bytes or a string with a unit: '2GiB', '512MiB', '1.5GB', '100k', '1024'.
 * SI units (k, KB, MB, GB, TB) are powers of 1000, binary ones (Ki, KiB, MiB, GiB, TiB) powers of 1024; case is ignored.
 * @returns a whole number of bytes (rounded up), at most Number.MAX_SAFE_INTEGER
 * @throws RangeError when `v` is not a size, is negative or too large
 */
export function parseBytes(v: string | number): number {
  let bytes: number
  if (typeof v === 'number') {
    bytes = v
  } else {
    const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(v)
    const unit = m === null ? undefined : BYTE_UNITS[(m[2] ?? '').toLowerCase() || 'b']
    if (m === null || unit === undefined) {
      throw new RangeError(`expected a size such as 512MiB, 2GiB, 1.5GB or a number of bytes, got ${JSON.stringify(v)}`)
    }
    bytes = Number(m[1]) * unit
  }
  if (!Number.isFinite(bytes) || bytes < 0 || bytes > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`expected a size of 0 to ${Number.MAX_SAFE_INTEGER} bytes, got ${JSON.stringify(v)}`)
  }
  return Math.ceil(bytes)
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }

/**
 * A duration in seconds from a number of seconds or a string: '90s', '30m', '2h', '1h30m', '1d', '500ms', '2:00:00'
 * (h:mm:ss), '1:30' (m:ss), '120'.
 * @throws RangeError when `v` is not a duration or is negative
 */
export function parseDuration(v: string | number): number {
  let seconds: number | undefined
  if (typeof v === 'number') {
    seconds = v
  } else {
    const s = v.trim().toLowerCase()
    if (/^\d+(\.\d+)?$/.test(s)) {
      seconds = Number(s)
    } else if (/^\d+(:[0-5]\d){1,2}(\.\d+)?$/.test(s)) {
      seconds = s.split(':').reduce((acc, part) => acc * 60 + Number(part), 0)
    } else if (/^(\d+(\.\d+)?(ms|s|m|h|d)\s*)+$/.test(s)) {
      seconds = 0
      for (const [, n, unit] of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) seconds += Number(n) * (DURATION_UNITS[unit as string] as number)
    }
  }
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`expected a duration such as 90s, 30m, 1h30m, 2:00:00 or a number of seconds, got ${JSON.stringify(v)}`)
  }
  return seconds
}

/** A zod schema that parses with `fn`, turning its RangeError into an issue at the field. */
const parsedWith = (fn: (v: string | number) => number) =>
  z.union([z.string().max(64), z.number()]).transform((v, ctx): number => {
    try {
      return fn(v)
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message })
      return z.NEVER
    }
  })

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/
const labelKey = z.string().min(1).max(63).regex(LABEL, 'a label key is letters, digits, . _ / - (starting with a letter or digit)')
const labelValue = z.string().max(128)
const shortName = z.string().min(1).max(128)

/** A label rule as a user writes it: 'site=tucson' or {key: site, value: tucson}. */
const labelRuleSchema = z.union([
  z.strictObject({ key: labelKey, value: labelValue }),
  z
    .string()
    .max(200)
    .transform((s, ctx): LabelRule => {
      const i = s.indexOf('=')
      const key = s.slice(0, i)
      if (i <= 0 || !LABEL.test(key)) {
        ctx.addIssue({ code: 'custom', message: `expected key=value, got ${JSON.stringify(s)}` })
        return z.NEVER
      }
      return { key, value: s.slice(i + 1) }
    }),
])

const resourcesSchema = z.strictObject({
  cores: z.number().gt(0).max(1024).default(1),
  /** Bytes, or a size with a unit ('2GiB'); default 512 MiB. */
  memory: parsedWith(parseBytes)
    .pipe(z.number().max(2 ** 50, 'at most 1 PiB'))
    .default(512 * 2 ** 20),
  accelerators: z.number().int().min(0).max(64).default(0),
  acceleratorKind: shortName.optional(),
  engine: shortName.optional(),
  dataset: shortName.optional(),
})

const constraintsSchema = z.strictObject({
  labels: z
    .record(labelKey, labelValue)
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 labels')
    .default({}),
  tier: labelValue.min(1).optional(),
  sites: z.union([labelValue.min(1), z.array(labelValue.min(1)).min(1).max(256)]).optional(),
  spread: z
    .strictObject({ key: labelKey.default('site'), max: z.number().int().min(1).max(1000).default(1) })
    .optional(),
  affinity: z.array(labelRuleSchema).max(32).optional(),
  antiAffinity: z.array(labelRuleSchema).max(32).optional(),
  exclude: z.array(z.string().min(1).max(128)).max(10_000).optional(),
})

const body = z.record(z.string(), z.unknown())

const batchSchema = z
  .strictObject({
    task: z.string().min(1).max(64).regex(/^[a-z0-9][a-z0-9._-]*$/, 'a task name is lower-case letters, digits, . _ -'),
    params: body.default({}),
    items: z.array(z.unknown()).min(1).max(MAX_BATCH_TASKS).optional(),
    shards: z.number().int().min(1).max(MAX_BATCH_TASKS).optional(),
    grid: z.record(z.string().min(1).max(64), z.array(z.unknown()).min(1).max(MAX_BATCH_TASKS)).optional(),
    tolerance: z.number().min(0).max(1).default(0),
    quorum: z.number().int().min(1).max(10).default(2),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    maxAttempts: z.number().int().min(1).max(50).optional(),
    adaptive: z.boolean().default(true),
  })
  .superRefine((b, ctx) => {
    const given = (['items', 'shards', 'grid'] as const).filter((k) => b[k] !== undefined)
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `a batch maps over exactly one of items, shards or grid, got ${given.length === 0 ? 'none' : given.join(' and ')}` })
    }
    if (b.grid !== undefined) {
      const axes = Object.values(b.grid)
      const n = axes.reduce((p, a) => p * a.length, 1)
      if (axes.length === 0) ctx.addIssue({ code: 'custom', path: ['grid'], message: 'a grid needs at least one axis' })
      else if (n > MAX_BATCH_TASKS) ctx.addIssue({ code: 'custom', path: ['grid'], message: `the grid has ${n} points, more than ${MAX_BATCH_TASKS} tasks` })
      for (const key of Object.keys(b.grid)) {
        if (key in b.params) ctx.addIssue({ code: 'custom', path: ['grid', key], message: `grid axis ${key} is also a key of params` })
      }
    }
    if (b.maxAttempts !== undefined && b.maxAttempts < b.quorum) {
      ctx.addIssue({ code: 'custom', path: ['maxAttempts'], message: `maxAttempts (${b.maxAttempts}) is below quorum (${b.quorum})` })
    }
  })

const KINDS = ['fl', 'swarm', 'serve', 'batch'] as const

const jobSpecSchema = z
  .strictObject({
    kind: z.enum(KINDS),
    name: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9._-]+$/, 'a name is lower-case letters, digits, . _ -')
      .optional(),
    resources: resourcesSchema.prefault({}),
    constraints: constraintsSchema.prefault({}),
    priority: z.number().int().min(0).max(100).default(50),
    replicas: z.number().int().min(1).max(1000).default(1),
    deadline: parsedWith(parseDuration)
      .pipe(z.number().gt(0, 'a deadline must be positive').max(366 * 86_400, 'at most a year'))
      .optional(),
    budget: z.number().min(0).max(1e15).optional(),
    strategy: z.enum(['binpack', 'spread', 'cost']).default('binpack'),
    /** Core-seconds of one replica on a node of speed 1 (a number, or a duration of one core's time). */
    estimate: parsedWith(parseDuration)
      .pipe(z.number().gt(0, 'an estimate must be positive').max(1e12))
      .optional(),
    fl: body.optional(),
    swarm: body.optional(),
    serve: body.optional(),
    batch: batchSchema.optional(),
  })
  .superRefine((s, ctx) => {
    for (const k of KINDS) {
      if (k === s.kind && s[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: `a ${k} job needs its ${k}: body` })
      if (k !== s.kind && s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `a ${s.kind} job takes no ${k}: body` })
    }
    const tier = s.constraints.labels.tier
    if (s.constraints.tier !== undefined && tier !== undefined && tier !== s.constraints.tier) {
      ctx.addIssue({ code: 'custom', path: ['constraints', 'tier'], message: `tier ${s.constraints.tier} contradicts labels.tier ${tier}` })
    }
  })

const pathText = (path: readonly PropertyKey[]): string =>
  path.length === 0
    ? '(root)'
    : path
        .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
        .join('.')
        .replace(/\.\[/g, '[')

/**
 * Validates a job spec as a user writes it (already parsed from YAML/JSON) and fills in the defaults.
 * @param input `{kind, name?, resources?: {cores, memory, accelerators, acceleratorKind, engine, dataset}, constraints?:
 *   {labels, tier, sites, spread: {key, max}, affinity, antiAffinity, exclude}, priority?, replicas?, deadline?, budget?,
 *   strategy?, estimate?, fl|swarm|serve|batch}`
 * @throws JobSpecError naming every bad field (its `path` is the first)
 */
export function parseJobSpec(input: unknown): JobSpec {
  const r = jobSpecSchema.safeParse(input)
  if (!r.success) {
    const issues = r.error.issues
    throw new JobSpecError(pathText(issues[0]?.path ?? []), `invalid job spec: ${issues.map((i) => `${pathText(i.path)}: ${i.message}`).join('; ')}`)
  }
  const s = r.data
  const res = s.resources
  const resources: ResourceRequest = {
    cores: res.cores,
    memoryBytes: res.memory,
    accelerators: res.accelerators,
    ...(res.acceleratorKind === undefined ? {} : { acceleratorKind: res.acceleratorKind }),
    ...(res.engine === undefined ? {} : { engine: res.engine }),
    ...(res.dataset === undefined ? {} : { dataset: res.dataset }),
  }
  const c = s.constraints
  const constraints: Constraints = {
    labels: c.labels,
    ...(c.tier === undefined ? {} : { tier: c.tier }),
    ...(c.sites === undefined ? {} : { sites: typeof c.sites === 'string' ? [c.sites] : c.sites }),
    ...(c.spread === undefined ? {} : { spread: { key: c.spread.key, maxPerValue: c.spread.max } }),
    ...(c.affinity === undefined ? {} : { affinity: c.affinity }),
    ...(c.antiAffinity === undefined ? {} : { antiAffinity: c.antiAffinity }),
    ...(c.exclude === undefined ? {} : { exclude: c.exclude }),
  }
  let batch: BatchSpec | undefined
  if (s.batch !== undefined) {
    const b = s.batch
    const map: BatchSpec['map'] =
      b.items !== undefined ? { kind: 'items', items: b.items } : b.shards !== undefined ? { kind: 'shards', count: b.shards } : { kind: 'grid', grid: b.grid ?? {} }
    batch = { task: b.task, params: b.params, map, tolerance: b.tolerance, quorum: b.quorum, seed: b.seed, maxAttempts: b.maxAttempts ?? Math.min(50, b.quorum + 2), adaptive: b.adaptive }
  }
  return {
    name: s.name ?? s.kind,
    kind: s.kind,
    resources,
    constraints,
    priority: s.priority,
    replicas: s.replicas,
    ...(s.deadline === undefined ? {} : { deadlineSeconds: s.deadline }),
    ...(s.budget === undefined ? {} : { budget: s.budget }),
    strategy: s.strategy,
    ...(s.estimate === undefined ? {} : { estimatedCoreSeconds: s.estimate }),
    ...(s.fl === undefined ? {} : { fl: s.fl }),
    ...(s.swarm === undefined ? {} : { swarm: s.swarm }),
    ...(s.serve === undefined ? {} : { serve: s.serve }),
    ...(batch === undefined ? {} : { batch }),
  }
}

/** One task of a batch job. */
export interface BatchTask {
  /** 't0000', 't0001', … */
  readonly id: string
  readonly index: number
  readonly spec: { readonly task: string; readonly params: Readonly<Record<string, unknown>> }
  readonly seed: number
}

/** murmur3's 32-bit finaliser: a fixed, well-mixing hash of a 32-bit integer. */
function fmix32(x: number): number {
  let h = x >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** The seed of task `index` of a batch seeded `seed`: a fixed hash of both, in [0, 2³¹). */
const taskSeed = (seed: number, index: number): number => fmix32(fmix32(seed) ^ fmix32(index + 0x9e37_79b9)) >>> 1

/** The number of tasks a batch expands to. */
function taskCount(map: BatchSpec['map']): number {
  switch (map.kind) {
    case 'items':
      return map.items.length
    case 'shards':
      return map.count
    case 'grid': {
      const axes = Object.values(map.grid)
      return axes.length === 0 ? 0 : axes.reduce((p, a) => p * a.length, 1)
    }
    default: {
      const never: never = map
      throw new TypeError(`unknown batch map ${JSON.stringify(never)}`)
    }
  }
}

/**
 * The tasks of a batch job, in a fixed order: items → params.item; shards → params.shard {index, count}; grid → each
 * point's keys merged into params (axes in sorted key order, the last varying fastest). Task i's seed is a fixed hash
 * of batch.seed and i, so every node and every retry derives the same tasks.
 * @throws JobSpecError (path 'batch') when the batch has more than 10 000 tasks
 */
export function expandBatch(batch: BatchSpec): BatchTask[] {
  const map = batch.map
  const n = taskCount(map)
  if (!Number.isSafeInteger(n) || n > MAX_BATCH_TASKS) {
    throw new JobSpecError('batch', `invalid job spec: batch: expands to ${n} tasks, more than ${MAX_BATCH_TASKS}`)
  }
  const axes = map.kind === 'grid' ? Object.keys(map.grid).sort() : []
  const tasks: BatchTask[] = []
  for (let i = 0; i < n; i++) {
    let extra: Record<string, unknown>
    if (map.kind === 'items') {
      extra = { item: map.items[i] }
    } else if (map.kind === 'shards') {
      extra = { shard: { index: i, count: n } }
    } else {
      extra = {}
      let rest = i
      for (let a = axes.length - 1; a >= 0; a--) {
        const key = axes[a] as string
        const values = map.grid[key] as readonly unknown[]
        extra[key] = values[rest % values.length]
        rest = Math.floor(rest / values.length)
      }
      extra = Object.fromEntries(axes.map((k) => [k, extra[k]]))
    }
    tasks.push({ id: `t${String(i).padStart(4, '0')}`, index: i, spec: { task: batch.task, params: { ...batch.params, ...extra } }, seed: taskSeed(batch.seed, i) })
  }
  return tasks
}
