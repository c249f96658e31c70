// `weft job …`, `weft batch submit`, `weft ledger show|verify` and `weft work`: jobs placed on the mesh by a node's
// scheduler, their batch tasks, costs and receipts, through the node's control API.
import { readFileSync } from 'node:fs'
import type { ApiClient, FabricJobCost, FabricJobView, LedgerCheck, LedgerPage, WorkView } from '@weft/api-client'
import { type Command, InvalidArgumentError } from 'commander'
import { formatBytes, formatDuration, formatTable, shortId } from '../format.js'
import { type ApiOptions, addNodeOptions, apiClientFrom } from './fl.js'
import { addPlacementOptions, type PlacementOptions, placedJob, withPlacement } from './placement-options.js'

type JsonOption = { json?: boolean }
type FollowOption = { follow?: boolean }

const KINDS = ['fl', 'swarm', 'serve', 'batch'] as const
/** Keys of a job spec outside its kind's body: in a `weft batch submit` file they stay on the job, the rest is the batch. */
const JOB_KEYS = new Set(['name', 'resources', 'constraints', 'priority', 'replicas', 'deadline', 'budget', 'strategy', 'estimate'])
const ENDED = new Set(['done', 'failed', 'cancelled'])
const POLL_MS = 500
const PEER_ID = /\b(?:12D3KooW|Qm)[1-9A-HJ-NP-Za-km-z]{40,}\b/g

/** A YAML or JSON file as data; the node validates it and names what is wrong. */
async function readSpecFile(path: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new Error(`cannot read ${what} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message}`, { cause: err })
  }
  const { parse } = await import('yaml')
  try {
    return parse(text)
  } catch (err) {
    throw new Error(`${what} ${path} is not valid YAML/JSON: ${((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')}`, { cause: err })
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1, got ${v}`)
    return n
  }
}

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`
const time = (at: number): string => new Date(at).toTimeString().slice(0, 8)
const credits = (v: number): string => (v === 0 ? '0' : v < 0.001 ? v.toExponential(2) : v.toFixed(4))
const seconds = (v: number): string => v.toFixed(1)
/** A value on one line, cut at `max` characters. */
function brief(v: unknown, max = 80): string {
  const text = v === undefined ? '-' : JSON.stringify(v)
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/** Node labels by peer id, from this node's view of the mesh (best effort: {} when the node cannot say). */
async function labelsByPeer(api: ApiClient): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>()
  try {
    const [self, peers] = await Promise.all([api.node(), api.peers()])
    for (const p of peers) out.set(p.peerId, p.ad.labels)
    out.set(self.peerId, self.labels)
  } catch {
    // Labels only decorate the table.
  }
  return out
}

const labelText = (labels: Record<string, string> | undefined): string =>
  labels === undefined || Object.keys(labels).length === 0
    ? '-'
    : Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')

/** A job's status as text: its state, placements, and for a batch its task counts and first tasks. */
export function formatFabricJob(v: FabricJobView, labels: ReadonlyMap<string, Record<string, string>> = new Map()): string {
  const lines = [
    `job ${v.id} (${v.name}, ${v.kind}): ${v.state}${v.reason === '' ? '' : ` (${v.reason})`}`,
    `owner ${shortId(v.owner)} epoch ${v.epoch}, submitted ${new Date(v.submittedAt).toISOString()}${v.finishedAt === null ? '' : `, ran ${formatDuration(v.finishedAt - v.submittedAt)}`}, reschedules ${v.reschedules}, cost ${credits(v.cost)} credits, receipts ${v.receipts} (${credits(v.receiptCredit)} credits)`,
    '',
    formatTable(
      ['placement', 'node', 'labels', 'state', 'attempts', 'detail'],
      v.placements.map((p) => [p.name, p.peerId === null ? '-' : shortId(p.peerId), p.peerId === null ? '-' : labelText(labels.get(p.peerId)), p.state, String(p.attempts), p.detail.replace(PEER_ID, (id) => shortId(id)) || '-']),
    ),
  ]
  const t = v.tasks
  if (t.total > 0) {
    lines.push(
      '',
      `tasks: ${t.total} (accepted ${t.accepted}, pending ${t.pending}, failed ${t.failed}), results ${t.results}, replication ${t.replication.toFixed(2)}`,
      '',
      formatTable(
        ['task', 'state', 'results', 'workers', 'params', 'result'],
        t.list.slice(0, 20).map((x) => [x.id, x.state, String(x.results), x.workers.map(shortId).join(',') || '-', brief(x.params, 50), x.state === 'failed' ? (x.reason ?? '-') : brief(x.result, 60)]),
      ),
    )
    if (t.total > 20) lines.push(`… ${t.total - 20} more (--json lists the first ${t.list.length})`)
  }
  return lines.join('\n')
}

/** Per placement: node, core-s, GiB-s, accel-s, credits; the total and the receipts' credit. */
export function formatFabricJobCost(c: FabricJobCost): string {
  const row = (name: string, peer: string, u: FabricJobCost['usage'], cost: number) => [name, peer, seconds(u.coreSeconds), seconds(u.memoryByteSeconds / 2 ** 30), seconds(u.acceleratorSeconds), credits(cost)]
  return [
    `job ${c.id}: ${c.state}`,
    '',
    formatTable(['placement', 'node', 'core-s', 'GiB-s', 'accel-s', 'credits'], [
      ...c.placements.map((p) => row(p.name, p.peerId === null ? '-' : shortId(p.peerId), p.usage, p.cost)),
      row('total', '', c.usage, c.total),
    ]),
    '',
    `receipts: ${c.receipts}, credit ${credits(c.receiptCredit)}`,
  ].join('\n')
}

/** Credit per worker, from ledger receipts or a verification's credits. */
function creditTable(rows: ReadonlyArray<{ peerId: string; credit: number; receipts: number; coreSeconds: number }>): string {
  return formatTable(
    ['worker', 'receipts', 'core-s', 'credit'],
    rows.map((r) => [shortId(r.peerId), String(r.receipts), seconds(r.coreSeconds), credits(r.credit)]),
  )
}

/** This node's ledger page: entries and credit per worker. */
export function formatLedgerPage(p: LedgerPage): string {
  const perWorker = new Map<string, { peerId: string; credit: number; receipts: number; coreSeconds: number }>()
  for (const e of p.entries) {
    const w = perWorker.get(e.receipt.worker) ?? { peerId: e.receipt.worker, credit: 0, receipts: 0, coreSeconds: 0 }
    w.credit += e.receipt.credit
    w.receipts += 1
    w.coreSeconds += e.receipt.coreSeconds
    perWorker.set(w.peerId, w)
  }
  return [
    `ledger of ${shortId(p.holder)}: head seq ${p.head.seq} ${p.head.hash.slice(0, 12)}`,
    '',
    formatTable(
      ['seq', 'hash', 'kind', 'job/task', 'worker', 'credit'],
      p.entries.map((e) => [String(e.seq), e.hash.slice(0, 12), e.receipt.kind, `${e.receipt.jobId}/${e.receipt.taskId}`, shortId(e.receipt.worker), credits(e.receipt.credit)]),
    ),
    '',
    'credit per worker (these entries):',
    creditTable([...perWorker.values()].sort((a, b) => b.credit - a.credit)),
  ].join('\n')
}

/** A chain's verification: its verdict, entries and credit per worker. */
export function formatLedgerCheck(c: LedgerCheck): string {
  const verdict = c.verdict.ok ? `ok: ${c.verdict.length} entries, head ${c.verdict.head.slice(0, 12)}` : `NOT OK at seq ${c.verdict.seq}: ${c.verdict.reason}`
  const gossip = c.gossipedHead === undefined ? 'no head heard on the mesh' : `gossiped head seq ${c.gossipedHead.seq}: ${c.matchesGossipedHead === true ? 'matches' : 'does not match'}`
  return [`ledger of ${shortId(c.holder)}: ${verdict}`, `entries ${c.entries}, ${gossip}`, '', creditTable(c.credit)].join('\n')
}

/** This node's offer, what is reserved, and the placements it holds. */
export function formatWork(w: WorkView): string {
  const o = w.offer
  return [
    `offer     ${o.cores} cores, ${formatBytes(o.memoryBytes)}, ${o.accelerators} accelerators; ${o.pricing.coreHour}/core-h, ${o.pricing.gibHour}/GiB-h, ${o.pricing.acceleratorHour}/accel-h`,
    `reserved  ${w.reserved.cores} cores, ${formatBytes(w.reserved.memoryBytes)}, ${w.reserved.accelerators} accelerators`,
    '',
    formatTable(
      ['job', 'placement', 'owner', 'state', 'cores', 'memory', 'accel', 'core-s', 'detail'],
      w.placements.map((p) => [p.jobId, p.placement, shortId(p.owner), p.state, String(p.cores), formatBytes(p.memoryBytes), String(p.accelerators), seconds(p.usage.coreSeconds), p.detail || '-']),
    ),
  ].join('\n')
}

/** Prints the job's events from index `after` until the job ends. */
async function followLogs(api: ApiClient, id: string, print: (line: string) => void, after = 0): Promise<void> {
  for (;;) {
    const page = await api.fabricJobLogs(id, after)
    for (const e of page.events) print(`${time(e.at)}  ${e.message.replace(PEER_ID, (p) => shortId(p))}`)
    after = page.next
    if (ENDED.has(page.state)) return
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** Polls a batch job until it ends, printing each task once it is accepted (or fails). */
async function followBatch(api: ApiClient, id: string, print: (line: string) => void): Promise<FabricJobView> {
  const seen = new Set<string>()
  for (;;) {
    const view = await api.fabricJob(id)
    for (const t of view.tasks.list) {
      if (t.state === 'pending' || seen.has(t.id)) continue
      seen.add(t.id)
      print(t.state === 'accepted' ? `${t.id} accepted (${t.results} results): ${brief(t.result)}` : `${t.id} failed: ${t.reason ?? '-'}`)
    }
    if (ENDED.has(view.state)) return view
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** A batch job's accepted results (task id, params, result) and its replication factor. */
export function formatBatchResults(v: FabricJobView): string {
  const accepted = v.tasks.list.filter((t) => t.state === 'accepted')
  return [
    `job ${v.id} (${v.name}): ${v.state}${v.reason === '' ? '' : ` (${v.reason})`}; ${v.tasks.accepted} of ${v.tasks.total} tasks accepted, replication ${v.tasks.replication.toFixed(2)}`,
    '',
    formatTable(
      ['task', 'params', 'result'],
      accepted.map((t) => [t.id, brief(t.params, 60), brief(t.result, 120)]),
    ),
  ].join('\n')
}

/** Ends with exit code 1 (and says why on stderr) when a followed job did not end done. */
function exitUnlessDone(v: FabricJobView): void {
  if (v.state === 'done') return
  process.stderr.write(`job ${v.id} ${v.state}${v.reason === '' ? '' : `: ${v.reason}`}\n`)
  process.exitCode = 1
}

type SubmitOptions = ApiOptions & JsonOption & FollowOption & PlacementOptions & { kind?: (typeof KINDS)[number] }
type BatchOptions = ApiOptions & JsonOption & FollowOption & { replicas?: number; quorum?: number }

/** Registers `weft job`, `weft batch`, `weft ledger` and `weft work`. */
export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('jobs placed on the mesh (fl, swarm, serve, batch): submit, status, logs, cost, cancel')

  addPlacementOptions(
    addNodeOptions(job.command('submit <spec>').description('submit a job spec (YAML or JSON); with --kind, the file is the body of an fl/swarm/serve/batch job')).option(
      '--kind <kind>',
      `wrap the file as the body of a job of this kind (${KINDS.join(', ')})`,
      (v: string) => {
        if (!(KINDS as readonly string[]).includes(v)) throw new InvalidArgumentError(`--kind must be one of ${KINDS.join(', ')}, got ${v}`)
        return v
      },
    ),
    { replicas: true },
  )
    .option('--follow', "then print the job's events until it ends (exit code 1 unless it ends done)")
    .option('--json', 'print the job view as JSON')
    .action(async (file: string, opts: SubmitOptions) => {
      const content = await readSpecFile(file, 'job spec')
      let spec: Record<string, unknown>
      if (opts.kind !== undefined) spec = placedJob(opts.kind, content, opts)
      else if (isRecord(content)) spec = withPlacement(content, opts)
      else throw new Error(`job spec ${file} must be a mapping of fields (kind, resources, …), got ${Array.isArray(content) ? 'a list' : typeof content}`)
      const api = apiClientFrom(opts)
      let view = await api.submitFabricJob(spec)
      if (opts.follow === true) {
        await followLogs(api, view.id, (line) => process.stderr.write(`${line}\n`))
        view = await api.fabricJob(view.id)
        exitUnlessDone(view)
      }
      process.stdout.write(opts.json === true ? json(view) : opts.follow === true ? `${formatFabricJob(view, await labelsByPeer(api))}\n` : `job ${view.id}: ${view.state}\n`)
    })

  addNodeOptions(job.command('ls').description('jobs this node owns, and jobs it heard of'))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption) => {
      const list = await apiClientFrom(opts).fabricJobs()
      if (opts.json === true) {
        process.stdout.write(json(list))
        return
      }
      const lines = [
        formatTable(
          ['job', 'name', 'kind', 'state', 'active/placements', 'tasks', 'cost', 'submitted'],
          list.jobs.map((j) => [j.id, j.name, j.kind, j.state, `${j.placements.filter((p) => p.state === 'running' || p.state === 'reserved').length}/${j.placements.length}`, j.tasks.total === 0 ? '-' : `${j.tasks.accepted}/${j.tasks.total}`, credits(j.cost), time(j.submittedAt)]),
        ),
      ]
      if (list.known.length > 0) {
        lines.push('', 'heard of (owned elsewhere):', formatTable(['job', 'owner', 'epoch', 'state'], list.known.map((k) => [k.id, shortId(k.owner), String(k.epoch), k.state])))
      }
      process.stdout.write(`${lines.join('\n')}\n`)
    })

  addNodeOptions(job.command('status <id>').description('a job: state, placements (node, labels, state, attempts, detail), batch tasks and their results'))
    .option('--json', 'print the job view as JSON')
    .action(async (id: string, opts: ApiOptions & JsonOption) => {
      const api = apiClientFrom(opts)
      const view = await api.fabricJob(id)
      process.stdout.write(opts.json === true ? json(view) : `${formatFabricJob(view, await labelsByPeer(api))}\n`)
    })

  addNodeOptions(job.command('logs <id>').description("a job's events: time, message"))
    .option('--follow', 'keep printing new events until the job ends')
    .action(async (id: string, opts: ApiOptions & FollowOption) => {
      const api = apiClientFrom(opts)
      const print = (line: string) => process.stdout.write(`${line}\n`)
      if (opts.follow === true) return followLogs(api, id, print)
      const page = await api.fabricJobLogs(id, 0)
      for (const e of page.events) print(`${time(e.at)}  ${e.message.replace(PEER_ID, (p) => shortId(p))}`)
      return undefined
    })

  addNodeOptions(job.command('cancel <id>').description('cancel a job this node owns (its placements are released)'))
    .option('--json', 'print the job view as JSON')
    .action(async (id: string, opts: ApiOptions & JsonOption) => {
      const view = await apiClientFrom(opts).cancelFabricJob(id)
      process.stdout.write(opts.json === true ? json(view) : `job ${view.id}: ${view.state}${view.reason === '' ? '' : ` (${view.reason})`}\n`)
    })

  addNodeOptions(job.command('cost <id>').description('per placement: node, core-s, GiB-s, accel-s, credits; the total and the receipts’ credit'))
    .option('--json', 'print JSON for scripts')
    .action(async (id: string, opts: ApiOptions & JsonOption) => {
      const cost = await apiClientFrom(opts).fabricJobCost(id)
      process.stdout.write(opts.json === true ? json(cost) : `${formatFabricJobCost(cost)}\n`)
    })

  const batch = program.command('batch').description('batch work on the mesh: one task mapped over items, shards or a grid, verified by a quorum')
  addNodeOptions(
    batch
      .command('submit <tasks>')
      .description('submit a batch body (task, params, items|shards|grid, tolerance, quorum…; optional resources, constraints, replicas) as a batch job'),
  )
    .option('--replicas <n>', 'slots (placements) that run tasks', positiveInt('--replicas'))
    .option('--quorum <q>', 'results that must agree per task', positiveInt('--quorum'))
    .option('--follow', 'then print each task as it is accepted, and the accepted results at the end (exit code 1 unless the job ends done)')
    .option('--json', 'print the job view as JSON (with --follow, task lines go to stderr)')
    .action(async (file: string, opts: BatchOptions) => {
      const content = await readSpecFile(file, 'batch spec')
      if (!isRecord(content)) throw new Error(`batch spec ${file} must be a mapping of fields (task, params, shards…), got ${Array.isArray(content) ? 'a list' : typeof content}`)
      const spec: Record<string, unknown> = { kind: 'batch' }
      const body: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(content)) {
        if (JOB_KEYS.has(k)) spec[k] = v
        else body[k] = v
      }
      if (opts.quorum !== undefined) body['quorum'] = opts.quorum
      spec['batch'] = body
      const api = apiClientFrom(opts)
      let view = await api.submitFabricJob(withPlacement(spec, opts))
      if (opts.follow !== true) {
        process.stdout.write(opts.json === true ? json(view) : `job ${view.id}: ${view.state}, ${view.tasks.total} tasks\n`)
        return
      }
      const out = opts.json === true ? process.stderr : process.stdout
      out.write(`job ${view.id}: ${view.tasks.total} tasks on ${view.placements.length} slots\n`)
      view = await followBatch(api, view.id, (line) => out.write(`${line}\n`))
      exitUnlessDone(view)
      process.stdout.write(opts.json === true ? json(view) : `${formatBatchResults(view)}\n`)
    })

  const ledger = program.command('ledger').description('the contribution ledger: countersigned receipts, hash-chained')
  addNodeOptions(ledger.command('show').description("this node's entries (seq, hash, kind, job/task, worker, credit) and credit per worker"))
    .option('--from <n>', 'the first entry (1 is the first)', positiveInt('--from'), 1)
    .option('--limit <n>', 'entries at most (≤ 256)', positiveInt('--limit'), 100)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption & { from: number; limit: number }) => {
      const page = await apiClientFrom(opts).ledger(opts.from, opts.limit)
      process.stdout.write(opts.json === true ? json(page) : `${formatLedgerPage(page)}\n`)
    })
  addNodeOptions(ledger.command('verify').description("fetch a node's whole ledger and verify it (exit code 1 when it does not verify)"))
    .option('--node <peer-id>', 'the holder (default: this node)')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption & { node?: string }) => {
      const check = await apiClientFrom(opts).verifyLedger(opts.node)
      process.stdout.write(opts.json === true ? json(check) : `${formatLedgerCheck(check)}\n`)
      if (!check.verdict.ok) process.exitCode = 1
    })

  addNodeOptions(program.command('work').description("this node's work offer, what is reserved, and the placements it holds"))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption) => {
      const work = await apiClientFrom(opts).work()
      process.stdout.write(opts.json === true ? json(work) : `${formatWork(work)}\n`)
    })
}
