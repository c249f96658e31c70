// Job view: one federated-learning job's progress, per-round metrics and charts, stored models and event log.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { api, modelUrl } from './api'
import { formatBytes, formatClock, formatCount, formatDateTime, formatDuration, formatPercent, formatSeconds, formatValue, shortId } from './format'
import { useLoader, useNow, useOnReconnect, useStream, useThrottled } from './hooks'
import { JobCharts, evaluationOf } from './job-charts'
import { Progress, StatusBadge } from './jobs'
import type { JobEvent, JobView, RoundView } from './types'
import { Card, ErrorNote, Facts, Loading, Stat } from './ui'

export function JobPage({ id }: { id: string }) {
  const job = useLoader(() => api.job(id), [id])
  const refetch = useThrottled(job.reload, 500)
  const log = useJobEvents(id)
  useStream('job', ({ jobId, event }) => {
    if (jobId !== id) return
    log.add([event])
    refetch()
  })
  useOnReconnect(() => {
    refetch()
    log.catchUp()
  })

  if (job.data === undefined) {
    return (
      <div class="page">
        <p>
          <a href="#/jobs">← Jobs</a>
        </p>
        {job.error ? <ErrorNote error={job.error} /> : <Loading what={`job ${id}`} />}
      </div>
    )
  }
  return (
    <div class="page">
      <ErrorNote error={job.error} />
      <JobHeader job={job.data} onChange={job.reload} />
      <JobStats job={job.data} />
      <Card title="Per round">
        <JobCharts history={job.data.history} />
      </Card>
      <Card title={`Rounds (${job.data.history.length})`}>
        <RoundsTable history={job.data.history} />
      </Card>
      <div class="two-columns">
        <Card title="Event log">
          <ErrorNote error={log.error} />
          <EventLog events={log.events} />
        </Card>
        <div>
          <Card title="Stored models">
            <Models job={job.data} />
          </Card>
          <Card title="Spec">
            <pre class="spec">{JSON.stringify(job.data.spec, null, 2)}</pre>
          </Card>
        </div>
      </div>
    </div>
  )
}

// --- Events ---

function mergeEvents(current: readonly JobEvent[], incoming: readonly JobEvent[]): readonly JobEvent[] {
  const lastSeq = current.at(-1)?.seq ?? 0
  if (incoming.every((event) => event.seq > lastSeq)) return incoming.length === 0 ? current : [...current, ...incoming]
  return [...new Map([...current, ...incoming].map((event) => [event.seq, event])).values()].sort((a, b) => a.seq - b.seq)
}

/** The job's event log: fetched once, then appended from the stream (`add`), caught up after a break. */
function useJobEvents(id: string) {
  const [events, setEvents] = useState<readonly JobEvent[]>([])
  const [error, setError] = useState<Error | undefined>(undefined)
  const lastSeq = useRef(0)
  lastSeq.current = events.at(-1)?.seq ?? 0

  const add = useCallback((incoming: readonly JobEvent[]) => setEvents((current) => mergeEvents(current, incoming)), [])
  const fetchAfter = useCallback(
    (after: number) =>
      api.jobEvents(id, after).then(
        (answer) => {
          add(answer.events)
          setError(undefined)
        },
        (cause: Error) => setError(cause),
      ),
    [id, add],
  )
  useEffect(() => {
    setEvents([])
    void fetchAfter(0)
  }, [fetchAfter])
  const catchUp = useCallback(() => void fetchAfter(lastSeq.current), [fetchAfter])
  return { events, error, add, catchUp }
}

function EventLog({ events }: { events: readonly JobEvent[] }) {
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
  if (events.length === 0) return <p class="muted">No events yet.</p>
  return (
    <ol class="event-log" ref={list} onScroll={onScroll}>
      {events.map((event) => (
        <li key={event.seq} class={`event event-${event.type}`}>
          <time title={formatDateTime(event.at)}>{formatClock(event.at)}</time>
          <span class="event-type">{event.type}</span>
          {event.round !== undefined && <span class="event-round">r{event.round}</span>}
          <span class="event-message">{event.message}</span>
        </li>
      ))}
    </ol>
  )
}

// --- Header and stats ---

function JobHeader({ job, onChange }: { job: JobView; onChange: () => void }) {
  const [cancelling, setCancelling] = useState(false)
  const [error, setError] = useState<Error | undefined>(undefined)
  const cancel = async () => {
    setCancelling(true)
    setError(undefined)
    try {
      await api.cancelJob(job.id)
      onChange()
    } catch (cause) {
      setError(cause instanceof Error ? cause : new Error(String(cause)))
    } finally {
      setCancelling(false)
    }
  }
  const actions =
    job.status === 'running' ? (
      <button type="button" class="button-danger" data-testid="cancel-job" disabled={cancelling} onClick={cancel}>
        {cancelling ? 'Cancelling…' : 'Cancel job'}
      </button>
    ) : undefined
  return (
    <Card title={job.name} actions={actions}>
      <ErrorNote error={error} />
      {job.error !== undefined && <p class="error">{job.error}</p>}
      <Facts
        rows={[
          [
            'Status',
            <span class="status-line">
              <span data-testid="job-status">
                <StatusBadge status={job.status} />
              </span>
              <Progress done={job.completedRounds} total={job.rounds} />
            </span>,
          ],
          ['Job id', <span class="mono">{job.id}</span>],
          ['Coordinator', <span class="mono" title={job.coordinator}>{shortId(job.coordinator)}</span>],
          ['Submitter', <span class="mono" title={job.submitter}>{shortId(job.submitter)}</span>],
          ['Model', `${job.model.architecture}, ${formatCount(job.model.params)} parameters`],
          ['Strategy · data set', `${job.strategy} · ${job.dataset}`],
          ['Created', `${formatDateTime(job.createdAt)}, updated ${formatDateTime(job.updatedAt)}`],
        ]}
      />
      <p class="muted small">
        <a href="#/jobs">← All jobs</a>
      </p>
    </Card>
  )
}

/** The privacy budget spent so far: that of the latest round that reports one. */
function privacySpent(history: readonly RoundView[]) {
  return history.findLast((round) => round.metrics?.privacy !== undefined)?.metrics?.privacy
}

function JobStats({ job }: { job: JobView }) {
  const now = useNow()
  const closed = job.history.flatMap((round) => (round.metrics === undefined ? [] : [round.metrics]))
  const bytes = closed.reduce((sum, metrics) => sum + metrics.bytesDown + metrics.bytesUp, 0)
  const meanSeconds = closed.length === 0 ? undefined : closed.reduce((sum, metrics) => sum + metrics.seconds.total, 0) / closed.length
  const privacy = privacySpent(job.history)
  const dp = job.spec.privacy.dp
  const epsilonLimit = dp?.epsilonLimit ?? dp?.targetEpsilon
  const secure = job.history.findLast((round) => round.metrics?.secureAggregation !== undefined)?.metrics?.secureAggregation
  const live = job.live?.round
  return (
    <div class="stats">
      <Stat label="Accuracy" value={formatPercent(job.latest?.accuracy, 2)} detail={job.latest ? `after round ${job.latest.round}` : 'no round yet'} />
      <Stat label="Loss" value={formatValue(job.latest?.loss)} detail={`train ${formatValue(job.latest?.trainLoss)}`} />
      <Stat label="Traffic" value={formatBytes(bytes)} detail={`${closed.length} rounds`} />
      <Stat label="Mean round" value={formatSeconds(meanSeconds)} />
      {job.live?.paused !== undefined && <Stat label="Paused" value="out of space" detail={job.live.paused.reason} />}
      {job.live !== undefined && job.live.paused === undefined && (
        <Stat
          label={live ? `Round ${live.round} in progress` : 'Clients'}
          value={live ? `${live.delivered}/${live.participants}` : `${job.live.available} available`}
          detail={
            live
              ? `delivered · ${live.pending} pending · ${live.dropped} dropped · ${formatDuration(now - live.startedAt)}`
              : `${job.live.members} members`
          }
        />
      )}
      {privacy !== undefined && (
        <div class="stat stat-privacy" data-testid="privacy">
          <div class="stat-label">Privacy budget spent</div>
          <div class="stat-value">
            ε = {privacy.epsilon.toFixed(3)}
            {epsilonLimit === undefined ? '' : ` of ${epsilonLimit}`}
          </div>
          <div class="stat-detail">
            δ = {privacy.delta.toExponential(1)} · noise z = {privacy.noiseMultiplier.toFixed(3)} · clip {privacy.clipNorm.toPrecision(3)}
          </div>
        </div>
      )}
      {secure !== undefined && (
        <Stat
          label="Secure aggregation"
          value={`${secure.survivors} in the sum`}
          detail={`k = ${secure.degree}, t = ${secure.threshold}, ${secure.bits}-bit inputs, ${formatBytes(secure.protocolBytes)} of keys and shares`}
        />
      )}
    </div>
  )
}

// --- Rounds and models ---

/** Clients asked to train whose update was not accepted. */
function droppedOf(round: RoundView): readonly string[] {
  const delivered = new Set(round.delivered)
  return round.clients.filter((client) => !delivered.has(client))
}

function RoundsTable({ history }: { history: readonly RoundView[] }) {
  if (history.length === 0) return <p class="muted">No round has started yet.</p>
  const showPrivacy = history.some((round) => round.metrics?.privacy !== undefined)
  return (
    <div class="table-scroll table-scroll-x">
      <table class="table">
        <thead>
          <tr>
            <th class="num">Round</th>
            <th>Status</th>
            <th class="num">Clients</th>
            <th class="num">Results</th>
            <th>Dropped</th>
            <th class="num">Examples</th>
            <th class="num">Accuracy</th>
            <th class="num">Loss</th>
            <th class="num">Train loss</th>
            <th class="num">Down</th>
            <th class="num">Up</th>
            <th class="num">Total</th>
            <th class="num">Broadcast</th>
            <th class="num">Training</th>
            <th class="num">Upload</th>
            <th class="num">Aggregation</th>
            {showPrivacy && <th class="num greek">ε spent</th>}
          </tr>
        </thead>
        <tbody>
          {history.map((round) => (
            <RoundRow key={round.round} round={round} showPrivacy={showPrivacy} />
          ))}
        </tbody>
      </table>
    </div>
  )
}

function RoundRow({ round, showPrivacy }: { round: RoundView; showPrivacy: boolean }) {
  const metrics = round.metrics
  const evaluation = evaluationOf(round)
  const dropped = droppedOf(round)
  return (
    <tr data-round={round.round}>
      <td class="num">{round.round}</td>
      <td>{round.status}</td>
      <td class="num">{round.participants}</td>
      <td class="num">{metrics?.results ?? round.delivered.length}</td>
      <td class="mono small nowrap">
        {round.status === 'open' ? (
          <span class="muted">{dropped.length} pending</span>
        ) : dropped.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          dropped.map(shortId).join(', ')
        )}
      </td>
      <td class="num">{metrics ? formatCount(metrics.examples) : '–'}</td>
      <td class="num">{formatPercent(evaluation?.accuracy, 2)}</td>
      <td class="num">{formatValue(evaluation?.loss)}</td>
      <td class="num">{formatValue(metrics?.trainLoss)}</td>
      <td class="num">{metrics ? formatBytes(metrics.bytesDown) : '–'}</td>
      <td class="num">{metrics ? formatBytes(metrics.bytesUp) : '–'}</td>
      <td class="num">{formatSeconds(metrics?.seconds.total)}</td>
      <td class="num">{formatSeconds(metrics?.seconds.broadcast)}</td>
      <td class="num">{formatSeconds(metrics?.seconds.training)}</td>
      <td class="num">{formatSeconds(metrics?.seconds.upload)}</td>
      <td class="num">{formatSeconds(metrics?.seconds.aggregation)}</td>
      {showPrivacy && <td class="num">{metrics?.privacy ? metrics.privacy.epsilon.toFixed(3) : '–'}</td>}
    </tr>
  )
}

function Models({ job }: { job: JobView }) {
  if (job.models.length === 0) return <p class="muted">No model stored yet.</p>
  return (
    <ul class="models">
      <li>
        <a href={modelUrl(job.id, 'last')} download={`${job.id}-latest.weft`}>
          latest
        </a>
      </li>
      {job.models.map((round) => (
        <li key={round}>
          <a href={modelUrl(job.id, round)} download={`${job.id}-round-${round}.weft`}>
            {round === 0 ? 'initial (round 0)' : `round ${round}`}
          </a>
        </li>
      ))}
    </ul>
  )
}
