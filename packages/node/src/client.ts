// A small client for a node's control API, found through its data directory or an explicit URL.
import { readApiToken, readRunningNode } from './data-dir.js'
import { ApiError, NodeNotRunningError } from './errors.js'
import type { NodeView, PeerView } from './views.js'

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

  async function request(path: string): Promise<Response> {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`
    let res: Response
    try {
      res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(timeoutMs) })
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
  }
}
