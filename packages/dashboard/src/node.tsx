// Node view: this node's CPU, memory and network over time, its resources and connections, and fabric totals.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type uPlot from 'uplot'
import { api } from './api'
import { Chart, type ChartOptions, COLORS, bytesAxis, timeAxis, valueAxis } from './charts'
import { formatBytes, formatDateTime, formatDuration, formatPercent, formatRate, shortId } from './format'
import { useLoader, useMesh, useNow, useOnReconnect, useStream, useThrottled } from './hooks'
import { AcceleratorsList, DatasetsTable, RuntimesTable } from './resources'
import type { NodeView, TelemetrySample } from './types'
import { Badge, Card, ErrorNote, Facts, Labels, Loading, Stat, TotalsRow } from './ui'

export function NodePage() {
  const node = useLoader(api.node, [])
  const refetchNode = useThrottled(node.reload, 1000)
  useStream('connection', refetchNode)
  useStream('peer', refetchNode)
  useOnReconnect(refetchNode)
  const mesh = useMesh()
  const telemetry = useTelemetry()

  return (
    <div class="page">
      <Card title="Fabric">
        <ErrorNote error={mesh.error} />
        {mesh.data ? <TotalsRow totals={mesh.data.totals} /> : !mesh.error && <Loading what="fabric totals" />}
      </Card>
      <Card title="This node, over the last 30 minutes">
        <ErrorNote error={telemetry.error} />
        <LatestSample sample={telemetry.samples.at(-1)} />
        <TelemetryCharts samples={telemetry.samples} />
      </Card>
      <ErrorNote error={node.error} />
      {node.data ? <NodeInfo node={node.data} /> : !node.error && <Loading what="this node" />}
    </div>
  )
}

// --- Telemetry ---

const WINDOW_MS = 30 * 60_000

/** Merges samples by time, keeping the last 30 minutes; the common case (newer samples) just appends. */
function mergeSamples(current: readonly TelemetrySample[], incoming: readonly TelemetrySample[]): readonly TelemetrySample[] {
  if (incoming.length === 0) return current
  const lastAt = current.at(-1)?.at ?? Number.NEGATIVE_INFINITY
  const merged =
    incoming.every((sample) => sample.at > lastAt)
      ? [...current, ...incoming]
      : [...new Map([...current, ...incoming].map((sample) => [sample.at, sample])).values()].sort((a, b) => a.at - b.at)
  const cutoff = (merged.at(-1)?.at ?? 0) - WINDOW_MS
  const first = merged.findIndex((sample) => sample.at >= cutoff)
  return first <= 0 ? merged : merged.slice(first)
}

/** The last 30 minutes of samples: fetched once, then appended from the stream, caught up after a break. */
function useTelemetry(): { samples: readonly TelemetrySample[]; error: Error | undefined } {
  const [samples, setSamples] = useState<readonly TelemetrySample[]>([])
  const [error, setError] = useState<Error | undefined>(undefined)
  const lastAt = useRef<number | undefined>(undefined)
  lastAt.current = samples.at(-1)?.at

  const add = useCallback((incoming: readonly TelemetrySample[]) => setSamples((current) => mergeSamples(current, incoming)), [])
  const fetchSince = useCallback(
    (since: number | undefined) =>
      api.telemetry(since).then(
        (view) => {
          add(view.samples)
          setError(undefined)
        },
        (cause: Error) => setError(cause),
      ),
    [add],
  )
  useEffect(() => void fetchSince(undefined), [fetchSince])
  useStream('sample', ({ sample }) => add([sample]))
  useOnReconnect(() => void fetchSince(lastAt.current))
  return { samples, error }
}

function LatestSample({ sample }: { sample: TelemetrySample | undefined }) {
  if (sample === undefined) return <Loading what="telemetry" />
  return (
    <div class="stats stats-compact">
      <Stat label="Host CPU" value={formatPercent(sample.cpu.host)} detail={`weft ${formatPercent(sample.cpu.process)}`} />
      <Stat label="Memory used" value={formatBytes(sample.memory.usedBytes)} detail={`of ${formatBytes(sample.memory.totalBytes)}`} />
      <Stat label="Weft RSS" value={formatBytes(sample.memory.rssBytes)} detail={`heap ${formatBytes(sample.memory.heapUsedBytes)}`} />
      <Stat label="Network in" value={formatRate(sample.net.inRate)} detail={`${formatBytes(sample.net.inBytes)} total`} />
      <Stat label="Network out" value={formatRate(sample.net.outRate)} detail={`${formatBytes(sample.net.outBytes)} total`} />
      <Stat label="Connections" value={sample.connections} detail={`${sample.peersAlive} peers alive`} />
    </div>
  )
}

const percentScale: uPlot.Scale = { range: [0, 100] }

const CPU_OPTIONS: ChartOptions = {
  scales: { y: percentScale },
  axes: [timeAxis, valueAxis('CPU %', (value) => `${value}%`)],
  series: [
    {},
    { label: 'host', stroke: COLORS.blue, fill: `${COLORS.blue}22`, width: 1.5, value: (_u, v) => (v === null ? '–' : `${v.toFixed(1)}%`) },
    { label: 'weft process', stroke: COLORS.orange, width: 1.5, value: (_u, v) => (v === null ? '–' : `${v.toFixed(1)}%`) },
  ],
}

const bytesValue = (_plot: uPlot, value: number | null) => (value === null ? '–' : formatBytes(value))
const rateValue = (_plot: uPlot, value: number | null) => (value === null ? '–' : formatRate(value))

const fromZero: uPlot.Scale = { range: (_plot, _min, max) => [0, max] }

/** The host's memory dwarfs the process's, so the process gets its own scale on the right. */
const MEMORY_OPTIONS: ChartOptions = {
  scales: { y: fromZero, process: fromZero },
  axes: [timeAxis, bytesAxis('host'), bytesAxis('weft process', formatBytes, 'process', 1)],
  series: [
    {},
    { label: 'host used', stroke: COLORS.blue, fill: `${COLORS.blue}22`, width: 1.5, value: bytesValue },
    { label: 'weft RSS', scale: 'process', stroke: COLORS.orange, width: 1.5, value: bytesValue },
    { label: 'weft heap', scale: 'process', stroke: COLORS.purple, width: 1.5, value: bytesValue },
  ],
}

const NETWORK_OPTIONS: ChartOptions = {
  scales: { y: { range: (_plot, _min, max) => [0, Math.max(max, 1024)] } },
  axes: [timeAxis, bytesAxis('weft traffic', formatRate)],
  series: [
    {},
    { label: 'in', stroke: COLORS.green, fill: `${COLORS.green}22`, width: 1.5, value: rateValue },
    { label: 'out', stroke: COLORS.red, width: 1.5, value: rateValue },
  ],
}

function TelemetryCharts({ samples }: { samples: readonly TelemetrySample[] }) {
  const data = useMemo(() => {
    const seconds = samples.map((sample) => sample.at / 1000)
    return {
      cpu: [seconds, samples.map((s) => s.cpu.host * 100), samples.map((s) => s.cpu.process * 100)] as uPlot.AlignedData,
      memory: [seconds, samples.map((s) => s.memory.usedBytes), samples.map((s) => s.memory.rssBytes), samples.map((s) => s.memory.heapUsedBytes)] as uPlot.AlignedData,
      network: [seconds, samples.map((s) => s.net.inRate), samples.map((s) => s.net.outRate)] as uPlot.AlignedData,
    }
  }, [samples])
  return (
    <div class="chart-grid">
      <figure>
        <figcaption>CPU</figcaption>
        <Chart options={CPU_OPTIONS} data={data.cpu} />
      </figure>
      <figure>
        <figcaption>Memory</figcaption>
        <Chart options={MEMORY_OPTIONS} data={data.memory} />
      </figure>
      <figure>
        <figcaption>Network</figcaption>
        <Chart options={NETWORK_OPTIONS} data={data.network} />
      </figure>
    </div>
  )
}

// --- Node facts, resources, connections ---

function NodeInfo({ node }: { node: NodeView }) {
  const now = useNow()
  const { cpu, memory } = node.resources
  return (
    <>
      <div class="two-columns">
        <Card title="Identity">
          <Facts
            rows={[
              ['Peer id', <span class="mono break">{node.peerId}</span>],
              ['Version', node.version],
              ['Uptime', `${formatDuration(now - node.startedAt)} (since ${formatDateTime(node.startedAt)})`],
              ['Labels', <Labels labels={node.labels} />],
              ['Network', node.privateNetwork ? <Badge tone="green">private (pre-shared key)</Badge> : <Badge tone="grey">public</Badge>],
              ['API', `${node.api.url}${node.api.authRequired ? ' · token required' : ''}`],
              ['Addresses', <span class="mono small">{node.addrs.join('\n') || '–'}</span>],
            ]}
          />
        </Card>
        <Card title="Resources">
          <Facts
            rows={[
              ['CPU', `${cpu.cores} × ${cpu.model || 'unknown'}`],
              ['Load', `${cpu.load1.toFixed(2)} / ${cpu.load5.toFixed(2)} / ${cpu.load15.toFixed(2)} (1, 5, 15 min)`],
              ['Memory', `${formatBytes(memory.totalBytes - memory.freeBytes)} used of ${formatBytes(memory.totalBytes)}`],
              ['Accelerators', <AcceleratorsList accelerators={node.resources.accelerators} />],
              ['Peers', `${node.peers.alive} alive, ${node.peers.gone} gone`],
              ['Traffic', `↓ ${formatBytes(node.traffic.inBytes)} · ↑ ${formatBytes(node.traffic.outBytes)}`],
              ['Activities', node.activities.length === 0 ? <span class="muted">idle</span> : node.activities.map((a) => `${a.kind} ${shortId(a.jobId)}: ${a.detail}`).join('; ')],
            ]}
          />
        </Card>
      </div>
      <div class="two-columns">
        <Card title="Runtimes">
          <RuntimesTable runtimes={node.resources.runtimes} />
        </Card>
        <Card title="Data sets">
          <DatasetsTable datasets={node.resources.datasets} />
        </Card>
      </div>
      <Card title={`Connections (${node.connections.length})`}>
        <ConnectionsTable connections={node.connections} now={now} />
      </Card>
    </>
  )
}

function ConnectionsTable({ connections, now }: { connections: NodeView['connections']; now: number }) {
  if (connections.length === 0) return <p class="muted">No live connections.</p>
  return (
    <table class="table">
      <thead>
        <tr>
          <th>Peer</th>
          <th>Remote address</th>
          <th>Direction</th>
          <th>Open for</th>
        </tr>
      </thead>
      <tbody>
        {connections.map((connection) => (
          <tr key={`${connection.peerId}-${connection.remoteAddr}`}>
            <td class="mono" title={connection.peerId}>
              {shortId(connection.peerId)}
            </td>
            <td class="mono">{connection.remoteAddr}</td>
            <td>{connection.direction}</td>
            <td title={formatDateTime(connection.openedAt)}>{formatDuration(now - connection.openedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
