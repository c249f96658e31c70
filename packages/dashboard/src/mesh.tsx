// Mesh view: every known peer as a graph node, live connections as edges, a node table and a details panel.
import cytoscape from 'cytoscape'
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { api } from './api'
import { formatAgo, formatBytes, formatCount, formatDuration, formatPercent, shortId } from './format'
import { useLoader, useMesh, useNow } from './hooks'
import { AcceleratorsList, DatasetsTable, RuntimesTable } from './resources'
import type { Activity, MeshEdge, MeshNode, MeshView, NodeView, PeerView, Resources, Traffic } from './types'
import { Badge, Card, ErrorNote, Facts, Labels, Loading, TotalsRow } from './ui'

export function MeshPage() {
  const mesh = useMesh()
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const colors = useMemo(() => groupColors(mesh.data?.nodes ?? []), [mesh.data])
  if (mesh.data === undefined) return mesh.error ? <ErrorNote error={mesh.error} /> : <Loading what="the mesh" />
  const view = mesh.data
  const selectedNode = view.nodes.find((node) => node.peerId === selected)
  return (
    <div class="page">
      <ErrorNote error={mesh.error} />
      <TotalsRow totals={view.totals} compact />
      <div class="mesh-layout">
        <Card title="Mesh">
          <MeshGraph mesh={view} colors={colors} selected={selected} onSelect={setSelected} />
          <GroupLegend nodes={view.nodes} colors={colors} />
        </Card>
        <div class="mesh-side">
          <Card title={`Nodes (${view.nodes.length})`}>
            <NodeTable nodes={view.nodes} colors={colors} selected={selected} onSelect={setSelected} />
          </Card>
          {selectedNode === undefined ? (
            <p class="muted hint">Click a node for its resources, runtimes and data sets.</p>
          ) : (
            <NodeDetails node={selectedNode} refreshedAt={view.at} onClose={() => setSelected(undefined)} />
          )}
        </div>
      </div>
    </div>
  )
}

// --- Graph ---

const PALETTE = ['#2f6fde', '#e8833a', '#2e9e5b', '#8456c9', '#d64545', '#1f9aa8', '#c2a01e', '#d0589b']
const UNGROUPED = '#9aa0aa'

/** The label a node is coloured by: its tier, else its site. */
function groupOf(node: MeshNode): string | undefined {
  return node.labels['tier'] ?? node.labels['site']
}

type GroupColors = ReadonlyMap<string | undefined, string>

function hashOf(text: string): number {
  let hash = 0
  for (const char of text) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0
  return hash
}

/**
 * A colour per group present: each takes the palette slot its name hashes to, or the next free one, so a
 * group keeps its colour across refreshes while two groups never share one (until the palette runs out).
 */
function groupColors(nodes: readonly MeshNode[]): GroupColors {
  const colors = new Map<string | undefined, string>([[undefined, UNGROUPED]])
  const taken = new Set<number>()
  const groups = [...new Set(nodes.map(groupOf))].filter((group) => group !== undefined).sort()
  for (const group of groups) {
    let slot = hashOf(group) % PALETTE.length
    for (let tries = 0; taken.has(slot) && tries < PALETTE.length; tries++) slot = (slot + 1) % PALETTE.length
    taken.add(slot)
    colors.set(group, PALETTE[slot] ?? UNGROUPED)
  }
  return colors
}

function colorOf(colors: GroupColors, node: MeshNode): string {
  return colors.get(groupOf(node)) ?? UNGROUPED
}

/** Node diameter in px: grows with the square root of its cores, so big nodes do not swamp the graph. */
function sizeOf(node: MeshNode): number {
  return Math.min(84, 24 + 9 * Math.sqrt(Math.max(1, node.cores)))
}

/** Edges are live connections, so undirected: one per pair, and only between nodes the graph has. */
function uniqueEdges(edges: readonly MeshEdge[], nodeIds: ReadonlySet<string>): Map<string, MeshEdge> {
  const unique = new Map<string, MeshEdge>()
  for (const edge of edges) {
    if (edge.source === edge.target || !nodeIds.has(edge.source) || !nodeIds.has(edge.target)) continue
    const [a, b] = [edge.source, edge.target].sort()
    unique.set(`${a}|${b}`, edge)
  }
  return unique
}

function nodeData(node: MeshNode, colors: GroupColors) {
  return {
    id: node.peerId,
    label: node.labels['name'] ?? `…${node.peerId.slice(-6)}`,
    color: colorOf(colors, node),
    size: sizeOf(node),
  }
}

function nodeClasses(node: MeshNode): string[] {
  return [node.self ? 'self' : '', node.status === 'gone' ? 'gone' : '', node.connected ? 'connected' : ''].filter(Boolean)
}

const GRAPH_STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      'background-color': 'data(color)',
      width: 'data(size)',
      height: 'data(size)',
      label: 'data(label)',
      'font-size': 11,
      'font-family': 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
      color: '#1d232e',
      'text-valign': 'bottom',
      'text-margin-y': 4,
      'border-width': 1,
      'border-color': '#ffffff',
    },
  },
  { selector: 'node.self', style: { 'border-width': 4, 'border-color': '#1d232e', 'font-weight': 'bold' } },
  { selector: 'node.gone', style: { opacity: 0.3 } },
  { selector: 'node:selected', style: { 'border-width': 4, 'border-color': '#f2b705' } },
  { selector: 'edge', style: { width: 1.5, 'line-color': '#b8bec8', 'curve-style': 'straight' } },
]

const LAYOUT = { name: 'cose', animate: false, padding: 30, nodeDimensionsIncludeLabels: true } as const

/**
 * Places nodes new to the graph. The first time everything is laid out; later the nodes already drawn stay
 * locked where they are and the new ones start beside a neighbour, so a peer joining does not reshuffle the view.
 */
function layOut(cy: cytoscape.Core, added: cytoscape.NodeCollection): void {
  const placed = cy.nodes().difference(added)
  if (placed.empty()) {
    cy.layout({ ...LAYOUT, randomize: true }).run()
    return
  }
  const center = placed.boundingBox()
  added.forEach((node) => {
    const anchor = node.neighborhood().difference(added).nodes().first()
    const at = anchor.nonempty() ? anchor.position() : { x: (center.x1 + center.x2) / 2, y: (center.y1 + center.y2) / 2 }
    node.position({ x: at.x + 60 * (Math.random() - 0.5), y: at.y + 60 * (Math.random() - 0.5) })
  })
  placed.lock()
  const layout = cy.layout({ ...LAYOUT, randomize: false })
  layout.one('layoutstop', () => placed.unlock())
  layout.run()
}

/** Brings the graph in line with `mesh`, in place; returns the nodes it added. */
function syncGraph(cy: cytoscape.Core, mesh: MeshView, colors: GroupColors): cytoscape.NodeCollection {
  const ids = new Set(mesh.nodes.map((node) => node.peerId))
  const edges = uniqueEdges(mesh.edges, ids)
  let added = cy.collection()
  cy.batch(() => {
    cy.elements().forEach((element) => {
      const id = element.id()
      if (!(element.isNode() ? ids.has(id) : edges.has(id))) element.remove()
    })
    for (const node of mesh.nodes) {
      const existing = cy.getElementById(node.peerId)
      if (existing.nonempty()) existing.data(nodeData(node, colors)).classes(nodeClasses(node))
      else added = added.union(cy.add({ group: 'nodes', data: nodeData(node, colors), classes: nodeClasses(node) }))
    }
    for (const [id, edge] of edges) {
      if (cy.getElementById(id).empty()) cy.add({ group: 'edges', data: { id, source: edge.source, target: edge.target } })
    }
  })
  return added.nodes()
}

interface MeshGraphProps {
  readonly mesh: MeshView
  readonly colors: GroupColors
  readonly selected: string | undefined
  readonly onSelect: (peerId: string | undefined) => void
}

function MeshGraph({ mesh, colors, selected, onSelect }: MeshGraphProps) {
  const container = useRef<HTMLDivElement>(null)
  const graph = useRef<cytoscape.Core | undefined>(undefined)
  const select = useRef(onSelect)
  select.current = onSelect

  useEffect(() => {
    if (container.current === null) return
    const cy = cytoscape({ container: container.current, style: GRAPH_STYLE, minZoom: 0.3, maxZoom: 3 })
    cy.on('tap', 'node', (event) => select.current(event.target.id()))
    cy.on('tap', (event) => {
      if (event.target === cy) select.current(undefined)
    })
    const observer = new ResizeObserver(() => cy.resize())
    observer.observe(container.current)
    graph.current = cy
    return () => {
      observer.disconnect()
      cy.destroy()
      graph.current = undefined
    }
  }, [])

  useEffect(() => {
    const cy = graph.current
    if (cy === undefined) return
    const added = syncGraph(cy, mesh, colors)
    if (added.nonempty()) layOut(cy, added)
  }, [mesh, colors])

  useEffect(() => {
    const cy = graph.current
    if (cy === undefined) return
    cy.nodes(':selected').unselect()
    if (selected !== undefined) cy.getElementById(selected).select()
  }, [selected, mesh])

  const edgeCount = uniqueEdges(mesh.edges, new Set(mesh.nodes.map((node) => node.peerId))).size
  return <div class="mesh-graph" ref={container} data-testid="mesh-graph" data-nodes={mesh.nodes.length} data-edges={edgeCount} />
}

function GroupLegend({ nodes, colors }: { nodes: readonly MeshNode[]; colors: GroupColors }) {
  const groups = [...new Set(nodes.map(groupOf))].sort((a, b) => (a ?? '~').localeCompare(b ?? '~'))
  return (
    <div class="legend">
      {groups.map((group) => (
        <span class="legend-item" key={group ?? ''}>
          <span class="swatch" style={{ background: colors.get(group) ?? UNGROUPED }} />
          {group ?? 'no tier/site'}
        </span>
      ))}
      <span class="legend-item">
        <span class="swatch swatch-self" /> this node
      </span>
      <span class="legend-item">
        <span class="swatch swatch-gone" /> gone
      </span>
    </div>
  )
}

// --- Table ---

function statusBadge(node: Pick<MeshNode, 'self' | 'status' | 'connected'>) {
  if (node.self) return <Badge tone="blue">self</Badge>
  if (node.status === 'gone') return <Badge tone="grey">gone</Badge>
  return node.connected ? <Badge tone="green">connected</Badge> : <Badge tone="amber">alive</Badge>
}

interface NodeTableProps {
  readonly nodes: readonly MeshNode[]
  readonly colors: GroupColors
  readonly selected: string | undefined
  readonly onSelect: (peerId: string) => void
}

function NodeTable({ nodes, colors, selected, onSelect }: NodeTableProps) {
  return (
    <div class="table-scroll">
      <table class="table table-hover">
        <thead>
          <tr>
            <th>Peer</th>
            <th>Status</th>
            <th>Tier / site</th>
            <th class="num">Cores</th>
            <th class="num">Memory</th>
            <th class="num">GFLOP/s</th>
            <th class="num">CPU</th>
          </tr>
        </thead>
        <tbody>
          {nodes.map((node) => (
            <tr
              key={node.peerId}
              data-peer={node.peerId}
              class={node.peerId === selected ? 'selected' : undefined}
              onClick={() => onSelect(node.peerId)}
            >
              <td class="mono nowrap" title={node.peerId}>
                <span class="swatch" style={{ background: colorOf(colors, node) }} /> {shortId(node.peerId)}
              </td>
              <td>{statusBadge(node)}</td>
              <td>{groupOf(node) ?? <span class="muted">–</span>}</td>
              <td class="num">{node.cores}</td>
              <td class="num">{formatBytes(node.memoryBytes)}</td>
              <td class="num">{formatCount(node.gflops)}</td>
              <td class="num">{formatPercent(node.cpuUtilization)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// --- Details panel ---

/** What the panel shows of a node, whether it came from /v1/node (self) or /v1/peers/<id>. */
interface PeerDetails {
  readonly peerId: string
  readonly version: string
  readonly startedAt: number
  readonly addrs: readonly string[]
  readonly labels: Readonly<Record<string, string>>
  readonly resources: Resources
  readonly activities: readonly Activity[]
  readonly traffic: Traffic
  readonly trafficLabel: string
  readonly links: string
}

function detailsOfSelf(node: NodeView): PeerDetails {
  return {
    ...node,
    trafficLabel: 'Traffic (all)',
    links: `${node.connections.length} connections, ${node.peers.alive} peers alive, ${node.peers.gone} gone`,
  }
}

function detailsOfPeer(peer: PeerView): PeerDetails {
  const { ad } = peer
  const state = peer.status === 'gone' ? `gone (${peer.goneReason ?? 'no reason given'})` : peer.connected ? 'connected' : 'alive'
  return {
    ...ad,
    resources: ad,
    traffic: peer.traffic,
    trafficLabel: 'Traffic with this node',
    links: `${state}, last seen ${formatAgo(peer.lastSeen)}, ${ad.neighbors.length} neighbours`,
  }
}

interface NodeDetailsProps {
  readonly node: MeshNode
  /** The mesh view's time: the details reload with each mesh refresh. */
  readonly refreshedAt: number
  readonly onClose: () => void
}

function NodeDetails({ node, refreshedAt, onClose }: NodeDetailsProps) {
  const details = useLoader(
    () => (node.self ? api.node().then(detailsOfSelf) : api.peer(node.peerId).then(detailsOfPeer)),
    [node.peerId, node.self, refreshedAt],
  )
  const now = useNow()
  const close = (
    <button type="button" class="button-link" onClick={onClose} aria-label="Close details">
      ✕
    </button>
  )
  return (
    <Card title={node.self ? 'This node' : 'Peer'} actions={close}>
      <p class="mono break">{node.peerId}</p>
      <ErrorNote error={details.error} />
      {details.data === undefined ? (
        details.error === undefined && <Loading what="details" />
      ) : (
        <DetailsBody details={details.data} node={node} now={now} />
      )}
    </Card>
  )
}

function DetailsBody({ details, node, now }: { details: PeerDetails; node: MeshNode; now: number }) {
  const { cpu, memory } = details.resources
  return (
    <>
      <Facts
        rows={[
          ['Status', <>{statusBadge(node)} <span class="muted">{details.links}</span></>],
          ['Version', details.version],
          ['Uptime', formatDuration(now - details.startedAt)],
          ['Labels', <Labels labels={details.labels} />],
          ['CPU', `${cpu.cores} × ${cpu.model || 'unknown'} · ${formatPercent(cpu.utilization)} busy · load ${cpu.load1.toFixed(2)}`],
          ['Memory', `${formatBytes(memory.totalBytes - memory.freeBytes)} used of ${formatBytes(memory.totalBytes)}`],
          ['Accelerators', <AcceleratorsList accelerators={details.resources.accelerators} />],
          [details.trafficLabel, `↓ ${formatBytes(details.traffic.inBytes)} · ↑ ${formatBytes(details.traffic.outBytes)}`],
          ['Activities', details.activities.length === 0 ? <span class="muted">idle</span> : details.activities.map((a) => `${a.kind} ${shortId(a.jobId)}: ${a.detail}`).join('; ')],
          ['Addresses', <span class="mono small">{details.addrs.join('\n') || '–'}</span>],
        ]}
      />
      <h3>Runtimes</h3>
      <RuntimesTable runtimes={details.resources.runtimes} />
      <h3>Data sets</h3>
      <DatasetsTable datasets={details.resources.datasets} />
    </>
  )
}
