// Batch tasks without a Weft node: an executor context of the shipped data sets and one tfjs worker (what `weft batch
// run-task` runs a task with), and the quorum loop that runs each task of a batch as replicas through any runner (a
// Slurm job per replica for `weft batch submit --slurm`) and verifies their results as a node's scheduler does.
import type { InMemoryDataset } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { type BatchTask, canonicalJson, decideQuorum, expandBatch, parseJobSpec, resultCid, type TaskResult } from '@weft/jobs'
import type { TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import type { DatasetConfig } from '../config.js'
import { type ExecutorContext, runBatchTask } from './executors.js'

/** Options of {@link standaloneExecutor}. */
export interface StandaloneExecutorInit {
  /** Aborts the running task (default: never). */
  readonly signal?: AbortSignal
  /** Fashion-MNIST's sources as `loadFashionMnist` takes them (default: WEFT_DATA, the bundled package, the caches). */
  readonly fashionMnist?: Parameters<typeof loadFashionMnist>[1]
}

/** An executor context that owns what it started: `close()` ends its worker thread. */
export interface StandaloneExecutor extends ExecutorContext {
  close(): Promise<void>
}

/**
 * The context batch tasks run in outside a node: `loadDataset` loads the data sets that ship with the install (today
 * Fashion-MNIST, from the bundled `@weft/dataset-fashion-mnist` or the usual local sources, never from a mesh), each once;
 * `pool()` is a tfjs pool of one worker thread, started at its first use.
 */
export function standaloneExecutor(init: StandaloneExecutorInit = {}): StandaloneExecutor {
  const loaded = new Map<string, Promise<InMemoryDataset>>()
  let pool: TrainingPool | undefined
  return {
    signal: init.signal ?? new AbortController().signal,
    loadDataset(config: DatasetConfig) {
      if (config.source !== 'fashion-mnist' || config.partition !== undefined) {
        return Promise.reject(new RangeError(`data set ${config.name}: outside a node only the shipped data sets load (fashion-mnist, whole splits)`))
      }
      const key = config.split
      let p = loaded.get(key)
      if (p === undefined) {
        p = loadFashionMnist({ split: config.split }, init.fashionMnist ?? {})
        p.catch(() => loaded.delete(key))
        loaded.set(key, p)
      }
      return p
    },
    pool() {
      pool ??= createWorkerPool({ size: 1 })
      return pool
    },
    async close() {
      await pool?.close()
      pool = undefined
    },
  }
}

/** A task's result as a worker sends it: its canonical JSON and the CID of that text. */
export interface CanonicalResult {
  readonly text: string
  readonly cid: string
}

/**
 * Runs one batch task and returns its result in canonical form.
 * @throws TaskSpecError when the task or its params are refused; RangeError when the result has no JSON form
 */
export async function runCanonicalTask(task: string, params: Record<string, unknown>, seed: number, ctx: ExecutorContext): Promise<CanonicalResult> {
  const text = canonicalJson(await runBatchTask(task, params, seed, ctx))
  return { text, cid: resultCid(new TextEncoder().encode(text)) }
}

/** What one replica of a task came back with: the text its worker wrote, or why there is none. */
export type ReplicaOutcome = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string }

/** One replica run of a task, as the quorum loop saw it. */
export interface ReplicaRun {
  /** The worker's name (for Slurm: the job id). */
  readonly worker: string
  /** The CID of what it wrote (absent when it wrote nothing readable). */
  readonly resultCid?: string
  /** Why it gave no result (the job failed, no file, not JSON). */
  readonly error?: string
  /** Set once the task is decided: whether its result agreed with the accepted one. */
  readonly valid?: boolean
}

/** A task of a replicated batch, decided. */
export interface ReplicatedTask {
  readonly id: string
  readonly params: Readonly<Record<string, unknown>>
  readonly seed: number
  readonly state: 'accepted' | 'failed'
  readonly result?: unknown
  readonly resultCid?: string
  readonly reason?: string
  readonly runs: readonly ReplicaRun[]
}

/** How {@link runReplicatedBatch} runs replicas. */
export interface ReplicaRunner {
  /** Starts replica `replica` (0, 1, …) of `task`; resolves with the worker's name once it has been started. */
  start(task: BatchTask, replica: number): Promise<string>
  /** Resolves once that worker's run has ended, with what it wrote. Rejections count as a run without result. */
  result(worker: string, task: BatchTask, replica: number): Promise<ReplicaOutcome>
}

/** The outcome of a replicated batch: every task, in order, and the quorum it was run with. */
export interface ReplicatedBatch {
  readonly task: string
  readonly quorum: number
  readonly tolerance: number
  readonly maxAttempts: number
  readonly tasks: readonly ReplicatedTask[]
}

/**
 * Runs a batch body (what `weft batch submit` reads: task, params, items|shards|grid, quorum, tolerance, seed,
 * maxAttempts) without a node: every task is started `quorum` times at once through `runner`, then decided by
 * `decideQuorum` over the results that came back (one worker, one vote; a result must be the canonical JSON its CID
 * names). While a quorum can still be reached, a disagreement or a run without a result starts as many more replicas as
 * the decision needs, up to `maxAttempts` runs of the task. Tasks run concurrently; the runner's scheduler (Slurm)
 * queues what does not fit.
 * @param body - the batch body as data (validated here)
 * @throws JobSpecError when the body does not validate; whatever `runner.start` throws (nothing started after it)
 */
export async function runReplicatedBatch(body: unknown, runner: ReplicaRunner): Promise<ReplicatedBatch> {
  const spec = parseJobSpec({ kind: 'batch', batch: body })
  const batch = spec.batch
  if (batch === undefined) throw new TypeError('parseJobSpec returned a batch job without its batch')
  const tasks = expandBatch(batch)
  const decided = await Promise.all(tasks.map((task) => runTask(task, batch.quorum, batch.tolerance, batch.maxAttempts, runner)))
  return { task: batch.task, quorum: batch.quorum, tolerance: batch.tolerance, maxAttempts: batch.maxAttempts, tasks: decided }
}

async function runTask(task: BatchTask, quorum: number, tolerance: number, maxAttempts: number, runner: ReplicaRunner): Promise<ReplicatedTask> {
  const runs: { worker: string; resultCid?: string; error?: string }[] = []
  const results: TaskResult[] = []
  let want = quorum
  for (;;) {
    const started: { worker: string; replica: number }[] = []
    for (let i = 0; i < want; i++) {
      const replica = runs.length + started.length
      started.push({ worker: await runner.start(task, replica), replica })
    }
    const outcomes = await Promise.all(
      started.map(({ worker, replica }) => runner.result(worker, task, replica).catch((err: unknown): ReplicaOutcome => ({ ok: false, reason: (err as Error).message }))),
    )
    for (const [i, outcome] of outcomes.entries()) {
      const worker = (started[i] as { worker: string }).worker
      if (!outcome.ok) {
        runs.push({ worker, error: outcome.reason })
        continue
      }
      const cid = resultCid(new TextEncoder().encode(outcome.text))
      let result: unknown
      try {
        result = JSON.parse(outcome.text)
      } catch {
        runs.push({ worker, resultCid: cid, error: 'its result is not JSON' })
        continue
      }
      runs.push({ worker, resultCid: cid })
      results.push({ worker, result, resultCid: cid })
    }
    const base = { id: task.id, params: task.spec.params, seed: task.seed }
    const decision = decideQuorum(results, quorum, tolerance, maxAttempts)
    if (decision.state === 'accepted') {
      const valid = new Set(decision.valid)
      return { ...base, state: 'accepted', result: decision.result, resultCid: decision.resultCid, runs: runs.map((r) => ({ ...r, valid: valid.has(r.worker) })) }
    }
    const left = maxAttempts - runs.length
    if (decision.state === 'failed' || left <= 0) {
      const errors = runs.filter((r) => r.error !== undefined).map((r) => `${r.worker}: ${r.error}`)
      const reason =
        decision.state === 'failed'
          ? decision.reason
          : `no ${quorum} agreeing results after ${runs.length} runs (maxAttempts ${maxAttempts}): ${results.length} results${errors.length > 0 ? `; ${errors.join('; ')}` : ''}`
      return { ...base, state: 'failed', reason, runs: runs.map((r) => ({ ...r, valid: false })) }
    }
    want = Math.min(decision.need, left)
  }
}
