// Tables of a node's runtimes, data sets and accelerators, shared by the mesh details panel and the node view.
import { formatBytes, formatCount } from './format'
import type { Resources } from './types'

export function RuntimesTable({ runtimes }: { runtimes: Resources['runtimes'] }) {
  if (runtimes.length === 0) return <p class="muted">No runtimes.</p>
  return (
    <table class="table">
      <thead>
        <tr>
          <th>Runtime</th>
          <th>Backend</th>
          <th>Device</th>
          <th class="num">Matmul</th>
        </tr>
      </thead>
      <tbody>
        {runtimes.map((runtime) => (
          <tr key={runtime.name}>
            <td>{runtime.name}</td>
            <td>{runtime.backend}</td>
            <td>{runtime.device}</td>
            <td class="num">{formatCount(runtime.matmulGflops)} GFLOP/s</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function DatasetsTable({ datasets }: { datasets: Resources['datasets'] }) {
  if (datasets.length === 0) return <p class="muted">No data sets.</p>
  return (
    <table class="table">
      <thead>
        <tr>
          <th>Data set</th>
          <th class="num">Examples</th>
          <th>Features</th>
          <th class="num">Classes</th>
          <th class="num">Size</th>
        </tr>
      </thead>
      <tbody>
        {datasets.map((dataset) => (
          <tr key={dataset.name}>
            <td title={dataset.schema}>{dataset.name}</td>
            <td class="num">{formatCount(dataset.examples)}</td>
            <td class="mono">[{dataset.featureShape.join(', ')}]</td>
            <td class="num">{dataset.numClasses}</td>
            <td class="num">{formatBytes(dataset.bytes)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function AcceleratorsList({ accelerators }: { accelerators: Resources['accelerators'] }) {
  if (accelerators.length === 0) return <span class="muted">none</span>
  return (
    <span>
      {accelerators.map((accelerator) => `${accelerator.name} (${accelerator.kind}, ${formatBytes(accelerator.memoryBytes)})`).join('; ')}
    </span>
  )
}
