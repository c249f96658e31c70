// Inference view: per model served on the mesh, which servers cover which blocks (a row per server, a cell per block),
// their engine, load and measured speed, and how many servers each block has; then the spans this node serves.
import { useEffect } from 'preact/hooks'
import { api } from './api'
import { formatCount, shortId } from './format'
import { useLoader, useOnReconnect } from './hooks'
import { Badge, Card, ErrorNote, Loading } from './ui'

type Inference = Awaited<ReturnType<typeof api.inference>>
type MeshSpan = Inference['mesh'][number]

/** Refreshed every few seconds: sessions come and go with each generation. */
const REFRESH_MS = 3_000

export function InferencePage() {
  const view = useLoader(api.inference, [])
  useOnReconnect(view.reload)
  useEffect(() => {
    const timer = setInterval(view.reload, REFRESH_MS)
    return () => clearInterval(timer)
  }, [view.reload])
  const byModel = new Map<string, MeshSpan[]>()
  for (const s of view.data?.mesh ?? []) byModel.set(s.model, [...(byModel.get(s.model) ?? []), s])
  return (
    <div class="page">
      <Card
        title="Models on the mesh"
        actions={
          <button type="button" onClick={view.reload}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={view.error} />
        {!view.data && !view.error && <Loading what="the mesh's servers" />}
        {view.data && byModel.size === 0 && <p class="muted">No node serves a model: serve one with weft serve &lt;checkpoint&gt; --blocks 0-2.</p>}
        {[...byModel].map(([model, spans]) => (
          <ModelCoverage key={model} model={model} spans={spans} />
        ))}
      </Card>
      <Card title="This node serves">
        {view.data && view.data.serving.length === 0 && <p class="muted">Nothing.</p>}
        {view.data && view.data.serving.length > 0 && (
          <ul>
            {view.data.serving.map((s) => (
              <li key={`${s.model}/${s.start}`}>
                blocks {s.start}–{s.end} of <span class="mono">{shortId(s.model)}</span> on {s.engine}: {formatCount(s.sessions)} session(s)
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  )
}

function ModelCoverage({ model, spans }: { model: string; spans: MeshSpan[] }) {
  const layers = (JSON.parse(spans[0]?.configJson ?? '{}') as { numLayers?: number }).numLayers ?? Math.max(...spans.map((s) => s.end))
  const blocks = Array.from({ length: layers }, (_, b) => b)
  const servers = (b: number) => spans.filter((s) => s.start <= b && b < s.end).length
  const sessions = spans.reduce((n, s) => n + s.sessions, 0)
  return (
    <div class="model-coverage" data-model={model}>
      <h3 class="mono" title={model}>
        {shortId(model)} <span class="muted small">{layers} blocks, {formatCount(sessions)} live session(s)</span>
      </h3>
      <div class="table-scroll">
        <table class="table" data-testid="inference-coverage">
          <thead>
            <tr>
              <th>Server</th>
              {blocks.map((b) => (
                <th key={b} class="num">
                  {b}
                </th>
              ))}
              <th>Engine</th>
              <th class="num">Sessions</th>
              <th class="num">Tokens/s</th>
              <th class="num">RTT</th>
            </tr>
          </thead>
          <tbody>
            {[...spans]
              .sort((a, b) => a.start - b.start || a.end - b.end)
              .map((s) => (
                <tr key={`${s.peer}/${s.start}`} data-peer={s.peer}>
                  <td class="mono" title={s.peer}>
                    {shortId(s.peer)}
                  </td>
                  {blocks.map((b) => (
                    <td key={b} class={s.start <= b && b < s.end ? 'cell-on' : 'cell-off'} />
                  ))}
                  <td>{s.engine}</td>
                  <td class="num">{s.sessions > 0 ? <Badge tone="blue">{formatCount(s.sessions)}</Badge> : '0'}</td>
                  <td class="num">{s.secondsPerToken > 0 ? formatCount(Math.round(1 / s.secondsPerToken)) : '–'}</td>
                  <td class="num">{s.rttMs.toFixed(1)} ms</td>
                </tr>
              ))}
            <tr class="coverage-row">
              <td>servers per block</td>
              {blocks.map((b) => (
                <td key={b} class="num">
                  {servers(b) === 0 ? <Badge tone="red">0</Badge> : servers(b)}
                </td>
              ))}
              <td colSpan={4} />
            </tr>
          </tbody>
        </table>
      </div>
    </div>
  )
}
