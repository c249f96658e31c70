// Compute view: the orchestrated jobs this node owns (placements, batch tasks, cost, log) and those it heard of, and
// this node's side of the work: its offer and reservations, the placements it holds, and its ledger of receipts.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { z } from 'zod'
import { fetchJson } from './api'
import { formatAgo, formatBytes, formatClock, formatCount, formatDateTime, formatDuration, shortId } from './format'
import { useLoader, useNow, useOnReconnect } from './hooks'
import { computeJobHref } from './route'
import { Badge, Card, ErrorNote, Facts, Loading, Stat } from './ui'

// --- The answers of /v1/jobs, /v1/work and /v1/ledger, checked here until @weft/api-client has their views. ---

const usageSchema = z.object({ coreSeconds: z.number(), memoryByteSeconds: z.number(), acceleratorSeconds: z.number(), bytes: z.number() })

const jobSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  owner: z.string(),
  epoch: z.number(),
  state: z.string(),
  reason: z.string(),
  submittedAt: z.number(),
  finishedAt: z.number().nullable(),
  reschedules: z.number(),
  placements: z.array(
    z.object({
      name: z.string(),
      peerId: z.string().nullable(),
      state: z.string(),
      attempts: z.number(),
      detail: z.string(),
      usage: usageSchema,
      cost: z.number(),
    }),
  ),
  tasks: z.object({
    total: z.number(),
    pending: z.number(),
    accepted: z.number(),
    failed: z.number(),
    results: z.number(),
    replication: z.number(),
    list: z.array(
      z.object({
        id: z.string(),
        state: z.string(),
        params: z.unknown(),
        results: z.number(),
        workers: z.array(z.string()),
        resultCid: z.string().optional(),
        result: z.unknown().optional(),
        reason: z.string().optional(),
      }),
    ),
  }),
  usage: usageSchema,
  cost: z.number(),
  receipts: z.number(),
  receiptCredit: z.number(),
})

const jobListSchema = z.object({
  jobs: z.array(jobSchema),
  known: z.array(z.object({ id: z.string(), owner: z.string(), epoch: z.number(), state: z.string(), leaseExpiresAt: z.number() })),
})

const jobLogSchema = z.object({ events: z.array(z.object({ at: z.number(), message: z.string() })), next: z.number(), state: z.string() })

const workSchema = z.object({
  offer: z.object({
    cores: z.number(),
    memoryBytes: z.number(),
    accelerators: z.number(),
    pricing: z.object({ coreHour: z.number(), gibHour: z.number(), acceleratorHour: z.number() }),
  }),
  reserved: z.object({ cores: z.number(), memoryBytes: z.number(), accelerators: z.number() }),
  placements: z.array(
    z.object({
      jobId: z.string(),
      placement: z.string(),
      owner: z.string(),
      epoch: z.number(),
      state: z.string(),
      detail: z.string(),
      cores: z.number(),
      memoryBytes: z.number(),
      accelerators: z.number(),
      expiresAt: z.number(),
      usage: usageSchema,
    }),
  ),
})

const ledgerSchema = z.object({
  holder: z.string(),
  head: z.object({ seq: z.number(), hash: z.string() }),
  entries: z.array(
    z.object({
      seq: z.number(),
      hash: z.string(),
      receipt: z.object({ jobId: z.string(), taskId: z.string(), kind: z.string(), worker: z.string(), coreSeconds: z.number(), bytes: z.number(), credit: z.number(), issuedAt: z.number() }),
    }),
  ),
  heads: z.array(z.object({ holder: z.string(), seq: z.number(), head: z.string(), issuedAt: z.number() })),
})

const verifySchema = z.object({
  holder: z.string(),
  verdict: z.union([z.object({ ok: z.literal(true), length: z.number(), head: z.string() }), z.object({ ok: z.literal(false), seq: z.number(), reason: z.string() })]),
  entries: z.number(),
  matchesGossipedHead: z.boolean().optional(),
  credit: z.array(z.object({ peerId: z.string(), credit: z.number(), receipts: z.number(), coreSeconds: z.number() })),
})

type Job = z.output<typeof jobSchema>
type KnownJob = z.output<typeof jobListSchema>['known'][number]
type JobLogEvent = z.output<typeof jobLogSchema>['events'][number]
type Work = z.output<typeof workSchema>
type Verification = z.output<typeof verifySchema>

const loadJobs = () => fetchJson(jobListSchema, '/v1/jobs')
const loadWork = () => fetchJson(workSchema, '/v1/work')

const REFRESH_MS = 2_000
/** Receipts asked per ledger request (the route's most). */
const LEDGER_PAGE = 256
const TERMINAL = new Set(['done', 'failed', 'cancelled'])

/** `load` now, every `intervalMs` and after the stream comes back. */
function usePolled<T>(load: () => Promise<T>, intervalMs = REFRESH_MS) {
  const loaded = useLoader(load, [])
  useOnReconnect(loaded.reload)
  useEffect(() => {
    const timer = setInterval(loaded.reload, intervalMs)
    return () => clearInterval(timer)
  }, [loaded.reload, intervalMs])
  return loaded
}

// --- Formatting ---

/** Credits: small amounts with three significant digits, so a few core-seconds do not read as 0. */
function formatCredits(value: number): string {
  if (!Number.isFinite(value)) return '–'
  if (value === 0) return '0'
  return Math.abs(value) < 1 ? value.toPrecision(3) : value.toFixed(2)
}

function formatCoreSeconds(value: number): string {
  return value < 100 ? value.toFixed(1) : formatCount(value)
}

/** A JSON value on one line, cut to `max` characters (the whole in the title). */
function Json({ value, max = 80 }: { value: unknown; max?: number }) {
  const text = value === undefined ? '' : JSON.stringify(value)
  return (
    <code class="json-cell" title={text.length > max ? text : undefined}>
      {text.length > max ? `${text.slice(0, max - 1)}…` : text}
    </code>
  )
}

const TONES: Record<string, string> = {
  pending: 'amber',
  reserved: 'blue',
  running: 'blue',
  done: 'green',
  accepted: 'green',
  failed: 'red',
  cancelled: 'grey',
}

function StateBadge({ state }: { state: string }) {
  return <Badge tone={TONES[state] ?? 'grey'}>{state}</Badge>
}

/** Placements on a node that holds them (or held them to the end). */
function placedCount(job: Job): number {
  return job.placements.filter((p) => p.peerId !== null && (p.state === 'reserved' || p.state === 'running' || p.state === 'done')).length
}

// --- The page ---

export function ComputePage({ selected }: { selected: string | undefined }) {
  const jobs = usePolled(loadJobs)
  const own = jobs.data?.jobs ?? []
  const heard = (jobs.data?.known ?? []).filter((k) => !own.some((j) => j.id === k.id))
  const job = own.find((j) => j.id === selected)
  const heardSelected = heard.find((k) => k.id === selected)
  return (
    <div class="page">
      <Card title="Jobs">
        <ErrorNote error={jobs.error} />
        {jobs.data ? <JobsTable jobs={own} selected={selected} /> : !jobs.error && <Loading what="jobs" />}
      </Card>
      {heard.length > 0 && (
        <Card title="Jobs of other owners">
          <KnownTable known={heard} selected={selected} />
        </Card>
      )}
      {selected !== undefined && jobs.data !== undefined && job === undefined && (
        <Card title="Selected job">
          <p class="muted">
            {heardSelected === undefined ? (
              <>
                No job <span class="mono">{selected}</span> is known here.
              </>
            ) : (
              <>
                Job <span class="mono">{selected}</span> is scheduled by{' '}
                <span class="mono" title={heardSelected.owner}>
                  {shortId(heardSelected.owner)}
                </span>
                : its placements, tasks and log are on that node's dashboard.
              </>
            )}
          </p>
        </Card>
      )}
      {job !== undefined && <JobDetail key={job.id} job={job} />}
      <h2 class="section-title">Work &amp; ledger</h2>
      <WorkSection />
      <LedgerSection />
    </div>
  )
}

function JobsTable({ jobs, selected }: { jobs: readonly Job[]; selected: string | undefined }) {
  const now = useNow(5000)
  if (jobs.length === 0) return <p class="muted">This node owns no job: submit one with weft job submit job.yaml, or POST /v1/jobs.</p>
  const newestFirst = [...jobs].sort((a, b) => b.submittedAt - a.submittedAt)
  return (
    <div class="table-scroll">
      <table class="table table-hover" data-testid="compute-jobs">
        <caption class="sr-only">Jobs this node schedules; choose a job's name for its placements, tasks and log</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Placements</th>
            <th scope="col" class="num">Tasks</th>
            <th scope="col" class="num">Replication</th>
            <th scope="col" class="num">Cost (credits)</th>
            <th scope="col" class="num">Reschedules</th>
            <th scope="col">Submitted</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((job) => {
            const isSelected = job.id === selected
            return (
              <tr key={job.id} data-compute-job={job.id} class={isSelected ? 'selected' : undefined} onClick={() => (location.hash = computeJobHref(job.id))}>
                <th scope="row">
                  <a href={computeJobHref(job.id)} aria-current={isSelected ? 'true' : undefined}>
                    {job.name}
                  </a>
                  <div class="mono small muted">{shortId(job.id)}</div>
                </th>
                <td>{job.kind}</td>
                <td title={job.reason || undefined}>
                  <StateBadge state={job.state} />
                </td>
                <td class="num">
                  {placedCount(job)}/{job.placements.length}
                </td>
                <td class="num">{job.tasks.total === 0 ? <span class="muted">–</span> : `${job.tasks.accepted}/${job.tasks.total}`}</td>
                <td class="num">{job.tasks.accepted === 0 ? <span class="muted">–</span> : `×${job.tasks.replication.toFixed(2)}`}</td>
                <td class="num">{formatCredits(job.cost)}</td>
                <td class="num">{job.reschedules}</td>
                <td title={formatDateTime(job.submittedAt)}>{formatAgo(job.submittedAt, now)}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

function KnownTable({ known, selected }: { known: readonly KnownJob[]; selected: string | undefined }) {
  const now = useNow(5000)
  return (
    <div class="table-scroll">
      <table class="table" data-testid="known-jobs">
        <caption class="sr-only">Jobs other nodes schedule, from their announcements</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Owner</th>
            <th scope="col" class="num">Epoch</th>
            <th scope="col">State</th>
            <th scope="col">Owner's lease</th>
          </tr>
        </thead>
        <tbody>
          {known.map((k) => (
            <tr key={k.id} data-known-job={k.id} class={k.id === selected ? 'selected' : undefined}>
              <th scope="row" class="mono" title={k.id}>
                {shortId(k.id)}
              </th>
              <td class="mono" title={k.owner}>
                {shortId(k.owner)}
              </td>
              <td class="num">{k.epoch}</td>
              <td>
                <StateBadge state={k.state} />
              </td>
              <td>{k.leaseExpiresAt > now ? `expires in ${formatDuration(k.leaseExpiresAt - now)}` : `lapsed ${formatAgo(k.leaseExpiresAt, now)}`}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// --- One job ---

function JobDetail({ job }: { job: Job }) {
  return (
    <>
      <Card title={`${job.name} · ${job.kind}`} actions={<StateBadge state={job.state} />}>
        <div data-testid="compute-job" data-job-state={job.state}>
          {job.reason !== '' && <p class={job.state === 'failed' ? 'error' : 'muted'}>{job.reason}</p>}
          <Facts
            rows={[
              ['Job id', <span class="mono">{job.id}</span>],
              ['Owner', <span class="mono" title={job.owner}>{`${shortId(job.owner)} · epoch ${job.epoch}`}</span>],
              ['Submitted', job.finishedAt === null ? formatDateTime(job.submittedAt) : `${formatDateTime(job.submittedAt)}, ended ${formatDateTime(job.finishedAt)}`],
              ['Cost', `${formatCredits(job.cost)} credits for ${formatCoreSeconds(job.usage.coreSeconds)} core-seconds`],
              ['Receipts', `${job.receipts}, ${formatCredits(job.receiptCredit)} credits countersigned`],
            ]}
          />
        </div>
      </Card>
      <Card title={`Placements (${job.placements.length})`}>
        <PlacementsTable job={job} />
      </Card>
      {job.tasks.total > 0 && (
        <Card title={`Tasks (${job.tasks.accepted} of ${job.tasks.total} accepted)`}>
          <TasksTable tasks={job.tasks} />
        </Card>
      )}
      <Card title="Log">
        <JobLog id={job.id} />
      </Card>
    </>
  )
}

function PlacementsTable({ job }: { job: Job }) {
  if (job.placements.length === 0) return <p class="muted">No placement.</p>
  return (
    <div class="table-scroll">
      <table class="table" data-testid="job-placements">
        <thead>
          <tr>
            <th scope="col">Placement</th>
            <th scope="col">Node</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Attempts</th>
            <th scope="col">Detail</th>
            <th scope="col" class="num">Core-seconds</th>
            <th scope="col" class="num">Cost (credits)</th>
          </tr>
        </thead>
        <tbody>
          {job.placements.map((p) => (
            <tr key={p.name} data-placement={p.name}>
              <th scope="row" class="mono">
                {p.name}
              </th>
              <td class="mono" title={p.peerId ?? undefined}>
                {p.peerId === null ? <span class="muted">not placed</span> : shortId(p.peerId)}
              </td>
              <td>
                <StateBadge state={p.state} />
              </td>
              <td class="num">{p.attempts}</td>
              <td class="break">{p.detail || <span class="muted">–</span>}</td>
              <td class="num">{formatCoreSeconds(p.usage.coreSeconds)}</td>
              <td class="num">{formatCredits(p.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function TasksTable({ tasks }: { tasks: Job['tasks'] }) {
  return (
    <>
      <p class="muted small">
        {tasks.pending} pending · {tasks.accepted} accepted · {tasks.failed} failed · {tasks.results} results computed
        {tasks.list.length < tasks.total ? ` · the first ${tasks.list.length} shown` : ''}
      </p>
      <div class="table-scroll">
        <table class="table" data-testid="job-tasks">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">State</th>
              <th scope="col">Params</th>
              <th scope="col">Result or reason</th>
              <th scope="col">Workers</th>
            </tr>
          </thead>
          <tbody>
            {tasks.list.map((t) => (
              <tr key={t.id} data-task={t.id}>
                <th scope="row" class="mono small">
                  {t.id}
                </th>
                <td>
                  <StateBadge state={t.state} />
                </td>
                <td>
                  <Json value={t.params} />
                </td>
                <td>
                  {t.reason !== undefined ? (
                    <span class="error-text">{t.reason}</span>
                  ) : t.resultCid !== undefined ? (
                    <>
                      <Json value={t.result} />
                      <div class="mono small muted" title={t.resultCid}>
                        {shortId(t.resultCid)}
                      </div>
                    </>
                  ) : (
                    <span class="muted">–</span>
                  )}
                </td>
                <td class="mono small">{t.workers.length === 0 ? <span class="muted">–</span> : t.workers.map(shortId).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  )
}

/** The job's log: polled from `after` = what was read so far, until the job ends. */
function JobLog({ id }: { id: string }) {
  const [events, setEvents] = useState<readonly JobLogEvent[]>([])
  const [error, setError] = useState<Error | undefined>(undefined)
  const next = useRef(0)
  const ended = useRef(false)
  const inflight = useRef(false)
  const poll = useCallback(() => {
    if (ended.current || inflight.current) return
    inflight.current = true
    fetchJson(jobLogSchema, `/v1/jobs/${encodeURIComponent(id)}/logs?after=${next.current}`)
      .then(
        (answer) => {
          // An answer from before a newer one, or a log that started over (a takeover): keep what is consistent.
          if (answer.next < next.current) {
            next.current = 0
            setEvents([])
            return
          }
          next.current = answer.next
          ended.current = TERMINAL.has(answer.state)
          if (answer.events.length > 0) setEvents((current) => [...current, ...answer.events])
          setError(undefined)
        },
        (cause: Error) => setError(cause),
      )
      .finally(() => {
        inflight.current = false
      })
  }, [id])
  useEffect(() => {
    poll()
    const timer = setInterval(poll, REFRESH_MS)
    return () => clearInterval(timer)
  }, [poll])
  useOnReconnect(poll)

  const list = useRef<HTMLOListElement>(null)
  const pinned = useRef(true)
  // Follow new events only while the reader is at the bottom, so scrolling back to read is not undone.
  useLayoutEffect(() => {
    const element = list.current
    if (element !== null && pinned.current) element.scrollTop = element.scrollHeight
  }, [events])
  const onScroll = () => {
    const element = list.current
    if (element !== null) pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24
  }
  return (
    <>
      <ErrorNote error={error} />
      {events.length === 0 ? (
        <p class="muted">No events yet.</p>
      ) : (
        <ol class="event-log" ref={list} onScroll={onScroll} data-testid="job-log" aria-label="Job log, newest at the bottom">
          {events.map((event, i) => (
            <li key={i} class="event">
              <time title={formatDateTime(event.at)}>{formatClock(event.at)}</time>
              <span class="event-message">{event.message}</span>
            </li>
          ))}
        </ol>
      )}
    </>
  )
}

// --- This node's work ---

function WorkSection() {
  const work = usePolled(loadWork)
  return (
    <>
      <Card title="Offered here">
        <ErrorNote error={work.error} />
        {work.data ? <Offer work={work.data} /> : !work.error && <Loading what="the offer" />}
      </Card>
      <Card title="Placements held here">{work.data && <HeldTable placements={work.data.placements} />}</Card>
    </>
  )
}

function Offer({ work }: { work: Work }) {
  const { offer, reserved } = work
  const p = offer.pricing
  return (
    <div class="stats" data-testid="work-offer">
      <Stat label="Cores" value={`${formatCount(reserved.cores)} of ${formatCount(offer.cores)}`} detail="reserved" />
      <Stat label="Memory" value={`${formatBytes(reserved.memoryBytes)} of ${formatBytes(offer.memoryBytes)}`} detail="reserved" />
      <Stat label="Accelerators" value={`${reserved.accelerators} of ${offer.accelerators}`} detail="reserved" />
      <Stat
        label="Prices"
        value={`${formatCredits(p.coreHour)} per core-hour`}
        detail={`${formatCredits(p.gibHour)} per GiB-hour · ${formatCredits(p.acceleratorHour)} per accelerator-hour`}
      />
    </div>
  )
}

function HeldTable({ placements }: { placements: Work['placements'] }) {
  const now = useNow(1000)
  if (placements.length === 0) return <p class="muted">This node holds no placement.</p>
  return (
    <div class="table-scroll">
      <table class="table" data-testid="held-placements">
        <thead>
          <tr>
            <th scope="col">Job · placement</th>
            <th scope="col">Owner</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Cores</th>
            <th scope="col" class="num">Memory</th>
            <th scope="col" class="num">Accelerators</th>
            <th scope="col" class="num">Core-seconds</th>
            <th scope="col">Lease</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {placements.map((r) => (
            <tr key={`${r.jobId}/${r.placement}`} data-held={`${r.jobId}/${r.placement}`}>
              <th scope="row">
                <span class="mono" title={r.jobId}>
                  {shortId(r.jobId)}
                </span>{' '}
                · <span class="mono">{r.placement}</span>
              </th>
              <td class="mono" title={r.owner}>
                {shortId(r.owner)} · epoch {r.epoch}
              </td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td class="num">{r.cores}</td>
              <td class="num">{formatBytes(r.memoryBytes)}</td>
              <td class="num">{r.accelerators}</td>
              <td class="num">{formatCoreSeconds(r.usage.coreSeconds)}</td>
              <td>{r.expiresAt > now ? `${formatDuration(r.expiresAt - now)} left` : 'lapsed'}</td>
              <td class="break">{r.detail || <span class="muted">–</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// --- This node's ledger ---

interface WorkerCredit {
  readonly worker: string
  readonly credit: number
  readonly receipts: number
  readonly coreSeconds: number
}

interface LedgerState {
  readonly holder: string
  readonly head: { readonly seq: number; readonly hash: string }
  readonly heads: z.output<typeof ledgerSchema>['heads']
  /** Per worker, summed over every receipt read so far. */
  readonly credit: ReadonlyMap<string, WorkerCredit>
  /** The seq of the next receipt to read. */
  readonly next: number
}

/** Most pages read in one poll, so a long ledger is read over a few polls rather than in one burst. */
const MAX_PAGES_PER_POLL = 8

/** Reads the receipts appended since `state` (the ledger only grows), or from the start for another holder. */
async function readLedger(state: LedgerState | undefined): Promise<LedgerState> {
  let current = state
  for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
    const from = current?.next ?? 1
    const answer = await fetchJson(ledgerSchema, `/v1/ledger?from=${from}&limit=${LEDGER_PAGE}`)
    // Another node behind the same address, or a ledger that started over: read it from its first receipt.
    if (current !== undefined && (current.holder !== answer.holder || answer.head.seq < current.next - 1)) return readLedger(undefined)
    const credit = new Map(current?.credit ?? [])
    let next = from
    for (const entry of answer.entries) {
      const r = entry.receipt
      const sum = credit.get(r.worker) ?? { worker: r.worker, credit: 0, receipts: 0, coreSeconds: 0 }
      credit.set(r.worker, { worker: r.worker, credit: sum.credit + r.credit, receipts: sum.receipts + 1, coreSeconds: sum.coreSeconds + r.coreSeconds })
      next = entry.seq + 1
    }
    current = { holder: answer.holder, head: answer.head, heads: answer.heads, credit, next }
    if (answer.entries.length < LEDGER_PAGE) break
  }
  return current as LedgerState
}

function useLedger() {
  const state = useRef<LedgerState | undefined>(undefined)
  const load = useCallback(async () => {
    state.current = await readLedger(state.current)
    return state.current
  }, [])
  return usePolled(load, 3_000)
}

function LedgerSection() {
  const ledger = useLedger()
  const data = ledger.data
  return (
    <div class="two-columns">
      <Card title="Ledger">
        <ErrorNote error={ledger.error} />
        {data ? (
          <>
            <div data-testid="ledger-head" data-seq={data.head.seq}>
              <Facts
                rows={[
                  ['Holder', <span class="mono" title={data.holder}>{shortId(data.holder)}</span>],
                  ['Head', `seq ${data.head.seq}`],
                  ['Hash', <span class="mono break">{data.head.hash}</span>],
                ]}
              />
            </div>
            <Verify self={data.holder} heard={data.heads.map((h) => h.holder)} />
          </>
        ) : (
          !ledger.error && <Loading what="the ledger" />
        )}
      </Card>
      <Card title="Credit per worker">{data && <CreditTable state={data} />}</Card>
    </div>
  )
}

function CreditTable({ state }: { state: LedgerState }) {
  const rows = [...state.credit.values()].sort((a, b) => b.credit - a.credit || a.worker.localeCompare(b.worker))
  if (rows.length === 0) return <p class="muted">No receipt in this node's ledger yet.</p>
  return (
    <div class="table-scroll">
      <table class="table" data-testid="ledger-credit">
        <caption class="sr-only">Credit per worker, summed over the receipts of this node's ledger</caption>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col" class="num">Receipts</th>
            <th scope="col" class="num">Core-seconds</th>
            <th scope="col" class="num">Credit</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((w) => (
            <tr key={w.worker} data-worker={w.worker}>
              <th scope="row" class="mono" title={w.worker}>
                {shortId(w.worker)}
              </th>
              <td class="num">{w.receipts}</td>
              <td class="num">{formatCoreSeconds(w.coreSeconds)}</td>
              <td class="num">{formatCredits(w.credit)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/** Fetches a node's whole chain through this node and verifies it: hashes, links, every receipt's signatures. */
function Verify({ self, heard }: { self: string; heard: readonly string[] }) {
  const [holder, setHolder] = useState(self)
  const [pending, setPending] = useState(false)
  const [result, setResult] = useState<Verification | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)
  const holders = [self, ...heard.filter((h) => h !== self)]
  const verify = async (event: Event) => {
    event.preventDefault()
    setPending(true)
    setError(undefined)
    setResult(undefined)
    try {
      setResult(await fetchJson(verifySchema, `/v1/ledger/verify?node=${encodeURIComponent(holder)}`))
    } catch (cause) {
      setError(cause instanceof Error ? cause : new Error(String(cause)))
    } finally {
      setPending(false)
    }
  }
  return (
    <form class="verify-form" onSubmit={verify}>
      <div class="form-actions">
        <label for="ledger-holder">Ledger of</label>
        <select id="ledger-holder" value={holder} onChange={(event) => setHolder(event.currentTarget.value)}>
          {holders.map((h) => (
            <option key={h} value={h}>
              {h === self ? `this node (${shortId(h)})` : shortId(h)}
            </option>
          ))}
        </select>
        <button type="submit" data-testid="verify-ledger" disabled={pending}>
          {pending ? 'Verifying…' : 'Verify'}
        </button>
      </div>
      <ErrorNote error={error} />
      <div aria-live="polite" data-testid="ledger-verdict">
        {result !== undefined && <Verdict check={result} />}
      </div>
    </form>
  )
}

function Verdict({ check }: { check: Verification }) {
  const v = check.verdict
  if (!v.ok)
    return (
      <p class="error" data-ok="false">
        Broken at entry {v.seq} of {shortId(check.holder)}'s ledger: {v.reason}
      </p>
    )
  const gossip =
    check.matchesGossipedHead === undefined ? '' : check.matchesGossipedHead ? ', ending at the head it gossiped' : ', but NOT at the head it gossiped'
  return (
    <p class={check.matchesGossipedHead === false ? 'error' : 'verdict-ok'} data-ok="true">
      <Badge tone={check.matchesGossipedHead === false ? 'red' : 'green'}>verified</Badge> {v.length} entries, every hash, link and signature checked
      {gossip}; head <span class="mono" title={v.head}>{v.head.slice(0, 16)}…</span>
    </p>
  )
}
