// The swarm spec: what every peer of a swarm trains and how, written once in YAML/JSON and validated here with
// field-naming errors. Every peer of a swarm holds the same spec; its digest is part of the swarm's id.
import { type ModelSpec, type OptimizerConfig, parseModelSpec, parseTransformerConfig, resolveOptimizer, type TransformerConfig } from '@weft/runtime'
import { z } from 'zod'

/** A swarm spec that does not validate; the message names every bad field. */
export class InvalidSwarmSpecError extends Error {
  override name = 'InvalidSwarmSpecError'
}

/** A Llama-style language model: its config (`TransformerConfig`'s names, or Hugging Face's). */
export interface TransformerModelSpec {
  readonly architecture: 'transformer'
  readonly config: TransformerConfig
  /** Positions each training window predicts (a window is this + 1 token ids). */
  readonly context: number
}

/** What a swarm trains: one of the image models of the registry, or a language model. */
export type SwarmModelSpec = ModelSpec | TransformerModelSpec

/** Whether a swarm trains a language model. */
export const isTransformerModel = (m: SwarmModelSpec): m is TransformerModelSpec => m.architecture === 'transformer'

const modelSchema = z.unknown().transform((value, ctx): SwarmModelSpec => {
  try {
    if (typeof value === 'object' && value !== null && (value as { architecture?: unknown }).architecture === 'transformer') {
      const { config, context, ...rest } = value as { config?: unknown; context?: unknown }
      const extra = Object.keys(rest).filter((k) => k !== 'architecture')
      if (extra.length > 0) throw new Error(`unknown field ${extra[0]} of a transformer model (config, context)`)
      const c = parseTransformerConfig(config)
      if (!Number.isInteger(context) || (context as number) < 1 || (context as number) > c.maxPositions) {
        throw new Error(`context must be an integer in [1, ${c.maxPositions}] (the config's maxPositions), got ${JSON.stringify(context)}`)
      }
      return { architecture: 'transformer', config: c, context: context as number }
    }
    return parseModelSpec(value)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
    return z.NEVER
  }
})

const innerOptimizerSchema = z
  .unknown()
  .default({ kind: 'adamw', lr: 0.001, weightDecay: 0.01 })
  .transform((value, ctx): OptimizerConfig => {
    try {
      resolveOptimizer(value)
      return value as OptimizerConfig
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message })
      return z.NEVER
    }
  })

const samples = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)

/**
 * The outer rule, applied to each peer's outer parameters after its group averaged:
 * - `diloco`: DiLoCo (Douillard et al. 2023): the pseudo-gradient Δ = θ_outer − mean(θ of the group) is applied with
 *   SGD with (Nesterov) momentum; the paper's outer learning rate 0.7 and momentum 0.9 are the defaults;
 * - `average`: plain periodic parameter averaging (θ_outer ← the group's mean), i.e. DiLoCo with lr 1, momentum 0.
 */
const outerSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('diloco'),
    lr: z.number().gt(0).max(10).default(0.7),
    momentum: z.number().min(0).lt(1).default(0.9),
    nesterov: z.boolean().default(true),
  }),
  z.strictObject({ kind: z.literal('average') }),
])

const swarmSpecSchema = z.strictObject({
  /** Shown by `weft swarm status`. */
  name: z.string().min(1).max(128).default('swarm'),
  model: modelSchema,
  /** Name under which each peer registered its OWN local data set (node config `datasets[].name`). */
  dataset: z.string().min(1).max(128),
  /** A data set each peer evaluates its model on after outer steps, when it holds one by this name. */
  evaluation: z
    .strictObject({ dataset: z.string().min(1).max(128), every: z.number().int().min(1).default(1) })
    .optional(),
  inner: z
    .strictObject({
      /** The local optimizer of the inner steps (DiLoCo: AdamW). */
      optimizer: innerOptimizerSchema,
      batchSize: z.number().int().min(1).max(65_536).default(32),
      /** Keep the inner optimizer's state (Adam's moments) from one outer step to the next, as DiLoCo does. */
      keepOptimizerState: z.boolean().default(true),
    })
    .prefault({}),
  outer: outerSchema.prefault({ kind: 'diloco' }),
  /**
   * Samples the whole swarm processes per outer step (Hivemind's target batch size): the outer step comes when the
   * peers together reach it, however many they are, so hyper-parameters do not depend on the swarm's size. With n
   * peers of equal speed each takes about targetSamples / (n · batchSize) inner steps (DiLoCo's H).
   */
  targetSamples: samples,
  /** The swarm is done when its peers together processed this many samples. */
  totalSamples: samples,
  averaging: z
    .strictObject({
      /** Peers per averaging group; groups change every outer step so that they mix the swarm in O(log n) steps. */
      groupSize: z.number().int().min(2).max(64).default(4),
      /** How each shard owner reduces its group's parts: weighted mean, or a robust rule per coordinate. */
      reduction: z.enum(['mean', 'trimmed-mean', 'median']).default('mean'),
      /** Fraction trimmed from each end under trimmed-mean. */
      trim: z.number().min(0).lt(0.5).default(0.2),
      /** What is averaged travels as float32, float16, or int8 with error feedback. */
      compression: z.enum(['none', 'float16', 'int8']).default('none'),
      /** A part from a member that has not arrived this long after the first one is dropped; the rest finish. */
      partTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
      /**
       * A part whose root-mean-square distance from the owner's own outer parameters exceeds this is dropped and its
       * sender recorded (so is one holding NaN or infinity): a sane bound on how far one outer step moves a model.
       */
      maxRmsDistance: z.number().gt(0).default(1),
      /**
       * After the last outer step, average the outer parameters ⌈log_g n⌉ more times in groups of one grid cycle (no
       * training): where n = g^d every peer then holds the swarm's mean model, not its last group's.
       */
      finalConsensus: z.boolean().default(true),
    })
    .prefault({}),
  /**
   * Every `every` outer steps each peer keeps its outer state as a checkpoint at `replicas` holders of the mesh (the
   * block store's replication, repaired as holders leave); the previous checkpoint's target ends.
   */
  checkpoint: z.strictObject({ every: z.number().int().min(1), replicas: z.number().int().min(1).max(64).default(2) }).optional(),
  /** Peers a starting peer waits to hear of before its first step (a joiner does not wait). */
  minPeers: z.number().int().min(1).max(4096).default(1),
  /** A member not heard from for this long is dropped from the member list. */
  memberExpiryMs: z.number().int().min(500).max(3_600_000).default(15_000),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
})

/** A validated swarm spec with every default filled in. */
export type SwarmSpec = z.output<typeof swarmSpecSchema>
/** A swarm spec as a user writes it. */
export type SwarmSpecInput = z.input<typeof swarmSpecSchema>

const pathText = (path: readonly PropertyKey[]): string =>
  path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[')

/**
 * Validates a swarm spec (already parsed from YAML/JSON).
 * @throws InvalidSwarmSpecError naming every bad field
 */
export function parseSwarmSpec(input: unknown): SwarmSpec {
  const r = swarmSpecSchema.safeParse(input)
  if (!r.success) {
    throw new InvalidSwarmSpecError(`invalid swarm spec: ${r.error.issues.map((i) => `${pathText(i.path)}: ${i.message}`).join('; ')}`)
  }
  const spec = r.data
  if (isTransformerModel(spec.model) && spec.inner.optimizer.kind !== 'adamw') {
    throw new InvalidSwarmSpecError(`invalid swarm spec: inner.optimizer: a transformer trains with adamw, got ${spec.inner.optimizer.kind}`)
  }
  if (spec.totalSamples < spec.targetSamples) {
    throw new InvalidSwarmSpecError(`invalid swarm spec: totalSamples (${spec.totalSamples}) is below targetSamples (${spec.targetSamples})`)
  }
  return spec
}

/** The number of outer steps a swarm takes. */
export function outerSteps(spec: SwarmSpec): number {
  return Math.ceil(spec.totalSamples / spec.targetSamples)
}
