// The node's local control API (HTTP): node and peer views, DHT look-ups and Prometheus metrics.
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import { Hono } from 'hono'
import type { FlService } from './fl/fl-service.js'
import type { NodeView, PeerView } from './views.js'

/** What the API needs from the node. */
export interface ApiBackend {
  node(): NodeView
  peers(): PeerView[]
  peer(peerId: string): PeerView | undefined
  /** Finds a peer's signed ad in the DHT (verified); undefined if none is found. */
  lookupPeer(peerId: string, signal: AbortSignal): Promise<PeerView | undefined>
  metrics(): Promise<{ contentType: string; body: string }>
  /** Federated jobs (absent: the /v1/fl routes answer 404). */
  fl?: () => FlService | undefined
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
  mountFl(app, backend)
  app.get('/metrics', async (c) => {
    const { contentType, body } = await backend.metrics()
    return c.body(body, 200, { 'content-type': contentType })
  })
  app.notFound((c) => c.json({ error: 'not-found', message: `no route ${c.req.method} ${c.req.path}` }, 404))
  app.onError((err, c) => c.json({ error: 'internal', message: err.message }, 500))
  return app
}

const JOB_ID = /^[A-Za-z0-9._-]{1,128}$/

function mountFl(app: Hono, backend: ApiBackend): void {
  const fl = (): FlService | undefined => backend.fl?.()
  const unavailable = { error: 'unavailable', message: 'federated learning is not running on this node' }
  app.post('/v1/fl/jobs', async (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    let body: { spec?: unknown; to?: unknown }
    try {
      body = (await c.req.json()) as { spec?: unknown; to?: unknown }
    } catch {
      return c.json({ error: 'bad-request', message: 'the body must be JSON: { "spec": { ... }, "to"?: "<peer id>" }' }, 400)
    }
    if (typeof body !== 'object' || body === null || body.spec === undefined) {
      return c.json({ error: 'bad-request', message: 'the body must hold the job spec under "spec"' }, 400)
    }
    try {
      if (typeof body.to === 'string' && body.to !== '' && body.to !== backend.node().peerId) {
        const r = await service.submitTo(body.to, body.spec)
        return c.json({ id: r.id, coordinator: r.coordinator }, 201)
      }
      const view = service.submit(body.spec)
      return c.json({ id: view.id, coordinator: view.coordinator }, 201)
    } catch (err) {
      const e = err as Error & { issues?: unknown }
      const invalid = e.name === 'InvalidJobSpecError' || e.name === 'InvalidStrategyConfigError' || e.name === 'RpcError'
      return c.json({ error: invalid ? 'invalid-spec' : 'internal', message: e.message, ...(e.issues === undefined ? {} : { issues: e.issues }) }, invalid ? 400 : 500)
    }
  })
  app.get('/v1/fl/jobs', (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    return c.json({ jobs: service.list().map(({ history: _h, spec: _s, ...summary }) => summary), client: service.clientJobs() })
  })
  app.get('/v1/fl/jobs/:id', async (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    const id = c.req.param('id')
    if (!JOB_ID.test(id)) return c.json({ error: 'bad-request', message: `'${id}' is not a job id` }, 400)
    const view = await service.view(id)
    if (view === undefined) return c.json({ error: 'not-found', message: `no job ${id} on this node` }, 404)
    return c.json(view)
  })
  app.get('/v1/fl/jobs/:id/events', async (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    const id = c.req.param('id')
    const after = Number(c.req.query('after') ?? '0')
    const wait = Math.min(30, Math.max(0, Number(c.req.query('wait') ?? '0')))
    if (!Number.isInteger(after) || after < 0 || !Number.isFinite(wait)) {
      return c.json({ error: 'bad-request', message: 'after must be a non-negative integer and wait a number of seconds' }, 400)
    }
    const view = await service.view(id)
    if (view === undefined) return c.json({ error: 'not-found', message: `no job ${id} on this node` }, 404)
    const until = Date.now() + wait * 1000
    for (;;) {
      const events = service.events(id, after)
      const status = (await service.view(id))?.status
      if (events.length > 0 || Date.now() >= until || status !== 'running') return c.json({ events, status })
      await new Promise((r) => setTimeout(r, 200))
    }
  })
  app.post('/v1/fl/jobs/:id/cancel', (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    const id = c.req.param('id')
    const cancelled = service.cancel(id)
    if (!cancelled) return c.json({ error: 'not-running', message: `job ${id} is not running on this node` }, 409)
    return c.json({ cancelled: true })
  })
  app.get('/v1/fl/jobs/:id/model', (c) => {
    const service = fl()
    if (service === undefined) return c.json(unavailable, 503)
    const id = c.req.param('id')
    const q = c.req.query('round') ?? 'last'
    const round = q === 'last' ? 'last' : Number(q)
    if (round !== 'last' && (!Number.isInteger(round) || round < 0)) {
      return c.json({ error: 'bad-request', message: `round must be 'last' or a round number, got '${q}'` }, 400)
    }
    const model = service.exportModel(id, round)
    if (model === undefined) return c.json({ error: 'not-found', message: `no model of job ${id} at round ${q}` }, 404)
    return c.body(model.bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', 'x-weft-round': String(model.round) })
  })
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
