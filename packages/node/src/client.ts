// A small client for a node's control API, found through its data directory or an explicit URL.
import { readApiToken, readRunningNode } from './data-dir.js'
import { ApiError, NodeNotRunningError } from './errors.js'
import type { JobEvent } from '@weft/fl'
import type { JobView } from './fl/fl-service.js'
import type { MeshView, NodeView, PeerView, TelemetryView } from './views.js'

/** A job in `GET /v1/fl/jobs` (the view without spec and history). */
export type JobSummary = Omit<JobView, 'spec' | 'history'>

export interface ApiClientInit {
  /** The node's data directory (its node.json names the API URL). */
  readonly dataDir?: string
  /** Explicit API URL; wins over the data directory. */
  readonly apiUrl?: string
  /** Bearer token; defaults to the data directory's api-token. */
  readonly token?: string
  readonly timeoutMs?: number
}

export interface ApiClient {
  readonly url: string
  node(): Promise<NodeView>
  peers(status?: 'alive' | 'gone'): Promise<PeerView[]>
  peer(peerId: string, source?: 'table' | 'dht'): Promise<PeerView>
  metrics(): Promise<string>
  /** The mesh as a graph with fabric-wide totals. */
  mesh(): Promise<MeshView>
  /** This node's telemetry samples after `since` (epoch ms; default: all kept). */
  telemetry(since?: number): Promise<TelemetryView>
  /** Submits a federated job to this node, or through it to the node `to` (which coordinates it). */
  submitJob(spec: unknown, to?: string): Promise<{ id: string; coordinator: string }>
  jobs(): Promise<{ jobs: JobSummary[]; client: { id: string; coordinator: string; name: string; dataset: string; activeRounds: number[] }[] }>
  job(id: string): Promise<JobView>
  /** Events after `after`, waiting up to `waitSeconds` for one. */
  jobEvents(id: string, after: number, waitSeconds?: number): Promise<{ events: JobEvent[]; status: string }>
  cancelJob(id: string): Promise<void>
  /** The job's model artifact after `round`. */
  jobModel(id: string, round: number | 'last'): Promise<{ bytes: Uint8Array; round: number }>
}

/**
 * Resolves where the node's API is and returns a client for it.
 * @throws NodeNotRunningError when neither an URL is given nor a live node is recorded in the data directory
 */
export function createApiClient(init: ApiClientInit): ApiClient {
  let url = init.apiUrl
  if (url === undefined) {
    if (init.dataDir === undefined) throw new NodeNotRunningError('give --api URL or --data-dir')
    const running = readRunningNode(init.dataDir)
    if (running === undefined) {
      throw new NodeNotRunningError(`no node is running on ${init.dataDir} (start one with: weft node start --data-dir ${init.dataDir})`)
    }
    url = running.apiUrl
  }
  const base = url.replace(/\/+$/, '')
  const token = init.token ?? (init.dataDir !== undefined ? readApiToken(init.dataDir) : undefined)
  const timeoutMs = init.timeoutMs ?? 15_000

  async function request(path: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Response> {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(`${base}${path}`, {
        headers,
        method: init.method ?? 'GET',
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        signal: AbortSignal.timeout(init.timeoutMs ?? timeoutMs),
      })
    } catch (err) {
      throw new NodeNotRunningError(`cannot reach the node API at ${base}: ${(err as Error).message}`, { cause: err })
    }
    if (!res.ok) {
      let message = res.statusText
      try {
        message = ((await res.json()) as { message?: string }).message ?? message
      } catch {}
      throw new ApiError(`${path}: ${res.status} ${message}`, res.status)
    }
    return res
  }

  return {
    url: base,
    node: async () => (await (await request('/v1/node')).json()) as NodeView,
    peers: async (status) =>
      ((await (await request(`/v1/peers${status ? `?status=${status}` : ''}`)).json()) as { peers: PeerView[] }).peers,
    peer: async (peerId, source = 'table') =>
      (await (await request(`/v1/peers/${encodeURIComponent(peerId)}?source=${source}`)).json()) as PeerView,
    metrics: async () => (await request('/metrics')).text(),
    mesh: async () => (await (await request('/v1/mesh')).json()) as MeshView,
    telemetry: async (since = 0) => (await (await request(`/v1/node/telemetry?since=${since}`)).json()) as TelemetryView,
    submitJob: async (spec, to) =>
      (await (await request('/v1/fl/jobs', { method: 'POST', body: { spec, ...(to === undefined ? {} : { to }) }, timeoutMs: 60_000 })).json()) as {
        id: string
        coordinator: string
      },
    jobs: async () => (await (await request('/v1/fl/jobs')).json()) as Awaited<ReturnType<ApiClient['jobs']>>,
    job: async (id) => (await (await request(`/v1/fl/jobs/${encodeURIComponent(id)}`)).json()) as JobView,
    jobEvents: async (id, after, waitSeconds = 0) =>
      (await (
        await request(`/v1/fl/jobs/${encodeURIComponent(id)}/events?after=${after}&wait=${waitSeconds}`, { timeoutMs: timeoutMs + waitSeconds * 1000 })
      ).json()) as { events: JobEvent[]; status: string },
    cancelJob: async (id) => {
      await request(`/v1/fl/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST' })
    },
    jobModel: async (id, round) => {
      const res = await request(`/v1/fl/jobs/${encodeURIComponent(id)}/model?round=${round}`, { timeoutMs: 120_000 })
      return { bytes: new Uint8Array(await res.arrayBuffer()), round: Number(res.headers.get('x-weft-round') ?? Number.NaN) }
    },
  }
}
