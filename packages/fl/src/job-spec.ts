// The federated job spec: what a user submits (YAML or JSON), validated once here with field-naming errors.
import { type ModelSpec, parseModelSpec, resolveOptimizer } from '@weft/runtime'
import { z } from 'zod'
import { compressionConfigSchema } from './compression.js'
import { InvalidJobSpecError } from './errors.js'
import { dpConfigSchema, secureAggregationConfigSchema, SUM_STRATEGIES } from './privacy.js'
import { type StrategyConfig, strategyConfigSchema } from './strategies/strategy-config.js'

const modelSchema = z.unknown().transform((value, ctx): ModelSpec => {
  try {
    return parseModelSpec(value)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
    return z.NEVER
  }
})

const optimizerSchema = z
  .unknown()
  .default({ kind: 'sgd', lr: 0.05 })
  .transform((value, ctx) => {
    try {
      resolveOptimizer(value)
      return value as { kind: 'sgd' | 'adam' | 'adamw'; lr: number }
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message })
      return z.NEVER
    }
  })

const fraction = z.number().gt(0).max(1)
const count = z.number().int().min(1)

/** Which clients may take part: every constraint must hold for a node's signed ad. */
const eligibilitySchema = z
  .object({
    /** Labels the client's node must carry with these values. */
    labels: z.record(z.string(), z.string()).default({}),
    /** ML runtime the client must have (e.g. 'tfjs'). */
    runtime: z.string().optional(),
    minMemoryMb: z.number().min(0).default(0),
    minCores: z.number().int().min(0).default(0),
    /** Fewest examples the client's local data set must hold. */
    minExamples: z.number().int().min(0).default(1),
    /** Only these peers (peer ids). Empty: any eligible peer. */
    peers: z.array(z.string().min(1)).default([]),
  })
  .strict()

const jobSpecSchema = z
  .object({
    /** Human-readable name shown by `weft fl list`. */
    name: z.string().min(1).max(128).default('fl-job'),
    model: modelSchema,
    /** Name under which each client registered its OWN local data set (node config `datasets[].name`). */
    dataset: z.string().min(1).max(128),
    strategy: strategyConfigSchema.prefault({ name: 'fedavg' }),
    /** Rounds (server steps for FedBuff). */
    rounds: count.max(100_000),
    clients: z
      .object({
        /** Fraction C of available eligible clients sampled to train each round. */
        fraction: fraction.default(1),
        /** Fewest clients sampled per round; the round waits until this many are available. */
        min: count.default(2),
        /** Most clients sampled per round. */
        max: count.optional(),
        /** Fewest results that close a round at its deadline (default: clients.min). */
        minResults: count.optional(),
        /**
         * Most examples one client's update weighs in the aggregate, whatever it declares (absent: as declared). A
         * client may claim more data than it holds; the cap bounds how far one client can pull the global model.
         */
        maxExamples: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
        eligibility: eligibilitySchema.prefault({}),
      })
      .strict()
      .prefault({}),
    train: z
      .object({
        /** Local epochs E. */
        epochs: count.max(1000).default(1),
        /** Local steps instead of epochs (exclusive with epochs when given). */
        steps: count.optional(),
        /** Local batch size B. */
        batchSize: count.max(65_536).default(32),
        optimizer: optimizerSchema,
      })
      .strict()
      .prefault({}),
    evaluation: z
      .object({
        /** Centralized evaluation on a data set the coordinator holds (its node config name). */
        centralized: z
          .object({ dataset: z.string().min(1), every: count.default(1) })
          .strict()
          .optional(),
        /** Federated evaluation: sampled clients evaluate the global model on their local data. */
        federated: z
          .object({ fraction: fraction.default(1), min: count.default(1), every: count.default(1) })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        /** A round closes this long after it started if clients.minResults results arrived. */
        roundSeconds: z.number().gt(0).max(86_400).default(120),
        /** Longest a round may wait for enough clients (or results) before the job fails. */
        waitSeconds: z.number().gt(0).max(604_800).default(300),
      })
      .strict()
      .prefault({}),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
    privacy: z
      .object({
        /** Differential privacy (DP-FedAvg) with an accountant; the job stops before it passes its ε limit. */
        dp: dpConfigSchema.optional(),
        /** Secure aggregation (SecAgg+): the coordinator learns only the sum of the round's updates. */
        secureAggregation: secureAggregationConfigSchema.optional(),
      })
      .strict()
      .prefault({}),
    /** How clients compress their updates (not with secure aggregation, which quantizes on its own). */
    compression: compressionConfigSchema.prefault({ kind: 'none' }),
    /**
     * How each round's model reaches the clients: 'direct' (the coordinator sends it to each) or 'cid' (put in the
     * coordinator's block store once per round, served only to the job's clients; each client fetches it by CID from
     * the coordinator and the clients that fetched it before, and serves it on for the rest of the round).
     */
    handout: z.enum(['direct', 'cid']).default('direct'),
  })
  .strict()

/** A validated job spec with every default filled in. */
export type JobSpec = z.output<typeof jobSpecSchema> & { readonly strategy: StrategyConfig }

function pathText(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')
}

/**
 * Validates a job spec (already parsed from YAML/JSON).
 * @returns the spec with defaults filled in
 * @throws InvalidJobSpecError whose message names every bad field
 */
export function parseJobSpec(input: unknown): JobSpec {
  const r = jobSpecSchema.safeParse(input)
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: pathText(i.path), message: i.message }))
    throw new InvalidJobSpecError(`invalid job spec: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues)
  }
  const spec = r.data as JobSpec
  if (spec.clients.max !== undefined && spec.clients.max < spec.clients.min) {
    throw new InvalidJobSpecError(`invalid job spec: clients.max (${spec.clients.max}) is below clients.min (${spec.clients.min})`, [
      { path: 'clients.max', message: 'below clients.min' },
    ])
  }
  if (spec.clients.minResults !== undefined && spec.clients.minResults > (spec.clients.max ?? Number.POSITIVE_INFINITY)) {
    throw new InvalidJobSpecError('invalid job spec: clients.minResults is above clients.max', [
      { path: 'clients.minResults', message: 'above clients.max' },
    ])
  }
  const conflict = privacyConflict(spec)
  if (conflict !== undefined) throw new InvalidJobSpecError(`invalid job spec: ${conflict.path}: ${conflict.message}`, [conflict])
  return spec
}

/** Which privacy options do not combine, with each other or with the strategy. */
function privacyConflict(spec: JobSpec): { path: string; message: string } | undefined {
  const { dp, secureAggregation } = spec.privacy
  const sumRule = SUM_STRATEGIES.has(spec.strategy.name)
  const sums = [...SUM_STRATEGIES].join(', ')
  if (dp !== undefined && !sumRule) return { path: 'privacy.dp', message: `differential privacy works with ${sums}, not ${spec.strategy.name}` }
  if (secureAggregation === undefined) return undefined
  if (!sumRule) return { path: 'privacy.secureAggregation', message: `secure aggregation works with ${sums}, not ${spec.strategy.name}` }
  if (dp?.mode === 'central') {
    return { path: 'privacy.dp.mode', message: "central DP clips each update on the coordinator, which secure aggregation hides; use 'client' or 'local'" }
  }
  if (spec.compression.kind !== 'none') return { path: 'compression', message: 'secure aggregation quantizes updates itself; compression must be none' }
  return undefined
}

/** Fewest results that close a round. */
export function minResults(spec: JobSpec): number {
  return spec.clients.minResults ?? spec.clients.min
}
