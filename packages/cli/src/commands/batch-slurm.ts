// `weft batch run-task` (one batch task in this process, its canonical JSON result to a file) and `weft batch submit
// --slurm` (each task of a batch run `quorum` times as Slurm jobs of `weft batch run-task`, then verified by quorum
// as a node's scheduler verifies it), added to the `batch` command that commands/job.ts registers.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ReplicaRunner, ReplicatedBatch, ReplicatedTask } from '@weft/node'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { formatTable } from '../format.js'
import { positiveInt } from './option-parsers.js'
import { parseSlurmTime } from './slurm.js'

/** Keys of a batch file that belong to a job placed by a node; a Slurm run has no use for them. */
const JOB_KEYS = new Set(['name', 'resources', 'constraints', 'priority', 'replicas', 'deadline', 'budget', 'strategy', 'estimate'])
/** The work directory is written into shell scripts inside quotes: it must need no escaping there. */
const SAFE_PATH = /^\/[^'"`$\\\n]*$/

interface RunTaskOptions {
  task: string
  params: Record<string, unknown>
  seed: number
  out?: string
}

interface SlurmSubmitOptions {
  slurm?: boolean
  partition?: string
  time: number
  cpusPerTask: number
  quorum?: number
  replicas?: number
  workDir?: string
  waitTimeout: number
  weft?: string
  json?: boolean
}

/** The built bin.js beside this module's folder, also when this module runs from its TypeScript source. */
function builtBin(): string {
  const here = import.meta.url.endsWith('.ts') ? import.meta.url.replace('/src/', '/dist/') : import.meta.url
  return fileURLToPath(new URL('../bin.js', here))
}

function jsonObject(v: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(v)
  } catch (err) {
    throw new InvalidArgumentError(`--params expects a JSON object, got invalid JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError(`--params expects a JSON object, got ${v}`)
  return parsed as Record<string, unknown>
}

function seedOf(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--seed must be a whole number ≥ 0, got "${v}"`)
  return n
}

/** Writes `text` to `path` whole: a reader sees the old file or the new one, never a part. */
function writeWhole(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/** Quotes a word for a POSIX shell. */
const quote = (word: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

/** The sbatch script of one replica: `weft batch run-task` writing its result to `out`. Exported for tests and docs. */
export function batchTaskScript(weft: readonly string[], task: { id: string; spec: { task: string; params: unknown }; seed: number }, replica: number, out: string): string {
  const words = [...weft, 'batch', 'run-task', '--task', task.spec.task, '--params', JSON.stringify(task.spec.params), '--seed', String(task.seed), '--out', out]
  return `#!/bin/sh\n# Weft batch task ${task.id}, replica ${replica} (written by weft batch submit --slurm).\nexec ${words.map(quote).join(' ')}\n`
}

/** A replicated batch as text: one row per task (id, params, state, result or reason, its Slurm jobs). */
export function formatReplicatedBatch(b: ReplicatedBatch): string {
  const accepted = b.tasks.filter((t) => t.state === 'accepted').length
  const brief = (v: unknown, max: number) => {
    const text = JSON.stringify(v) ?? '-'
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`
  }
  const jobs = (t: ReplicatedTask) => t.runs.map((r) => `${r.worker}${r.valid === true ? '' : r.error !== undefined ? ' (no result)' : ' (disagreed)'}`).join(' ')
  return [
    `batch ${b.task}: ${accepted} of ${b.tasks.length} tasks accepted (quorum ${b.quorum}, tolerance ${b.tolerance}, at most ${b.maxAttempts} runs per task)`,
    '',
    formatTable(
      ['task', 'params', 'state', 'result', 'slurm jobs'],
      b.tasks.map((t) => [t.id, brief(t.params, 50), t.state, t.state === 'accepted' ? brief(t.result, 100) : (t.reason ?? '-'), jobs(t)]),
    ),
  ].join('\n')
}

async function readBatchBody(file: string): Promise<{ name?: string; body: Record<string, unknown> }> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new Error(`cannot read batch spec ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err })
  }
  const { parse } = await import('yaml')
  let content: unknown
  try {
    content = parse(text)
  } catch (err) {
    throw new Error(`batch spec ${file} is not valid YAML/JSON: ${((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')}`, { cause: err })
  }
  if (content === null || typeof content !== 'object' || Array.isArray(content)) {
    throw new Error(`batch spec ${file} must be a mapping of fields (task, params, shards…), got ${Array.isArray(content) ? 'a list' : typeof content}`)
  }
  const body: Record<string, unknown> = {}
  let name: string | undefined
  for (const [k, v] of Object.entries(content)) {
    if (k === 'name' && typeof v === 'string') name = v
    if (!JOB_KEYS.has(k)) body[k] = v
  }
  return { ...(name !== undefined ? { name } : {}), body }
}

async function runTask(opts: RunTaskOptions): Promise<void> {
  const { runCanonicalTask, standaloneExecutor } = await import('@weft/node')
  const executor = standaloneExecutor()
  try {
    const { text, cid } = await runCanonicalTask(opts.task, opts.params, opts.seed, executor)
    if (opts.out === undefined) process.stdout.write(`${text}\n`)
    else writeWhole(resolve(opts.out), text)
    process.stderr.write(`${opts.task} result ${cid}\n`)
  } finally {
    await executor.close()
  }
}

async function submitOnSlurm(file: string, opts: SlurmSubmitOptions): Promise<void> {
  if (opts.replicas !== undefined) throw new InvalidArgumentError('--replicas is for a job placed by a node; with --slurm each run of a task is its own Slurm job (set --quorum)')
  const { body, name } = await readBatchBody(file)
  if (opts.quorum !== undefined) body['quorum'] = opts.quorum
  const { sbatch, waitForJob, LaunchError } = await import('@weft/launch')
  const { runReplicatedBatch } = await import('@weft/node')
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')
  const dir = opts.workDir !== undefined ? resolve(opts.workDir) : join(homedir(), '.weft-slurm', `batch-${stamp}-${process.pid}`)
  if (!SAFE_PATH.test(dir)) throw new InvalidArgumentError(`--work-dir must be an absolute path without quotes, $, backslashes or newlines; got '${dir}'`)
  mkdirSync(join(dir, 'logs'), { recursive: true })
  const weft = opts.weft !== undefined ? opts.weft.split(/\s+/).filter((w) => w !== '') : [process.execPath, builtBin()]
  const jobName = name !== undefined && /^[a-z0-9-]{1,40}$/.test(name) ? name : 'weft-batch'
  const deadline = Date.now() + opts.waitTimeout * 1000
  const running = new Set<string>()
  const runner: ReplicaRunner = {
    async start(task, replica) {
      if (Date.now() >= deadline) throw new LaunchError(`--wait-timeout (${opts.waitTimeout} s) passed before task ${task.id} could start replica ${replica}`)
      const id = await sbatch(batchTaskScript(weft, task, replica, join(dir, `${task.id}-${replica}.json`)), {
        name: jobName,
        cpusPerTask: opts.cpusPerTask,
        timeLimitSeconds: opts.time,
        ...(opts.partition !== undefined ? { partition: opts.partition } : {}),
        output: join(dir, 'logs', `%x-%j-${task.id}-${replica}.out`),
        chdir: dir,
      })
      running.add(id)
      return id
    },
    async result(id, task, replica) {
      const job = await waitForJob(id, { timeoutMs: Math.max(1, deadline - Date.now()) })
      running.delete(id)
      const log = join(dir, 'logs', `${jobName}-${id}-${task.id}-${replica}.out`)
      if (job.state !== 'COMPLETED' || job.exitCode !== 0) return { ok: false, reason: `Slurm job ${id} ended ${job.state} (exit ${job.exitCode ?? '?'}; log ${log})` }
      try {
        return { ok: true, text: readFileSync(join(dir, `${task.id}-${replica}.json`), 'utf8') }
      } catch (err) {
        return { ok: false, reason: `Slurm job ${id} completed but wrote no result (${(err as Error).message}; log ${log})` }
      }
    },
  }
  let outcome: ReplicatedBatch
  try {
    outcome = await runReplicatedBatch(body, runner)
  } finally {
    // Whatever did not end in time (or was left when a start failed) is cancelled: nothing keeps running unseen.
    const { execCommand } = await import('@weft/launch')
    if (running.size > 0) await execCommand('scancel', [...running], { timeoutMs: 30_000 }).catch(() => undefined)
  }
  process.stdout.write(opts.json === true ? `${JSON.stringify({ workDir: dir, ...outcome }, null, 2)}\n` : `${formatReplicatedBatch(outcome)}\n`)
  const failed = outcome.tasks.filter((t) => t.state !== 'accepted')
  if (failed.length > 0) {
    process.stderr.write(`${failed.length} of ${outcome.tasks.length} tasks failed: ${failed.map((t) => `${t.id}: ${t.reason ?? '-'}`).join('; ')}\n`)
    process.exitCode = 1
  }
}

/**
 * Adds `weft batch run-task` and `--slurm` (with its options) to `weft batch submit`; call after registerJobCommands.
 * Without --slurm, `batch submit` goes to a node's scheduler as before.
 * @throws Error when `weft batch submit` is not registered yet
 */
export function registerBatchSlurmCommands(program: Command): void {
  const batch = program.commands.find((c) => c.name() === 'batch')
  const submit = batch?.commands.find((c) => c.name() === 'submit')
  if (batch === undefined || submit === undefined) throw new Error('registerBatchSlurmCommands: register `weft batch submit` (registerJobCommands) first')

  batch
    .command('run-task')
    .description('run one batch task in this process (the shipped data sets, one tfjs worker) and write its canonical JSON result; its CID goes to stderr')
    .requiredOption('--task <name>', 'the task (stats, train-eval)')
    .option('--params <json>', 'its params, a JSON object', jsonObject, {})
    .option('--seed <n>', 'its seed', seedOf, 0)
    .option('--out <file>', 'write the result here (default: stdout)')
    .action(runTask)

  submit
    .option('--slurm', 'run each task as Slurm jobs instead (quorum jobs of `weft batch run-task` each, no node needed), wait, and verify them by quorum')
    .option('--partition <p>', 'with --slurm: the Slurm partition (default: the cluster default)')
    .addOption(new Option('--time <limit>', "with --slurm: each job's time limit, Slurm's forms (MM, HH:MM:SS, D-HH:MM:SS)").argParser(parseSlurmTime).default(1800, '30:00'))
    .option('--cpus-per-task <n>', 'with --slurm: CPUs per job', positiveInt('--cpus-per-task'), 1)
    .option('--work-dir <dir>', 'with --slurm: results and logs, on a file system every Slurm node sees (default ~/.weft-slurm/batch-<time>-<pid>)')
    .option('--wait-timeout <s>', 'with --slurm: give up (and scancel what still runs) after this many seconds', positiveInt('--wait-timeout'), 3600)
    .option('--weft <command>', 'with --slurm: the weft command the jobs run, as words (default: this node binary and this CLI, absolute paths)')
    // With --slurm this run's action is the Slurm one; commander reads the action after the preAction hooks.
    .hook('preAction', (_self, actionCommand) => {
      if (actionCommand.opts<SlurmSubmitOptions>().slurm === true) actionCommand.action(submitOnSlurm)
    })
}
