// Small presentational pieces the views share: cards, stat tiles, badges, messages.
import { type ComponentChildren, Fragment } from 'preact'
import { ApiError } from './api'
import { formatBytes, formatCount, formatPercent } from './format'
import type { FabricTotals } from './types'

export function Card({ title, actions, children }: { title?: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card">
      {title !== undefined && (
        <header class="card-header">
          <h2>{title}</h2>
          {actions}
        </header>
      )}
      {children}
    </section>
  )
}

export function Stat({ label, value, detail }: { label: string; value: ComponentChildren; detail?: ComponentChildren }) {
  return (
    <div class="stat">
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
      {detail !== undefined && <div class="stat-detail">{detail}</div>}
    </div>
  )
}

/** Fabric-wide totals as a row of stat tiles; `compact` for a one-line strip. */
export function TotalsRow({ totals, compact = false }: { totals: FabricTotals; compact?: boolean }) {
  const usedMemory = totals.memoryBytes - totals.freeMemoryBytes
  return (
    <div class={compact ? 'stats stats-compact' : 'stats'}>
      <Stat label="Nodes alive" value={formatCount(totals.nodes)} />
      <Stat label="Cores" value={formatCount(totals.cores)} />
      <Stat label="Memory" value={formatBytes(totals.memoryBytes)} detail={`${formatBytes(usedMemory)} in use`} />
      <Stat label="Throughput" value={`${formatCount(totals.gflops)} GFLOP/s`} detail="advertised matmul" />
      <Stat label="CPU utilisation" value={formatPercent(totals.cpuUtilization)} detail="core-weighted" />
      <Stat label="Activities" value={formatCount(totals.activities)} />
    </div>
  )
}

export function Badge({ tone, children }: { tone: string; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  return error === undefined ? null : (
    <p class="error" role="alert">
      {error instanceof ApiError ? error.detail : error.message}
    </p>
  )
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>
}

export function Labels({ labels }: { labels: Readonly<Record<string, string>> }) {
  const entries = Object.entries(labels)
  if (entries.length === 0) return <span class="muted">none</span>
  return (
    <span class="chips">
      {entries.map(([key, value]) => (
        <span class="chip" key={key}>
          {key}={value}
        </span>
      ))}
    </span>
  )
}

/** A key/value list for detail panels. */
export function Facts({ rows }: { rows: readonly (readonly [string, ComponentChildren])[] }) {
  return (
    <dl class="facts">
      {rows.map(([term, value]) => (
        <Fragment key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </Fragment>
      ))}
    </dl>
  )
}
