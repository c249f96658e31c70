// Per-round charts of a federated-learning job: accuracy and loss, round time, bytes, clients.
import { useMemo } from 'preact/hooks'
import type uPlot from 'uplot'
import { COLORS, Chart, type ChartOptions, bytesAxis, roundAxis, roundScale, stackedBarSeries, stackLayers, valueAxis } from './charts'
import { formatBytes, formatSeconds, formatValue } from './format'
import type { RoundMetrics, RoundView } from './types'

/** Accuracy and loss of a round: the central evaluation, else the clients' federated one. */
export function evaluationOf(round: RoundView): { accuracy: number; loss: number } | undefined {
  const evaluation = round.metrics?.evaluation
  return evaluation?.centralized ?? evaluation?.federated
}

const show = (format: (value: number) => string) => (_plot: uPlot, value: number | null) => (value === null ? '–' : format(value))

const ACCURACY_OPTIONS: ChartOptions = {
  scales: { x: roundScale, accuracy: { range: [0, 100] }, loss: { range: (_plot, _min, max) => [0, max] } },
  axes: [roundAxis, valueAxis('accuracy %', (value) => `${value}%`, 'accuracy'), valueAxis('loss', (value) => value.toPrecision(2), 'loss', 1)],
  series: [
    { label: 'round' },
    { label: 'accuracy', scale: 'accuracy', stroke: COLORS.blue, width: 2, spanGaps: true, value: show((v) => `${v.toFixed(2)}%`) },
    { label: 'loss', scale: 'loss', stroke: COLORS.red, width: 1.5, spanGaps: true, value: show(formatValue) },
    { label: 'train loss', scale: 'loss', stroke: COLORS.orange, width: 1.5, dash: [4, 4], spanGaps: true, value: show(formatValue) },
  ],
}

const TIME_OPTIONS: ChartOptions = {
  scales: { x: roundScale, y: { range: (_plot, _min, max) => [0, max] } },
  axes: [roundAxis, valueAxis('seconds', (value) => `${value}`)],
  series: [
    { label: 'round' },
    ...stackedBarSeries([
      { label: 'broadcast', color: COLORS.teal, format: formatSeconds },
      { label: 'training', color: COLORS.blue, format: formatSeconds },
      { label: 'upload', color: COLORS.orange, format: formatSeconds },
      { label: 'aggregation', color: COLORS.purple, format: formatSeconds },
    ]),
  ],
}

const BYTES_OPTIONS: ChartOptions = {
  scales: { x: roundScale, y: { range: (_plot, _min, max) => [0, max] } },
  axes: [roundAxis, bytesAxis()],
  series: [
    { label: 'round' },
    ...stackedBarSeries([
      { label: 'down (to clients)', color: COLORS.green, format: formatBytes },
      { label: 'up (to coordinator)', color: COLORS.red, format: formatBytes },
    ]),
  ],
}

const CLIENTS_OPTIONS: ChartOptions = {
  scales: { x: roundScale, y: { range: (_plot, _min, max) => [0, Math.max(1, max)] } },
  axes: [roundAxis, valueAxis('clients', (value) => (Number.isInteger(value) ? String(value) : ''))],
  series: [
    { label: 'round' },
    { label: 'sampled', stroke: COLORS.blue, width: 1.5, points: { size: 6 } },
    { label: 'results', stroke: COLORS.green, width: 1.5, points: { size: 6 } },
    { label: 'dropped', stroke: COLORS.red, width: 1.5, points: { size: 6 } },
  ],
}

/** The chart data of the rounds that have metrics (closed rounds), one column per round. */
function chartData(history: readonly RoundView[]) {
  const rounds = history.flatMap((round) => (round.metrics === undefined ? [] : [{ round, metrics: round.metrics }]))
  const x = rounds.map(({ round }) => round.round)
  const metric = <T,>(pick: (metrics: RoundMetrics) => T) => rounds.map(({ metrics }) => pick(metrics))
  const evaluations = rounds.map(({ round }) => evaluationOf(round))
  return {
    accuracyPoints: evaluations.filter((evaluation) => evaluation !== undefined).length,
    accuracy: [
      x,
      evaluations.map((evaluation) => (evaluation === undefined ? null : evaluation.accuracy * 100)),
      evaluations.map((evaluation) => evaluation?.loss ?? null),
      metric((m) => m.trainLoss),
    ] as uPlot.AlignedData,
    time: [
      x,
      ...stackLayers([
        metric((m) => m.seconds.broadcast),
        metric((m) => m.seconds.training),
        metric((m) => m.seconds.upload),
        metric((m) => m.seconds.aggregation),
      ]),
    ] as uPlot.AlignedData,
    bytes: [x, ...stackLayers([metric((m) => m.bytesDown), metric((m) => m.bytesUp)])] as uPlot.AlignedData,
    clients: [x, metric((m) => m.sampled), metric((m) => m.results), metric((m) => m.dropped)] as uPlot.AlignedData,
  }
}

export function JobCharts({ history }: { history: readonly RoundView[] }) {
  const data = useMemo(() => chartData(history), [history])
  return (
    <div class="chart-grid chart-grid-2">
      <figure data-testid="accuracy-chart" data-points={data.accuracyPoints}>
        <figcaption>Accuracy and loss</figcaption>
        <Chart options={ACCURACY_OPTIONS} data={data.accuracy} />
      </figure>
      <figure>
        <figcaption>Round time (stacked)</figcaption>
        <Chart options={TIME_OPTIONS} data={data.time} />
      </figure>
      <figure>
        <figcaption>Bytes per round (stacked)</figcaption>
        <Chart options={BYTES_OPTIONS} data={data.bytes} />
      </figure>
      <figure>
        <figcaption>Clients per round</figcaption>
        <Chart options={CLIENTS_OPTIONS} data={data.clients} />
      </figure>
    </div>
  )
}
