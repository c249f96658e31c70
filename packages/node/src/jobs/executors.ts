// Batch tasks a node runs for a job's owner. Each is deterministic for its spec and seed, so replicas on different
// nodes must agree (exactly, or within the job's tolerance where floats are summed in another order); it works only on
// data every node has (the data sets that ship with the install), never on a node's own private data.
import type { InMemoryDataset } from '@weft/data'
import { initialFlatParams, parseModelSpec, type TrainingPool } from '@weft/runtime'
import { z } from 'zod'
import type { DatasetConfig } from '../config.js'

/** What an executor may use. */
export interface ExecutorContext {
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  readonly pool: () => TrainingPool
  readonly signal: AbortSignal
}

/** A refused task spec: the message says which field. */
export class TaskSpecError extends Error {
  override readonly name = 'TaskSpecError'
}

type Executor = (params: Record<string, unknown>, seed: number, ctx: ExecutorContext) => Promise<unknown>

const shard = z.object({ index: z.number().int().min(0), count: z.number().int().min(1).max(100_000) }).refine((s) => s.index < s.count, { message: 'shard.index must be < shard.count' })
const source = z.enum(['fashion-mnist'])
const split = z.enum(['train', 'test'])

/** The examples of `shard` of a data set: a contiguous, even split by index. */
function shardOf(ds: InMemoryDataset, s: { index: number; count: number } | undefined, limit?: number): InMemoryDataset {
  const n = Math.min(ds.size, limit ?? ds.size)
  if (s === undefined) return n === ds.size ? ds : ds.subset(Array.from({ length: n }, (_, i) => i))
  const start = Math.floor((s.index * n) / s.count)
  const end = Math.floor(((s.index + 1) * n) / s.count)
  return ds.subset(Array.from({ length: end - start }, (_, i) => start + i), `${ds.name}[${s.index}/${s.count}]`)
}

const StatsParams = z.object({ source: source.default('fashion-mnist'), split: split.default('train'), shard: shard.optional() }).strict()

/** `stats`: per-class counts and the mean feature value of a shard of a shipped data set (a map over shards). */
const stats: Executor = async (params, _seed, ctx) => {
  const p = parse(StatsParams, params)
  const ds = shardOf(await ctx.loadDataset({ name: `${p.source}-${p.split}`, source: p.source, split: p.split }), p.shard)
  const labels = ds.labels()
  const counts = new Array<number>(ds.numClasses).fill(0)
  for (const l of labels) counts[l] = (counts[l] ?? 0) + 1
  let sum = 0
  for (let i = 0; i < ds.size; i++) {
    const x = ds.example(i)
    for (const v of x) sum += v
    if ((i & 1023) === 1023) await yieldNow(ctx.signal)
  }
  return { examples: ds.size, classCounts: counts, meanFeature: ds.size === 0 ? 0 : sum / (ds.size * x0(ds)) }
}

const TrainEvalParams = z
  .object({
    source: source.default('fashion-mnist'),
    model: z.unknown().default({ architecture: 'mlp', inputShape: [28, 28, 1], hidden: [64], numClasses: 10 }),
    lr: z.number().positive().max(10).default(0.05),
    epochs: z.number().int().min(1).max(20).default(1),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Training examples used (the first n of the shard). */
    examples: z.number().int().min(1).max(60_000).default(6_000),
    /** Test examples evaluated. */
    testExamples: z.number().int().min(1).max(10_000).default(2_000),
    shard: shard.optional(),
  })
  .strict()

/** `train-eval`: trains a model from seeded weights with the given hyper-parameters and reports its test accuracy (a sweep point). */
const trainEval: Executor = async (params, seed, ctx) => {
  const p = parse(TrainEvalParams, params)
  let spec: ReturnType<typeof parseModelSpec>
  try {
    spec = parseModelSpec(p.model)
  } catch (err) {
    throw new TaskSpecError(`model: ${(err as Error).message}`)
  }
  const train = shardOf(await ctx.loadDataset({ name: `${p.source}-train`, source: p.source, split: 'train' }), p.shard, p.examples)
  const test = shardOf(await ctx.loadDataset({ name: `${p.source}-test`, source: p.source, split: 'test' }), undefined, p.testExamples)
  const pool = ctx.pool()
  const trained = await pool.train({
    spec,
    params: initialFlatParams(spec, seed),
    dataset: train.toShared(),
    options: { epochs: p.epochs, batchSize: p.batchSize, optimizer: { kind: 'sgd', lr: p.lr }, seed },
  })
  ctx.signal.throwIfAborted()
  const evaluation = await pool.evaluate({ spec, params: trained.params, dataset: test.toShared() })
  return { accuracy: evaluation.accuracy, loss: evaluation.loss, trainLoss: trained.result.meanLoss, examples: train.size, engine: pool.engine }
}

const EXECUTORS: Readonly<Record<string, Executor>> = { stats, 'train-eval': trainEval }

/** Names of the batch tasks a node runs. */
export const BATCH_TASKS = Object.keys(EXECUTORS)

/** Runs one batch task. @throws TaskSpecError when the task or its params are refused */
export async function runBatchTask(task: string, params: Record<string, unknown>, seed: number, ctx: ExecutorContext): Promise<unknown> {
  const executor = EXECUTORS[task]
  if (executor === undefined) throw new TaskSpecError(`unknown batch task "${task}" (this node runs ${BATCH_TASKS.join(', ')})`)
  // A map over `items` hands each task its item as params.item: an object item is a set of params (it overrides the
  // job's own), so `items: [{shard: …}, {lr: …}]` reads as it is written.
  const { item, ...rest } = params
  if (item !== undefined) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new TaskSpecError(`params.item: task "${task}" takes items that are objects of params`)
    return executor({ ...rest, ...(item as Record<string, unknown>) }, seed, ctx)
  }
  return executor(params, seed, ctx)
}

function parse<T>(schema: z.ZodType<T>, params: unknown): T {
  const r = schema.safeParse(params)
  if (!r.success) {
    const issue = r.error.issues[0]
    throw new TaskSpecError(`params.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`)
  }
  return r.data
}

function x0(ds: InMemoryDataset): number {
  let n = 1
  for (const d of ds.featureShape) n *= d
  return n
}

async function yieldNow(signal: AbortSignal): Promise<void> {
  await new Promise((r) => setTimeout(r, 0))
  signal.throwIfAborted()
}
