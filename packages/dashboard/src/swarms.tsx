// Serverless training: the swarms this node trains in. For each: progress, this peer's loss, accuracy and consensus
// distance per outer step (a chart), bytes and utilisation, the members as this peer sees them, and dropped members.
import { useEffect, useMemo } from 'preact/hooks'
import type uPlot from 'uplot'
import { api } from './api'
import { COLORS, Chart, type ChartOptions, roundAxis, roundScale, valueAxis } from './charts'
import { formatBytes, formatValue, shortId } from './format'
import { useLoader, useOnReconnect } from './hooks'
import { Badge, Card, ErrorNote, Loading } from './ui'

type Swarm = Awaited<ReturnType<typeof api.swarms>>[number]

const REFRESH_MS = 2_000

const show = (format: (value: number) => string) => (_plot: uPlot, value: number | null) => (value === null ? '–' : format(value))

const STEP_OPTIONS: ChartOptions = {
  scales: { x: roundScale, accuracy: { range: [0, 100] }, loss: { range: (_plot, _min, max) => [0, max] } },
  axes: [roundAxis, valueAxis('accuracy %', (value) => `${value}%`, 'accuracy'), valueAxis('loss, distance', (value) => value.toPrecision(2), 'loss', 1)],
  series: [
    { label: 'outer step' },
    { label: 'accuracy', scale: 'accuracy', stroke: COLORS.blue, width: 2, spanGaps: true, value: show((v) => `${v.toFixed(2)}%`) },
    { label: 'train loss', scale: 'loss', stroke: COLORS.red, width: 1.5, spanGaps: true, value: show(formatValue) },
    { label: 'consensus distance', scale: 'loss', stroke: COLORS.purple, width: 1.5, dash: [4, 4], spanGaps: true, value: show(formatValue) },
  ],
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(2)}%`)

export function SwarmsPage() {
  const view = useLoader(api.swarms, [])
  useOnReconnect(view.reload)
  useEffect(() => {
    const timer = setInterval(view.reload, REFRESH_MS)
    return () => clearInterval(timer)
  }, [view.reload])
  return (
    <div class="page">
      <ErrorNote error={view.error} />
      {!view.data && !view.error && <Loading what="swarms" />}
      {view.data && view.data.length === 0 && (
        <Card title="Swarms">
          <p class="muted">This node trains in no swarm: start one with weft swarm start swarm.yaml, or join one with weft swarm join &lt;id&gt;.</p>
        </Card>
      )}
      {view.data?.map((s) => (
        <SwarmCard key={s.id} swarm={s} />
      ))}
    </div>
  )
}

function SwarmCard({ swarm: s }: { swarm: Swarm }) {
  const data = useMemo(
    () =>
      [
        s.history.map((r) => r.step + 1),
        s.history.map((r) => (r.accuracy === null ? null : r.accuracy * 100)),
        s.history.map((r) => r.loss),
        s.history.map((r) => r.consensusDistance),
      ] as uPlot.AlignedData,
    [s.history],
  )
  const tone = s.state === 'training' ? 'blue' : s.state === 'done' ? 'green' : s.state === 'failed' ? 'red' : 'grey'
  return (
    <Card title={`${s.name} · outer step ${s.step}/${s.totalSteps}`} actions={<Badge tone={tone}>{s.state}</Badge>}>
      <div class="swarm" data-testid="swarm" data-swarm={s.id}>
        <p class="mono small" title={s.id}>
          {s.id}
        </p>
        {s.error !== undefined && <p class="error">{s.error}</p>}
        <p>
          Swarm samples {s.swarmSamples.toLocaleString()} of {s.totalSamples.toLocaleString()} ({s.targetSamples.toLocaleString()} per outer step) ·{' '}
          {s.members.length + 1} member(s) · engine {s.engine} · sent {formatBytes(s.bytes.sent)}, received {formatBytes(s.bytes.received)} · utilisation{' '}
          {(s.utilisation.fraction * 100).toFixed(1)}%
        </p>
        {s.history.length > 0 && <Chart options={STEP_OPTIONS} data={data} />}
        <div class="table-scroll">
          <table class="table" data-testid="swarm-members">
            <thead>
              <tr>
                <th>Member</th>
                <th class="num">Step</th>
                <th class="num">Step samples</th>
                <th class="num">Samples</th>
                <th class="num">Loss</th>
                <th class="num">Accuracy</th>
                <th class="num">Consensus</th>
                <th class="num">Seen</th>
              </tr>
            </thead>
            <tbody>
              {s.members.map((m) => (
                <tr key={m.peer}>
                  <td class="mono" title={m.peer}>
                    {shortId(m.peer)}
                  </td>
                  <td class="num">{m.step}</td>
                  <td class="num">{m.stepSamples.toLocaleString()}</td>
                  <td class="num">{m.totalSamples.toLocaleString()}</td>
                  <td class="num">{m.loss === null ? '–' : formatValue(m.loss)}</td>
                  <td class="num">{pct(m.accuracy)}</td>
                  <td class="num">{m.consensusDistance === null ? '–' : formatValue(m.consensusDistance)}</td>
                  <td class="num">{(m.lastSeenMs / 1000).toFixed(1)} s ago</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {s.banned.length > 0 && (
          <ul class="error">
            {s.banned.map((b) => (
              <li key={b.peer}>
                dropped <span class="mono">{shortId(b.peer)}</span>: {b.reason}
              </li>
            ))}
          </ul>
        )}
      </div>
    </Card>
  )
}
