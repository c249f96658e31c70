// The fabric as a graph, for the dashboard: every known node (this one included), the live connections that this
// node holds or that peers advertise, and totals over the nodes alive.
import type { AdView, MeshEdgeView, MeshNodeView, MeshView, NodeView, PeerView } from './views.js'

const gflopsOf = (runtimes: AdView['runtimes']): number => runtimes.reduce((sum, r) => sum + r.matmulGflops, 0)

function selfNode(self: NodeView, cpuUtilization: number): MeshNodeView {
  const r = self.resources
  return {
    peerId: self.peerId,
    self: true,
    status: 'alive',
    connected: false,
    labels: self.labels,
    cores: r.cpu.cores,
    memoryBytes: r.memory.totalBytes,
    freeMemoryBytes: r.memory.freeBytes,
    gflops: gflopsOf(r.runtimes),
    cpuUtilization,
    startedAt: self.startedAt,
    version: self.version,
    runtimes: r.runtimes.map((x) => `${x.name}/${x.backend}`),
    datasets: r.datasets.map((d) => d.name),
    activities: self.activities,
    traffic: self.traffic,
  }
}

function peerNode(peer: PeerView): MeshNodeView {
  const ad = peer.ad
  return {
    peerId: peer.peerId,
    self: false,
    status: peer.status,
    connected: peer.connected,
    labels: ad.labels,
    cores: ad.cpu.cores,
    memoryBytes: ad.memory.totalBytes,
    freeMemoryBytes: ad.memory.freeBytes,
    gflops: gflopsOf(ad.runtimes),
    cpuUtilization: ad.cpu.utilization,
    startedAt: ad.startedAt,
    version: ad.version,
    runtimes: ad.runtimes.map((x) => `${x.name}/${x.backend}`),
    datasets: ad.datasets.map((d) => d.name),
    activities: peer.status === 'alive' ? ad.activities : [],
    traffic: peer.traffic,
  }
}

/**
 * Builds the mesh graph. Edges come from this node's own connections and from the neighbour lists in the fresh ads
 * of peers alive; each undirected pair appears once, and only between nodes of the graph.
 * @param cpuUtilization - this node's latest measured host CPU utilization (0..1)
 */
export function buildMeshView(self: NodeView, peers: readonly PeerView[], cpuUtilization: number, at: number): MeshView {
  const nodes = [selfNode(self, cpuUtilization), ...peers.map(peerNode)]
  const known = new Set(nodes.map((n) => n.peerId))
  const edges = new Map<string, MeshEdgeView>()
  const link = (a: string, b: string): void => {
    if (a === b || !known.has(a) || !known.has(b)) return
    const [source, target] = a < b ? [a, b] : [b, a]
    edges.set(`${source} ${target}`, { source, target })
  }
  for (const c of self.connections) link(self.peerId, c.peerId)
  for (const p of peers) {
    if (p.status !== 'alive') continue
    for (const n of p.ad.neighbors) {
      // This node knows its own connections first-hand; a peer's older ad may still list one that closed.
      if (n === self.peerId) continue
      link(p.peerId, n)
    }
  }
  const alive = nodes.filter((n) => n.status === 'alive')
  const cores = alive.reduce((s, n) => s + n.cores, 0)
  return {
    self: self.peerId,
    at,
    nodes,
    edges: [...edges.values()],
    totals: {
      nodes: alive.length,
      cores,
      memoryBytes: alive.reduce((s, n) => s + n.memoryBytes, 0),
      freeMemoryBytes: alive.reduce((s, n) => s + n.freeMemoryBytes, 0),
      gflops: alive.reduce((s, n) => s + n.gflops, 0),
      cpuUtilization: cores > 0 ? alive.reduce((s, n) => s + n.cpuUtilization * n.cores, 0) / cores : 0,
      activities: alive.reduce((s, n) => s + n.activities.length, 0),
    },
  }
}
