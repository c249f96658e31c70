// The node's local control API (HTTP): node and peer views, DHT look-ups and Prometheus metrics.
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import type { NodeView, PeerView } from './views.js'

/** What the API needs from the node. */
export interface ApiBackend {
  node(): NodeView
  peers(): PeerView[]
  peer(peerId: string): PeerView | undefined
  /** Finds a peer's signed ad in the DHT (verified); undefined if none is found. */
  lookupPeer(peerId: string, signal: AbortSignal): Promise<PeerView | undefined>
  metrics(): Promise<{ contentType: string; body: string }>
}

export interface ApiServerInit {
  readonly host: string
  readonly port: number
  /** Required on every request when set (the node sets it when bound beyond loopback). */
  readonly token?: string
}

export interface ApiServer {
  readonly url: string
  readonly authRequired: boolean
  close(): Promise<void>
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,128}$|^b[a-z2-7]{32,128}$/

function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length).trim())
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Builds the Hono app (exported for in-process tests). */
export function createApiApp(backend: ApiBackend, token?: string): Hono {
  const app = new Hono()
  if (token !== undefined) {
    app.use('*', async (c, next) => {
      if (!tokenMatches(c.req.header('authorization'), token)) {
        return c.json({ error: 'unauthorized', message: 'send Authorization: Bearer <token> (see <data-dir>/api-token)' }, 401)
      }
      return next()
    })
  }
  app.get('/v1/node', (c) => c.json(backend.node()))
  app.get('/v1/peers', (c) => {
    const status = c.req.query('status')
    if (status !== undefined && status !== 'alive' && status !== 'gone') {
      return c.json({ error: 'bad-request', message: `status must be 'alive' or 'gone', got '${status}'` }, 400)
    }
    const peers = backend.peers().filter((p) => status === undefined || p.status === status)
    return c.json({ peers })
  })
  app.get('/v1/peers/:id', async (c) => {
    const id = c.req.param('id')
    if (!PEER_ID.test(id)) return c.json({ error: 'bad-request', message: `'${id}' is not a peer id` }, 400)
    const source = c.req.query('source') ?? 'table'
    if (source !== 'table' && source !== 'dht') {
      return c.json({ error: 'bad-request', message: `source must be 'table' or 'dht', got '${source}'` }, 400)
    }
    const found =
      source === 'dht' ? await backend.lookupPeer(id, AbortSignal.timeout(10_000)) : backend.peer(id)
    if (found === undefined) return c.json({ error: 'not-found', message: `no ad for ${id} in the ${source}` }, 404)
    return c.json(found)
  })
  app.get('/metrics', async (c) => {
    const { contentType, body } = await backend.metrics()
    return c.body(body, 200, { 'content-type': contentType })
  })
  app.notFound((c) => c.json({ error: 'not-found', message: `no route ${c.req.method} ${c.req.path}` }, 404))
  app.onError((err, c) => c.json({ error: 'internal', message: err.message }, 500))
  return app
}

/** Starts the API server; resolves once it listens. */
export async function startApiServer(backend: ApiBackend, init: ApiServerInit): Promise<ApiServer> {
  const app = createApiApp(backend, init.token)
  const { promise, resolve, reject } = Promise.withResolvers<ServerType>()
  const server = serve({ fetch: app.fetch, hostname: init.host, port: init.port }, () => resolve(server))
  server.once('error', reject)
  await promise
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    authRequired: init.token !== undefined,
    close: () =>
      new Promise<void>((res) => {
        const s = server as ServerType & { closeAllConnections?: () => void }
        s.close(() => res())
        s.closeAllConnections?.()
      }),
  }
}
