// The strategy config schema (zod): one entry per aggregation rule, with each rule's parameters and defaults.
import { z } from 'zod'
import { InvalidStrategyConfigError } from '../errors.js'
import { FED_AVG_DEFAULTS } from './fed-avg.js'
import { FED_AVG_M_DEFAULTS } from './fed-avg-m.js'
import { FED_BUFF_DEFAULTS } from './fed-buff.js'
import { FED_OPT_DEFAULTS } from './fed-opt.js'
import { FED_PROX_DEFAULTS } from './fed-prox.js'
import { FED_TRIMMED_AVG_DEFAULTS } from './fed-trimmed-avg.js'

const serverLr = (fallback: number) => z.number().positive().default(fallback)
const decay = (fallback: number) => z.number().gte(0).lt(1).default(fallback)
const byzantine = z.int().gte(0)
const fedOpt = FED_OPT_DEFAULTS

const fedBuffConfig = z.strictObject({
  name: z.literal('fedbuff'),
  bufferSize: z.int().gte(1).default(FED_BUFF_DEFAULTS.bufferSize),
  serverLr: serverLr(FED_BUFF_DEFAULTS.serverLr),
  stalenessExponent: z.number().gte(0).default(FED_BUFF_DEFAULTS.stalenessExponent),
  /** Clients training at once; default 2 × bufferSize. Read by the coordinator, not by the strategy. */
  concurrency: z.int().gte(1).optional(),
})

/**
 * Every strategy's config: a union discriminated on `name`. Parsing fills defaults, rejects unknown fields
 * (a misspelt parameter must not silently fall back to its default) and fills FedBuff's `concurrency` with
 * 2 × bufferSize when absent. Issues carry the path of the bad field.
 */
export const strategyConfigSchema = z
  .discriminatedUnion('name', [
    z.strictObject({ name: z.literal('fedavg'), serverLr: serverLr(FED_AVG_DEFAULTS.serverLr) }),
    z.strictObject({
      name: z.literal('fedavgm'),
      serverLr: serverLr(FED_AVG_M_DEFAULTS.serverLr),
      momentum: decay(FED_AVG_M_DEFAULTS.momentum),
    }),
    z.strictObject({
      name: z.literal('fedprox'),
      mu: z.number().positive().default(FED_PROX_DEFAULTS.mu),
      serverLr: serverLr(FED_PROX_DEFAULTS.serverLr),
    }),
    z.strictObject({
      name: z.literal('fedadam'),
      serverLr: serverLr(fedOpt.serverLr),
      beta1: decay(fedOpt.beta1),
      beta2: decay(fedOpt.beta2),
      tau: z.number().positive().default(fedOpt.tau),
    }),
    z.strictObject({
      name: z.literal('fedyogi'),
      serverLr: serverLr(fedOpt.serverLr),
      beta1: decay(fedOpt.beta1),
      beta2: decay(fedOpt.beta2),
      tau: z.number().positive().default(fedOpt.tau),
    }),
    z.strictObject({
      name: z.literal('fedadagrad'),
      serverLr: serverLr(fedOpt.serverLr),
      beta1: decay(fedOpt.beta1),
      tau: z.number().positive().default(fedOpt.tau),
    }),
    z.strictObject({ name: z.literal('fedmedian') }),
    z.strictObject({
      name: z.literal('fedtrimmedavg'),
      beta: z.number().gte(0).lt(0.5).default(FED_TRIMMED_AVG_DEFAULTS.beta),
    }),
    z.strictObject({ name: z.literal('krum'), f: byzantine }),
    z.strictObject({ name: z.literal('multikrum'), f: byzantine, m: z.int().gte(1).optional() }),
    z.strictObject({ name: z.literal('bulyan'), f: byzantine }),
    fedBuffConfig,
  ])
  .transform((c) => (c.name === 'fedbuff' ? { ...c, concurrency: c.concurrency ?? 2 * c.bufferSize } : c))

/** A parsed strategy config (defaults filled). */
export type StrategyConfig = z.output<typeof strategyConfigSchema>
/** A strategy config as written by a user (defaults optional). */
export type StrategyConfigInput = z.input<typeof strategyConfigSchema>

/**
 * Parses untrusted input (a job file, a CLI flag) into a strategy config, filling defaults.
 * @throws InvalidStrategyConfigError whose message names every bad field (`bufferSize: Too small: …`,
 *   `serverlr: unknown field`), with
 *   the ZodError as `cause`
 */
export function parseStrategyConfig(input: unknown): StrategyConfig {
  const parsed = strategyConfigSchema.safeParse(input)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => `${[...i.path, key].join('.')}: unknown field`)
      : [`${i.path.length === 0 ? '(config)' : i.path.join('.')}: ${i.message}`],
  )
  throw new InvalidStrategyConfigError(`invalid strategy config: ${issues.join('; ')}`, { cause: parsed.error })
}
