// `weft fl …` (submit, status, logs, list, cancel federated jobs through a node's API) and `weft model export`.
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import type { JobEvent } from '@weft/fl'
import type { ApiClient, JobSummary, JobView } from '@weft/api-client'
import { createNodeApiClient, defaultDataDir } from '@weft/api-client/node'
import cliProgress from 'cli-progress'
import { type Command, InvalidArgumentError } from 'commander'
import { formatBytes, formatDuration, formatTable, shortId } from '../format.js'
import { addPlacementOptions, type PlacementOptions, submitPlaced, wantsPlacement } from './placement-options.js'

/** How a command finds the node it talks to. */
export interface ApiOptions {
  dataDir?: string
  api?: string
  token?: string
}

/** A client for the node named by --api, or the one running on --data-dir (default ~/.weft). */
export function apiClientFrom(opts: ApiOptions): ApiClient {
  const token = opts.token ?? process.env['WEFT_API_TOKEN']
  return createNodeApiClient({
    dataDir: opts.dataDir ?? defaultDataDir(),
    ...(opts.api === undefined ? {} : { apiUrl: opts.api }),
    ...(token === undefined ? {} : { token }),
  })
}

/** Adds --data-dir, --api and --token (the node to ask) to a command. */
export function addNodeOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory of the node to ask (default ~/.weft or $WEFT_HOME)')
    .option('--api <url>', 'the node API URL (instead of the data directory)')
    .option('--token <token>', 'API bearer token (default: <data-dir>/api-token or $WEFT_API_TOKEN)')
}

/** The `--data-dir`/`--api` part of a command line that reaches the same node again. */
export function nodeArgs(opts: ApiOptions): string {
  if (opts.api !== undefined) return ` --api ${opts.api}`
  return opts.dataDir === undefined ? '' : ` --data-dir ${opts.dataDir}`
}

/**
 * Reads a job spec file (YAML or JSON) and validates it locally.
 * @returns the spec as written (the coordinator fills the defaults itself)
 * @throws Error when the file cannot be read or parsed; InvalidJobSpecError naming each bad field
 */
export async function readJobSpecFile(path: string): Promise<unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message
    throw new Error(`cannot read job spec ${path}: ${why}`, { cause: err })
  }
  const [{ parseJobSpec }, { parse: parseYaml }] = await Promise.all([import('@weft/fl'), import('yaml')])
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (err) {
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')
    throw new Error(`job spec ${path} is not valid YAML/JSON: ${first}`, { cause: err })
  }
  parseJobSpec(value)
  return value
}

const PEER_ID = /\b(?:12D3KooW|Qm)[1-9A-HJ-NP-Za-km-z]{40,}\b/g

/** An event as one line: local time, round, message (peer ids shortened). */
export function formatEvent(e: JobEvent): string {
  const time = new Date(e.at).toTimeString().slice(0, 8)
  const round = e.round === undefined ? '-' : `r${e.round}`
  return `${time}  ${round.padEnd(5)} ${e.message.replace(PEER_ID, (id) => shortId(id))}`
}

const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(2)}%`)
const fixed = (x: number | undefined, digits: number): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits))

type HistoryEntry = JobView['history'][number]

/** A round's test accuracy: centralized when measured, else federated (marked). */
function roundAccuracy(h: HistoryEntry): string {
  const ev = h.metrics?.evaluation
  if (ev?.centralized !== undefined) return pct(ev.centralized.accuracy)
  if (ev?.federated !== undefined) return `${pct(ev.federated.accuracy)} (fed)`
  return '-'
}

/** The per-round table of `weft fl status`. */
export function formatRoundTable(view: JobView): string {
  const rows = view.history.map((h) => {
    const m = h.metrics
    if (h.status !== 'closed' || m === undefined) {
      const live = view.live?.round?.round === h.round ? view.live.round : undefined
      const running = view.status === 'running' ? `${((Date.now() - h.startedAt) / 1000).toFixed(1)} so far` : 'unfinished'
      return [
        String(h.round),
        live === undefined ? `…/${h.participants}` : `${live.delivered}/${live.participants}`,
        live === undefined ? '-' : String(live.dropped),
        '-',
        '-',
        '-',
        running,
        '-',
      ]
    }
    const s = m.seconds
    return [
      String(h.round),
      `${m.results}/${m.sampled}`,
      String(m.dropped),
      fixed(m.trainLoss, 4),
      roundAccuracy(h),
      `${formatBytes(m.bytesDown)}/${formatBytes(m.bytesUp)}`,
      `${s.total.toFixed(1)} (${s.broadcast.toFixed(1)}/${s.training.toFixed(1)}/${s.upload.toFixed(1)}/${s.aggregation.toFixed(2)})`,
      String(Math.round(m.overheadSeconds * 1000)),
    ]
  })
  return formatTable(['ROUND', 'CLIENTS', 'DROPPED', 'TRAIN LOSS', 'TEST ACC', 'DOWN/UP', 'WALL S (BCAST/TRAIN/UP/AGG)', 'OVERHEAD MS'], rows)
}

/** The privacy lines of a job's status: the DP budget spent (with its limit), secure aggregation and compression. */
function privacyLines(view: JobView): string[] {
  const { dp, secureAggregation } = view.spec.privacy
  const lines: string[] = []
  if (dp !== undefined) {
    const spent = [...view.history].reverse().find((h) => h.metrics?.privacy !== undefined)?.metrics?.privacy
    const limit = dp.epsilonLimit ?? dp.targetEpsilon
    lines.push(
      `privacy     DP (${dp.mode} clipping): ε = ${spent === undefined ? '0' : spent.epsilon.toFixed(3)}${limit === undefined ? '' : ` of ${limit}`} at δ = ${dp.delta}` +
        (spent === undefined ? '' : `, noise multiplier ${spent.noiseMultiplier.toFixed(3)}, clip norm ${spent.clipNorm.toPrecision(3)}`),
    )
  }
  if (secureAggregation !== undefined) {
    lines.push(`secure agg  SecAgg+ (dropout ≤ ${secureAggregation.dropoutRate}, corrupt ≤ ${secureAggregation.corruptRate}, clip ±${secureAggregation.clip})`)
  }
  if (view.spec.compression.kind !== 'none') lines.push(`compression ${JSON.stringify(view.spec.compression)}`)
  return lines
}

/** Human-readable `weft fl status`. */
export function formatJobStatus(view: JobView): string {
  const live = view.live
  const current = live?.round
  const latest = view.latest
  const clients =
    live === undefined
      ? '-'
      : live.paused !== undefined
        ? `paused since ${new Date(live.paused.since).toISOString()}: ${live.paused.reason}`
        : `${live.available} live / ${live.members} members` +
        (current === undefined ? '' : `; round ${current.round}: ${current.delivered}/${current.participants} updates in, ${current.dropped} dropped`)
  const latestText =
    latest === undefined
      ? '-'
      : `round ${latest.round}: test accuracy ${pct(latest.accuracy)}, test loss ${fixed(latest.loss, 4)}, train loss ${fixed(latest.trainLoss, 4)}`
  const lines = [
    `job         ${view.id} (${view.name})`,
    `status      ${view.status}${view.error === undefined ? '' : `: ${view.error}`}`,
    `round       ${view.completedRounds}/${view.rounds} completed`,
    `strategy    ${view.strategy}`,
    `model       ${view.model.architecture} (${view.model.params.toLocaleString('en-US')} params), hash ${view.modelHash.slice(0, 16)}…`,
    `dataset     ${view.dataset}`,
    `clients     ${clients}`,
    `latest      ${latestText}`,
    ...privacyLines(view),
    `coordinator ${view.coordinator}`,
    `created     ${new Date(view.createdAt).toLocaleString()} (${formatDuration(view.updatedAt - view.createdAt)} to last change)`,
  ]
  return `${lines.join('\n')}\n\n${view.history.length === 0 ? 'no round started yet' : formatRoundTable(view)}`
}

/** Human-readable `weft fl list`. */
export function formatJobList(list: Awaited<ReturnType<ApiClient['jobs']>>): string {
  const acc = (j: JobSummary): string => pct(j.latest?.accuracy)
  const coordinated =
    list.jobs.length === 0
      ? 'this node coordinates no jobs'
      : formatTable(
          ['JOB', 'NAME', 'STATUS', 'ROUNDS', 'STRATEGY', 'MODEL', 'ACCURACY'],
          list.jobs.map((j) => [j.id, j.name, j.status, `${j.completedRounds}/${j.rounds}`, j.strategy, j.model.architecture, acc(j)]),
        )
  const client =
    list.client.length === 0
      ? 'this node is a client of no jobs'
      : `client of:\n${formatTable(
          ['JOB', 'NAME', 'COORDINATOR', 'DATASET', 'TRAINING IN ROUNDS'],
          list.client.map((j) => [j.id, j.name, shortId(j.coordinator), j.dataset, j.activeRounds.join(',') || '-']),
        )}`
  return `${coordinated}\n\n${client}`
}

export interface FollowHandlers {
  onEvent?(event: JobEvent): void
  onView?(view: JobView): void
}

/**
 * Long-polls a job's events (10 s at a time) and its view until the job is no longer running and every
 * event has been read.
 * @returns the job's final view
 */
export async function followJob(api: ApiClient, id: string, handlers: FollowHandlers, signal?: AbortSignal): Promise<JobView> {
  let after = 0
  for (;;) {
    signal?.throwIfAborted()
    const { events, status } = await api.jobEvents(id, after, 10)
    for (const e of events) {
      handlers.onEvent?.(e)
      after = Math.max(after, e.seq)
    }
    const view = await api.job(id)
    handlers.onView?.(view)
    if (status !== 'running' && view.status !== 'running' && events.length === 0) return view
  }
}

/** Output of a followed job: lines above a live progress bar on a terminal, plain lines elsewhere. */
export interface JobProgress {
  line(text: string): void
  update(view: JobView): void
  stop(): void
}

/** Creates a progress display for a job of `rounds` rounds; the bar is shown only when stdout is a terminal. */
export function createJobProgress(rounds: number): JobProgress {
  if (process.stdout.isTTY !== true) {
    return { line: (text) => process.stdout.write(`${text}\n`), update: () => {}, stop: () => {} }
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stdout,
      format: 'round {value}/{total} |{bar}| {percentage}% | acc {acc} | train loss {loss} | {clients} | {duration_formatted}',
      barsize: 24,
      hideCursor: true,
      fps: 5,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const bar = multi.create(rounds, 0, { acc: '-', loss: '-', clients: 'waiting for clients' })
  let stopped = false
  return {
    line: (text) => (stopped ? process.stdout.write(`${text}\n`) : multi.log(`${text}\n`)),
    update(view) {
      if (stopped) return
      const r = view.live?.round
      const clients =
        r !== undefined
          ? `round ${r.round}: ${r.delivered}/${r.participants} updates`
          : view.live !== undefined
            ? `${view.live.available} clients`
            : view.status
      bar.update(view.completedRounds, { acc: pct(view.latest?.accuracy), loss: fixed(view.latest?.trainLoss, 4), clients })
    },
    stop() {
      if (stopped) return
      stopped = true
      multi.update()
      multi.stop()
    },
  }
}

function parseRound(v: string): number | 'last' {
  if (v === 'last') return 'last'
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--round must be 'last' or a round number, got "${v}"`)
  return n
}

interface SubmitOptions extends ApiOptions, PlacementOptions {
  to?: string
  follow?: boolean
  json?: boolean
}

async function runSubmit(file: string, opts: SubmitOptions): Promise<void> {
  const spec = await readJobSpecFile(file)
  if (wantsPlacement(opts)) {
    if (opts.to !== undefined) throw new Error('--to and --place do not go together: with --place the scheduler chooses the coordinator (constrain it with --label or --site)')
    if (opts.follow === true) throw new Error('--follow does not apply with --place: follow the job with weft job status <id> (or weft job logs <id> --follow)')
    await submitPlaced(apiClientFrom(opts), 'fl', spec, opts, nodeArgs(opts))
    return
  }
  const api = apiClientFrom(opts)
  const { id, coordinator } = await api.submitJob(spec, opts.to)
  if (opts.json === true && opts.follow !== true) {
    process.stdout.write(`${JSON.stringify({ id, coordinator })}\n`)
    return
  }
  process.stdout.write(`${id}\n`)
  process.stderr.write(`submitted federated job ${id} (coordinator ${shortId(coordinator)})\n`)
  if (opts.follow !== true) {
    process.stderr.write(`follow it: weft fl logs ${id} --follow${nodeArgs(opts)}\n`)
    return
  }
  const { parseJobSpec } = await import('@weft/fl')
  const progress = createJobProgress(parseJobSpec(spec).rounds)
  let view: JobView
  try {
    view = await followJob(api, id, { onEvent: (e) => progress.line(formatEvent(e)), onView: (v) => progress.update(v) })
  } finally {
    progress.stop()
  }
  if (opts.json === true) process.stdout.write(`${JSON.stringify(view)}\n`)
  if (view.status !== 'finished') throw new Error(`job ${id} ${view.status}${view.error === undefined ? '' : `: ${view.error}`}`)
  process.stdout.write(
    `job ${id} finished after ${view.completedRounds} rounds: test accuracy ${pct(view.latest?.accuracy)}, train loss ${fixed(view.latest?.trainLoss, 4)}\n` +
      `get the model: weft model export ${id}${nodeArgs(opts)} --out model.weft\n`,
  )
}

async function runExport(id: string, opts: ApiOptions & { round: number | 'last'; out: string; json?: boolean }): Promise<void> {
  const model = await apiClientFrom(opts).jobModel(id, opts.round)
  // Verify the bytes (magic, shapes, finite weights) before writing them, and learn their content id.
  const { decodeModelArtifact } = await import('@weft/runtime')
  const artifact = decodeModelArtifact(model.bytes)
  await writeFile(opts.out, model.bytes)
  const out = { path: opts.out, job: id, round: model.round, bytes: model.bytes.length, id: artifact.id, architecture: artifact.spec.architecture }
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(out)}\n`)
    return
  }
  process.stdout.write(
    `wrote ${out.path}: ${out.architecture} model of job ${id} after round ${out.round}, ${formatBytes(out.bytes)} (${out.bytes} bytes)\n` +
      `content id ${out.id}\n`,
  )
}

/** Registers `weft fl` (submit, status, logs, list, cancel) and `weft model export`; returns the `fl` group for more. */
export function registerFlCommands(program: Command): Command {
  const fl = program.command('fl').description('federated learning: submit jobs to a coordinator node and follow them')

  addPlacementOptions(
    addNodeOptions(fl.command('submit <job>').description('validate a job spec (YAML or JSON file) and submit it to the node, or with --place as a job the mesh places'))
      .option('--to <peer-id>', 'have this peer coordinate the job (default: the node itself)')
      .option('--follow', 'then print its events and a progress bar until it ends')
      .option('--json', 'print JSON for scripts (with --place: the job view)'),
    { place: true },
  )
    .action((file: string, opts: SubmitOptions) => runSubmit(file, opts))

  addNodeOptions(fl.command('status <job>').description('a job: status, progress, clients, latest accuracy, and one row per round'))
    .option('--json', 'print the job view as JSON')
    .action(async (id: string, opts: ApiOptions & { json?: boolean }) => {
      const view = await apiClientFrom(opts).job(id)
      process.stdout.write(opts.json === true ? `${JSON.stringify(view, null, 2)}\n` : `${formatJobStatus(view)}\n`)
    })

  addNodeOptions(fl.command('logs <job>').description("a job's events: time, round, message"))
    .option('--follow', 'keep printing new events until the job ends')
    .option('--json', 'print one JSON event per line')
    .action(async (id: string, opts: ApiOptions & { follow?: boolean; json?: boolean }) => {
      const api = apiClientFrom(opts)
      const print = (e: JobEvent) => process.stdout.write(opts.json === true ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`)
      if (opts.follow === true) {
        const view = await followJob(api, id, { onEvent: print })
        process.stderr.write(`job ${id} ${view.status}${view.error === undefined ? '' : `: ${view.error}`}\n`)
        return
      }
      let after = 0
      for (;;) {
        const { events } = await api.jobEvents(id, after)
        if (events.length === 0) break
        for (const e of events) print(e)
        after = events.at(-1)?.seq ?? after
      }
    })

  addNodeOptions(fl.command('list').description('jobs this node coordinates and jobs it is a client of'))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & { json?: boolean }) => {
      const list = await apiClientFrom(opts).jobs()
      process.stdout.write(opts.json === true ? `${JSON.stringify(list, null, 2)}\n` : `${formatJobList(list)}\n`)
    })

  addNodeOptions(fl.command('cancel <job>').description('cancel a running job this node coordinates')).action(
    async (id: string, opts: ApiOptions) => {
      await apiClientFrom(opts).cancelJob(id)
      process.stdout.write(`cancelled job ${id}\n`)
    },
  )

  const model = program.command('model').description('models trained by federated jobs')
  addNodeOptions(model.command('export <job>').description("write a job's model as a Weft model artifact"))
    .option('--round <last|N>', "the model after this round ('last', or 0 for the initial model)", parseRound, 'last' as const)
    .requiredOption('--out <file>', 'where to write the artifact')
    .option('--json', 'print JSON for scripts')
    .action((id: string, opts: ApiOptions & { round: number | 'last'; out: string; json?: boolean }) => runExport(id, opts))

  return fl
}
