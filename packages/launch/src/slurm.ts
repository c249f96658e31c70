// Slurm: Weft nodes as the tasks of one batch job (`sbatch --ntasks=<nodes>`, each task `srun`s `weft node start`),
// its state from squeue/scontrol (the jobcomp file once the controller forgot it), scancel to stop it; and
// `sbatch`/`waitForJob` to run any batch script as a Slurm job. Weft nodes are Slurm *tasks*, so a group may share
// one Slurm node (as on a one-node cluster) or spread over many, as Slurm places them.
import { spawn } from 'node:child_process'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { LaunchError, type Launched, type Launcher, type LaunchRequest, type LaunchState, type LaunchStatus } from './launcher.js'

// How the launcher runs Slurm's commands: an injectable runner, by default a child process with a timeout, so that
// tests can replay a recorded contract and nothing hangs on a dead controller.
/** What a command printed and how it ended. */
export interface CommandResult {
  readonly stdout: string
  readonly stderr: string
  /** Exit status; null when a signal (or the timeout) ended it. */
  readonly code: number | null
}

export interface CommandOptions {
  /** Killed (SIGKILL) after this long; the result then has code null. */
  readonly timeoutMs: number
  /** Written to the command's stdin, which is then closed. */
  readonly input?: string
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>
}

/** Runs `file args…` without a shell. Resolves with the outcome; rejects only when the command cannot be started. */
export type CommandRunner = (file: string, args: readonly string[], options: CommandOptions) => Promise<CommandResult>

const MAX_OUTPUT = 4 * 1024 * 1024

/** The default runner: `spawn` without a shell, output bounded to 4 MiB per stream. */
export const execCommand: CommandRunner = (file, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env === undefined ? process.env : { ...process.env, ...options.env },
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outBytes = 0
    let errBytes = 0
    child.stdout.on('data', (b: Buffer) => {
      if (outBytes < MAX_OUTPUT) out.push(b)
      outBytes += b.length
    })
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < MAX_OUTPUT) err.push(b)
      errBytes += b.length
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code })
    })
    child.stdin.on('error', () => {
      // A command that exits without reading its stdin closes the pipe; its exit status tells what happened.
    })
    child.stdin.end(options.input ?? '')
  })

/** Quotes a word for a POSIX shell (single quotes; a single quote becomes '\''). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
}

/** Options of {@link slurmLauncher}. */
export interface SlurmLauncherInit {
  /** The weft command as absolute words, e.g. `[process.execPath, '/opt/weft/packages/cli/dist/bin.js']` (default `['weft']`). */
  readonly weftCommand?: readonly string[]
  /** Where node data directories (`<workDir>/<name>-<jobid>/node-<task>`) and logs (`<workDir>/logs`) go; it must be
   * on a file system every Slurm node sees (default ~/.weft-slurm). */
  readonly workDir?: string
  /** Runs sbatch, squeue, scontrol, scancel (default: child processes). */
  readonly runner?: CommandRunner
  /** Limit of each Slurm command (default 30 s). */
  readonly commandTimeoutMs?: number
  /** How long `cancel` waits for Slurm to report the job and its processes gone (default 60 s). */
  readonly cancelTimeoutMs?: number
  /** Poll period of `cancel` and `waitForJob` (default 200 ms). */
  readonly pollMs?: number
  /** Extra sbatch arguments (e.g. `--account=…`, `--qos=…`), placed before the script. */
  readonly sbatchArgs?: readonly string[]
}

/** Options of {@link sbatch}: the usual sbatch flags, and how to run it. */
export interface SbatchOptions {
  readonly name?: string
  readonly partition?: string
  readonly ntasks?: number
  readonly cpusPerTask?: number
  /** Memory per CPU in MiB (`--mem-per-cpu`). */
  readonly memPerCpuMiB?: number
  readonly timeLimitSeconds?: number
  /** `--output`: Slurm's file pattern (%j job id, %x job name). */
  readonly output?: string
  /** Working directory of the job (`--chdir`). */
  readonly chdir?: string
  /** Environment added to sbatch's (the job inherits it: `--export=ALL`). */
  readonly env?: Readonly<Record<string, string>>
  /** More sbatch arguments, verbatim. */
  readonly args?: readonly string[]
  readonly runner?: CommandRunner
  readonly timeoutMs?: number
}

/** A Slurm job's state as the controller (or the jobcomp file) reports it. */
export interface SlurmJobInfo {
  readonly id: string
  /** Slurm's state: PENDING, RUNNING, COMPLETING, COMPLETED, CANCELLED, FAILED, TIMEOUT, … */
  readonly state: string
  /** Slurm's reason (e.g. Resources, Priority, None). */
  readonly reason: string
  readonly numTasks: number
  /** Exit status of the batch script (`ExitCode=a:b`: a); null while it runs or when unknown. */
  readonly exitCode: number | null
  /** Whether the answer came from the jobcomp file (the controller no longer knows the job). */
  readonly fromJobComp: boolean
}

const JOB_ID = /^\d+(_\d+)?$/
const NAME = /^[a-z0-9-]{1,40}$/
const TERMINAL = new Set(['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'REVOKED', 'SPECIAL_EXIT'])

/** Slurm's `--time` form, `D-HH:MM:SS`. @throws RangeError unless a positive safe integer of seconds */
export function slurmTime(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new RangeError(`timeLimitSeconds must be a positive integer, got ${seconds}`)
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  const two = (n: number) => String(n).padStart(2, '0')
  return `${d}-${two(h)}:${two(m)}:${two(s)}`
}

/** Maps a Slurm job state to a launcher state. */
export function launchStateOf(slurmState: string): LaunchState {
  const s = slurmState.split(/[ +]/)[0] ?? ''
  if (s === 'PENDING' || s === 'CONFIGURING' || s === 'REQUEUED' || s === 'RESV_DEL_HOLD' || s === 'REQUEUE_HOLD' || s === 'REQUEUE_FED') return 'pending'
  if (s === 'COMPLETED') return 'done'
  if (s === 'CANCELLED') return 'cancelled'
  if (TERMINAL.has(s)) return 'failed'
  return 'running'
}

function positiveInt(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) throw new RangeError(`${name} must be a positive integer, got ${value}`)
}

function slurmError(command: string, args: readonly string[], r: { stderr: string; stdout: string; code: number | null }): LaunchError {
  const said = (r.stderr.trim() || r.stdout.trim() || '(no output)').split('\n').slice(-5).join(' | ')
  return new LaunchError(`${command} ${args.join(' ')} ${r.code === null ? 'timed out or was killed' : `exited ${r.code}`}: ${said}`)
}

async function runSlurm(runner: CommandRunner, command: string, args: readonly string[], timeoutMs: number, input?: string, env?: Readonly<Record<string, string>>): Promise<string> {
  let r: Awaited<ReturnType<CommandRunner>>
  try {
    r = await runner(command, args, { timeoutMs, ...(input !== undefined ? { input } : {}), ...(env !== undefined ? { env } : {}) })
  } catch (err) {
    throw new LaunchError(`cannot run ${command} (is Slurm installed and on PATH?): ${(err as Error).message}`, { cause: err })
  }
  if (r.code !== 0) throw slurmError(command, args, r)
  return r.stdout
}

/** Parses `key=value key=value …` (scontrol -o, jobcomp lines); values run to the next ` key=`. */
export function parseSlurmRecord(line: string): Map<string, string> {
  const out = new Map<string, string>()
  const re = /(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=/g
  const marks: { key: string; start: number; valueStart: number }[] = []
  for (let m = re.exec(line); m !== null; m = re.exec(line)) marks.push({ key: m[1] as string, start: m.index, valueStart: m.index + m[0].length })
  marks.forEach((mark, i) => {
    const end = i + 1 < marks.length ? (marks[i + 1] as { start: number }).start : line.length
    out.set(mark.key, line.slice(mark.valueStart, end).trim())
  })
  return out
}

function exitCodeOf(text: string | undefined): number | null {
  const m = /^(\d+):\d+$/.exec(text ?? '')
  return m === null ? null : Number(m[1])
}

/**
 * Submits a batch script with `sbatch --parsable` (the script on stdin).
 * @param script the script text, starting with `#!` (its `#SBATCH` lines apply; the options here come after them on the command line and win)
 * @returns the job id
 * @throws LaunchError with sbatch's own message when Slurm refuses it; RangeError/TypeError for bad options
 */
export async function sbatch(script: string, options: SbatchOptions = {}): Promise<string> {
  if (!script.startsWith('#!')) throw new TypeError('script must start with #! (sbatch needs an interpreter line)')
  positiveInt('ntasks', options.ntasks)
  positiveInt('cpusPerTask', options.cpusPerTask)
  positiveInt('memPerCpuMiB', options.memPerCpuMiB)
  const args = ['--parsable']
  if (options.name !== undefined) args.push(`--job-name=${options.name}`)
  if (options.partition !== undefined) args.push(`--partition=${options.partition}`)
  if (options.ntasks !== undefined) args.push(`--ntasks=${options.ntasks}`)
  if (options.cpusPerTask !== undefined) args.push(`--cpus-per-task=${options.cpusPerTask}`)
  if (options.memPerCpuMiB !== undefined) args.push(`--mem-per-cpu=${options.memPerCpuMiB}M`)
  if (options.timeLimitSeconds !== undefined) args.push(`--time=${slurmTime(options.timeLimitSeconds)}`)
  if (options.output !== undefined) args.push(`--output=${options.output}`)
  if (options.chdir !== undefined) args.push(`--chdir=${options.chdir}`)
  args.push(...(options.args ?? []))
  const out = await runSlurm(options.runner ?? execCommand, 'sbatch', args, options.timeoutMs ?? 30_000, script, options.env)
  const id = out.trim().split(';')[0] ?? ''
  if (!JOB_ID.test(id)) throw new LaunchError(`sbatch printed no job id: '${out.trim()}'`)
  return id
}

/** Where the controller's jobcomp/filetxt file is (`scontrol show config`), or null. */
async function jobCompLoc(runner: CommandRunner, timeoutMs: number): Promise<string | null> {
  const out = await runSlurm(runner, 'scontrol', ['show', 'config'], timeoutMs)
  const type = /^JobCompType\s*=\s*(\S+)/m.exec(out)?.[1]
  const loc = /^JobCompLoc\s*=\s*(\S+)/m.exec(out)?.[1]
  return type === 'jobcomp/filetxt' && loc !== undefined ? loc : null
}

/**
 * A job's state: `scontrol show job -o`, else (the controller forgot it) the last record in the jobcomp file.
 * @returns the job, or null when neither knows it
 * @throws LaunchError when Slurm does not answer
 */
export async function slurmJob(id: string, options: { runner?: CommandRunner; timeoutMs?: number } = {}): Promise<SlurmJobInfo | null> {
  if (!JOB_ID.test(id)) throw new TypeError(`'${id}' is not a Slurm job id`)
  const runner = options.runner ?? execCommand
  const timeoutMs = options.timeoutMs ?? 30_000
  const r = await runner('scontrol', ['show', 'job', '-o', id], { timeoutMs }).catch((err: unknown) => {
    throw new LaunchError(`cannot run scontrol: ${(err as Error).message}`, { cause: err })
  })
  if (r.code === 0) {
    const rec = parseSlurmRecord(r.stdout.trim().split('\n')[0] ?? '')
    return {
      id,
      state: rec.get('JobState') ?? 'UNKNOWN',
      reason: rec.get('Reason') ?? '',
      numTasks: Number(rec.get('NumTasks') ?? '0') || 0,
      exitCode: exitCodeOf(rec.get('ExitCode')),
      fromJobComp: false,
    }
  }
  if (!/Invalid job id/i.test(r.stderr)) throw slurmError('scontrol', ['show', 'job', '-o', id], r)
  const loc = await jobCompLoc(runner, timeoutMs)
  if (loc === null) return null
  const { readFile } = await import('node:fs/promises')
  const text = await readFile(loc, 'utf8').catch(() => '')
  let found: Map<string, string> | undefined
  for (const line of text.split('\n')) if (line.startsWith(`JobId=${id} `)) found = parseSlurmRecord(line)
  if (found === undefined) return null
  return {
    id,
    state: found.get('JobState') ?? 'UNKNOWN',
    reason: '',
    numTasks: Number(found.get('ProcCnt') ?? '0') || 0,
    exitCode: exitCodeOf(found.get('ExitCode')),
    fromJobComp: true,
  }
}

/**
 * Waits until a job reaches a final state (COMPLETED, FAILED, CANCELLED, TIMEOUT, …).
 * @returns its final state and exit code
 * @throws LaunchError when Slurm does not know the job, or after `timeoutMs` (default: no limit)
 */
export async function waitForJob(id: string, options: { runner?: CommandRunner; timeoutMs?: number; pollMs?: number; signal?: AbortSignal } = {}): Promise<SlurmJobInfo> {
  const end = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs
  const pollMs = options.pollMs ?? 500
  for (;;) {
    options.signal?.throwIfAborted()
    const job = await slurmJob(id, options.runner !== undefined ? { runner: options.runner } : {})
    if (job === null) throw new LaunchError(`Slurm knows no job ${id} (neither the controller nor the jobcomp file)`)
    if (TERMINAL.has(job.state.split(/[ +]/)[0] ?? '')) return job
    if (Date.now() > end) throw new LaunchError(`Slurm job ${id} still ${job.state} after ${options.timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

/** The batch script `launch` submits: `srun` starts one `weft node start` per task. Exported for docs and tests. */
export function slurmBatchScript(request: LaunchRequest, init: { weftCommand: readonly string[]; workDir: string }): string {
  const base = `${init.workDir}/${request.name}-$SLURM_JOB_ID`
  const env = Object.entries(request.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TypeError(`env: '${k}' is not a variable name`)
    return `export ${k}=${shellQuote(v)}\n`
  })
  const words = [...init.weftCommand, 'node', 'start', ...request.nodeArgs].map(shellQuote).join(' ')
  return (
    '#!/bin/bash\n' +
    `# Weft on Slurm: ${request.nodes} Weft node(s) as the tasks of this job (written by @weft/launch).\n` +
    env.join('') +
    `mkdir -p "${base}"\n` +
    // Each task: its own data directory and labels naming the job and the task, so that peers can find the group.
    `exec srun --kill-on-bad-exit=0 --output="${init.workDir}/logs/%x-%j-node-%t.log" /bin/sh -c ` +
    `'exec "$@" --data-dir "${base}/node-$SLURM_PROCID" --label "slurm.job=$SLURM_JOB_ID" --label "slurm.task=$SLURM_PROCID"' ` +
    `weft ${words}\n`
  )
}

class SlurmLauncher implements Launcher {
  readonly kind = 'slurm'
  readonly #runner: CommandRunner
  readonly #weft: readonly string[]
  readonly #workDir: string
  readonly #timeoutMs: number
  readonly #cancelTimeoutMs: number
  readonly #pollMs: number
  readonly #sbatchArgs: readonly string[]

  constructor(init: SlurmLauncherInit) {
    this.#runner = init.runner ?? execCommand
    this.#weft = init.weftCommand ?? ['weft']
    if (this.#weft.length === 0) throw new TypeError('weftCommand must name a command')
    this.#workDir = init.workDir ?? join(homedir(), '.weft-slurm')
    // The path is written into a shell script inside quotes: keep it to characters that need no escaping there.
    if (!/^\/[^'"`$\\\n]*$/.test(this.#workDir)) throw new TypeError(`workDir must be an absolute path without quotes, $, backslashes or newlines; got '${this.#workDir}'`)
    this.#timeoutMs = init.commandTimeoutMs ?? 30_000
    this.#cancelTimeoutMs = init.cancelTimeoutMs ?? 60_000
    this.#pollMs = init.pollMs ?? 200
    this.#sbatchArgs = init.sbatchArgs ?? []
  }

  async launch(request: LaunchRequest): Promise<Launched> {
    if (!NAME.test(request.name)) throw new TypeError(`name must be [a-z0-9-], 1 to 40 characters; got '${request.name}'`)
    positiveInt('nodes', request.nodes)
    positiveInt('coresPerNode', request.coresPerNode)
    positiveInt('memoryBytesPerNode', request.memoryBytesPerNode)
    const { mkdir } = await import('node:fs/promises')
    await mkdir(join(this.#workDir, 'logs'), { recursive: true })
    const cores = request.coresPerNode ?? 1
    const id = await sbatch(slurmBatchScript(request, { weftCommand: this.#weft, workDir: this.#workDir }), {
      name: request.name,
      ntasks: request.nodes,
      cpusPerTask: cores,
      ...(request.memoryBytesPerNode !== undefined ? { memPerCpuMiB: Math.max(1, Math.ceil(request.memoryBytesPerNode / cores / 2 ** 20)) } : {}),
      ...(request.timeLimitSeconds !== undefined ? { timeLimitSeconds: request.timeLimitSeconds } : {}),
      ...(request.partition !== undefined ? { partition: request.partition } : {}),
      output: join(this.#workDir, 'logs', '%x-%j.out'),
      chdir: this.#workDir,
      args: this.#sbatchArgs,
      runner: this.#runner,
      timeoutMs: this.#timeoutMs,
    })
    return { id, launcher: this.kind }
  }

  async status(id: string): Promise<LaunchStatus> {
    const job = await slurmJob(id, { runner: this.#runner, timeoutMs: this.#timeoutMs })
    if (job === null) throw new LaunchError(`Slurm knows no job ${id}`)
    const state = launchStateOf(job.state)
    const detail = `${job.state}${job.reason !== '' && job.reason !== 'None' ? ` (${job.reason})` : ''}${job.exitCode !== null && state !== 'running' && state !== 'pending' ? ` exit ${job.exitCode}` : ''}`
    return { id, state, running: job.state === 'RUNNING' ? job.numTasks : 0, detail }
  }

  /** `scancel`, then waits until squeue no longer lists the job: Slurm keeps it COMPLETING until its tasks' processes are gone. */
  async cancel(id: string): Promise<void> {
    if (!JOB_ID.test(id)) throw new TypeError(`'${id}' is not a Slurm job id`)
    await runSlurm(this.#runner, 'scancel', [id], this.#timeoutMs)
    const end = Date.now() + this.#cancelTimeoutMs
    for (;;) {
      const r = await this.#runner('squeue', ['-h', '-j', id, '-o', '%T'], { timeoutMs: this.#timeoutMs })
      const listed = r.code === 0 ? r.stdout.trim() : ''
      if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) throw slurmError('squeue', ['-h', '-j', id, '-o', '%T'], r)
      if (listed === '') return
      if (Date.now() > end) throw new LaunchError(`Slurm job ${id} still listed (${listed}) ${this.#cancelTimeoutMs} ms after scancel`)
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs))
    }
  }
}

/**
 * A launcher that submits each group as one Slurm batch job whose tasks are the Weft nodes.
 * @throws TypeError when `weftCommand` is empty
 */
export function slurmLauncher(init: SlurmLauncherInit = {}): Launcher {
  return new SlurmLauncher(init)
}

export { SlurmLauncher }
