// A small uPlot wrapper: one plot per mount, data updated in place, width following its container.
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { formatBytes } from './format'

/** Plot options without a size: the chart takes its container's width and the `height` prop. */
export type ChartOptions = Omit<uPlot.Options, 'width' | 'height'>

export interface ChartProps {
  /** Changing the options object recreates the plot, so keep it stable (module constant or useMemo). */
  readonly options: ChartOptions
  readonly data: uPlot.AlignedData
  readonly height?: number
}

export function Chart({ options, data, height = 180 }: ChartProps) {
  const container = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | undefined>(undefined)
  const latestData = useRef(data)
  latestData.current = data

  useEffect(() => {
    const element = container.current
    if (element === null) return
    const created = new uPlot({ ...options, width: element.clientWidth, height }, latestData.current, element)
    plot.current = created
    const observer = new ResizeObserver(() => created.setSize({ width: element.clientWidth, height }))
    observer.observe(element)
    return () => {
      observer.disconnect()
      created.destroy()
      plot.current = undefined
    }
  }, [options, height])

  useEffect(() => {
    if (plot.current !== undefined && plot.current.data !== data) plot.current.setData(data)
  }, [data])

  return <div class="chart" ref={container} />
}

/** Series colours, in the order charts use them. */
export const COLORS = Object.freeze({
  blue: '#2f6fde',
  orange: '#e8833a',
  green: '#2e9e5b',
  red: '#d64545',
  purple: '#8456c9',
  teal: '#1f9aa8',
  grey: '#8a8f98',
})

const AXIS_STROKE = '#5b6270'
const GRID = { stroke: '#e6e8ec', width: 1 }

/** Room for the axis label plus the widest tick text (about 7 px a character at the axis font). */
function axisWidth(_plot: uPlot, values: string[] | null): number {
  const widest = Math.max(1, ...(values ?? []).map((value) => value.length))
  return 30 + 7 * widest
}

/** A y axis with a label and a tick formatter; `side: 1` puts it on the right. */
export function valueAxis(label: string, format: (value: number) => string, scale = 'y', side: 1 | 3 = 3): uPlot.Axis {
  return {
    scale,
    label,
    labelSize: 16,
    side,
    size: axisWidth,
    stroke: AXIS_STROKE,
    grid: side === 3 ? GRID : { show: false },
    values: (_plot, splits) => splits.map(format),
  }
}

/** Tick steps of 1, 2 or 5 times a power of 1024, so byte ticks read `2 GiB`, `512 MiB`. */
const BYTE_INCREMENTS = [0, 1, 2, 3, 4, 5].flatMap((power) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((step) => step * 1024 ** power))

/** A byte (or byte-rate) axis; ticks drop trailing zeros: `2 GiB`, not `2.00 GiB`. */
export function bytesAxis(label = 'bytes', format: (value: number) => string = formatBytes, scale = 'y', side: 1 | 3 = 3): uPlot.Axis {
  const tick = (value: number) => format(value).replace(/\.0+(?= )/, '')
  return { ...valueAxis(label, tick, scale, side), incrs: BYTE_INCREMENTS }
}

export const timeAxis: uPlot.Axis = { stroke: AXIS_STROKE, grid: GRID }

/** Rounds are integers: ticks only at whole rounds. */
export const roundAxis: uPlot.Axis = {
  label: 'round',
  labelSize: 16,
  size: 28,
  stroke: AXIS_STROKE,
  grid: GRID,
  incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  values: (_plot, splits) => splits.map(String),
}

/** Half a round of room either side, so the first and last bars are whole. */
export const roundScale: uPlot.Scale = { time: false, range: (_plot, min, max) => [min - 0.5, max + 0.5] }

export interface Layer {
  readonly label: string
  readonly color: string
  readonly format: (value: number) => string
}

/**
 * Series for stacked bars: each series draws the sum of its layer and those below it, top layer first, so
 * lower layers paint over the upper ones. The legend shows each layer's own value.
 */
export function stackedBarSeries(layers: readonly Layer[]): uPlot.Series[] {
  const bars = uPlot.paths.bars?.({ size: [0.7, 48] })
  return [...layers].reverse().map((layer, index, top) => ({
    label: layer.label,
    stroke: layer.color,
    fill: `${layer.color}cc`,
    width: 1,
    ...(bars === undefined ? {} : { paths: bars }),
    points: { show: false },
    value: (plot: uPlot, sum: number | null, seriesIndex: number, dataIndex: number | null) => {
      if (sum === null || dataIndex === null) return '–'
      const below = index + 1 < top.length ? (plot.data[seriesIndex + 1]?.[dataIndex] ?? 0) : 0
      return layer.format(sum - below)
    },
  }))
}

/** Cumulative sums of `layers` (bottom layer first), in the top-first order stackedBarSeries expects. */
export function stackLayers(layers: readonly (readonly number[])[]): number[][] {
  const sums: number[][] = []
  let running: number[] = []
  for (const layer of layers) {
    running = layer.map((value, i) => value + (running[i] ?? 0))
    sums.push(running)
  }
  return sums.reverse()
}
