// The node's local control API (HTTP): node and peer views, the mesh graph, telemetry, a server-sent event stream,
// federated jobs, Prometheus metrics and the web dashboard.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { getCookie, setCookie } from 'hono/cookie'
import { streamSSE } from 'hono/streaming'
import { isStorageFull } from '@weft/fl'
import { RpcError } from '@weft/mesh'
import { WireErrorCode } from '@weft/protocol'
import { parse as parseYaml } from 'yaml'
import { mountDashboard } from './dashboard.js'
import { type JoinInfo, mountJoin } from './join.js'
import type { FlService } from './fl/fl-service.js'
import type { MembershipView, RevocationView } from '@weft/api-client'
import { mountStore, STORE_BYTE_ROUTES } from './store-routes.js'
import { mountDatasets } from './dataset-routes.js'
import type { NodeInference } from './inference/inference-role.js'
import { mountInference } from './inference/inference-routes.js'
import type { NodeSwarms } from './swarm/swarm-role.js'
import { mountSwarms } from './swarm/swarm-routes.js'
import { mountJobs } from './jobs/job-routes.js'
import type { NodeJobs } from './components/jobs.js'
import type { DatasetCache } from './components/datasets.js'
import type { DiskStore } from '@weft/store/node'
import type { BlockExchange } from './components/block-exchange.js'
import type { Replication } from './components/replication.js'
import type { MeshView, NodeView, PeerView, StreamEvent, TelemetryView } from './views.js'

/** What the API needs from the node. */
export interface ApiBackend {
  node(): NodeView
  peers(): PeerView[]
  peer(peerId: string): PeerView | undefined
  /** Finds a peer's signed ad in the DHT (verified); undefined if none is found. */
  lookupPeer(peerId: string, signal: AbortSignal): Promise<PeerView | undefined>
  metrics(): Promise<{ contentType: string; body: string }>
  mesh(): MeshView
  /** Telemetry samples taken after `since` (epoch ms). */
  telemetry(since: number): TelemetryView
  /** Calls `listener` with every stream event until the returned function is called. */
  subscribe(listener: (event: StreamEvent) => void): () => void
  /** Federated jobs (absent: the /v1/fl routes answer 404). */
  fl?: () => FlService | undefined
  /** Mesh membership (absent: the /v1/mesh/membership and /v1/mesh/revocations routes answer 404). */
  membership?: {
    view(): MembershipView
    /** Verifies, keeps and gossips an encoded SignedRevocation. */
    revoke(signed: Uint8Array): Promise<{ ok: true; isNew: boolean; revocation: RevocationView } | { ok: false; reason: string; detail: string }>
  }
  /** The block store (absent: the /v1/store routes answer 503). */
  store?: () => DiskStore | undefined
  /** The block store on the mesh (fetch, announce). */
  blockExchange?: () => BlockExchange | undefined
  replication?: () => Replication | undefined
  /** The data sets (absent: the /v1/datasets routes answer 503). */
  datasets?: () => DatasetCache | undefined
  /** Inference (absent: /v1/inference and the OpenAI routes answer 503). */
  inference?: () => NodeInference | undefined
  /** Serverless training (absent: /v1/swarms answers 503). */
  swarms?: () => NodeSwarms | undefined
  /** Orchestration (absent: /v1/jobs answers 503). */
  jobs?: () => NodeJobs | undefined
}

export interface ApiServerInit {
  readonly host: string
  readonly port: number
  /** Required on every request when set (the node sets it when bound beyond loopback). */
  readonly token?: string
  /** Serves the built dashboard from this directory at / (absent: no dashboard). */
  readonly dashboardDir?: string
  /** Serves the /join page (public) from this directory, with what it connects to (absent: no /join). */
  readonly join?: { readonly dir: string; readonly info: () => JoinInfo }
}

export interface ApiAppOptions {
  readonly token?: string
  readonly dashboardDir?: string
  readonly join?: ApiServerInit['join']
  /** Whether the server listens on loopback only: then requests must name a loopback host (no DNS rebinding). */
  readonly loopback?: boolean
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

/** The cookie a browser holds after logging in with the API token. */
export const TOKEN_COOKIE = 'weft_token'

function secretMatches(given: string | undefined, token: string): boolean {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * The dashboard's cookie value: derived from the token (HMAC-SHA256 under a fixed label), never the token itself, so a
 * cookie read off a browser's disk or a proxy log cannot be replayed as `Authorization: Bearer` on the API.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('weft-dashboard-session-v1').digest('base64url')
}

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined
}

const hostName = (host: string): string => (host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, ''))

const badRequest = (c: Context, message: string) => c.json({ error: 'bad-request', message }, 400)

/** The HTTP status of a remote coordinator's refusal, by its wire code. */
function remoteRefusal(code: WireErrorCode): { status: 400 | 403 | 404 | 413 | 429 | 502 | 504; error: string } {
  switch (code) {
    case WireErrorCode.BAD_REQUEST:
      return { status: 400, error: 'invalid-spec' }
    case WireErrorCode.UNAUTHORIZED:
      return { status: 403, error: 'forbidden' }
    case WireErrorCode.NOT_FOUND:
      return { status: 404, error: 'not-found' }
    case WireErrorCode.TOO_LARGE:
      return { status: 413, error: 'too-large' }
    case WireErrorCode.RESOURCE_EXHAUSTED:
      return { status: 429, error: 'quota-exceeded' }
    case WireErrorCode.TIMEOUT:
      return { status: 504, error: 'timeout' }
    default:
      return { status: 502, error: 'remote-error' }
  }
}

/** Largest request body the API reads (a job spec is at most 64 KiB of JSON). */
export const MAX_BODY_BYTES = 1024 * 1024

/**
 * Why a request that changes something is refused before it is read, or undefined. A browser names the page that
 * sent it: an opaque origin (`Origin: null`: a sandboxed frame, a file, a redirect) or another site may not change
 * anything, whatever cookies ride along; and the API's bodies are JSON, so a form or text body (which a page can
 * send without asking the user's browser for permission) is refused as well.
 */
function writeRefusal(c: Context, host: string | undefined): { status: 403 | 415; message: string } | undefined {
  const method = c.req.method
  const origin = c.req.header('origin')
  if (origin === 'null') return { status: 403, message: `${method} from an opaque origin (Origin: null) refused` }
  if (c.req.header('sec-fetch-site') === 'cross-site') return { status: 403, message: `cross-site ${method} refused (Sec-Fetch-Site: cross-site)` }
  if (origin !== undefined) {
    let originHost: string | undefined
    try {
      originHost = new URL(origin).host
    } catch {}
    if (originHost !== host) return { status: 403, message: `cross-origin ${method} from ${origin} refused` }
  }
  const hasBody = Number(c.req.header('content-length') ?? '0') > 0 || c.req.header('transfer-encoding') !== undefined
  const byteTypes = STORE_BYTE_ROUTES.get(c.req.path)
  if (byteTypes !== undefined) {
    // Uploads of bytes: a type a page cannot send without the browser asking this API first (CORS preflight).
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
    if (!byteTypes.includes(type)) return { status: 415, message: `${c.req.path} takes ${byteTypes.join(' or ')}, not '${c.req.header('content-type') ?? 'none'}'` }
    return undefined
  }
  if (c.req.path.startsWith('/v1/') && hasBody && !/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) {
    return { status: 415, message: `the API takes JSON bodies (Content-Type: application/json), not '${c.req.header('content-type') ?? 'none'}'` }
  }
  return undefined
}

/**
 * Builds the Hono app (exported for in-process tests).
 *
 * Access rules: on loopback anyone on this machine may call the API, but only under a loopback host name (a web
 * page cannot reach it through DNS rebinding). Beyond loopback every request needs the token, as a bearer header
 * (CLI, scripts) or as the HttpOnly, SameSite=Strict cookie that `POST /login` sets (the dashboard). Requests that
 * change something are refused when a browser says they come from another origin (cross-site request forgery).
 */
export function createApiApp(backend: ApiBackend, options: ApiAppOptions = {}): Hono {
  const { token, dashboardDir, join, loopback = false } = options
  const app = new Hono()
  app.use('*', async (c, next) => {
    const host = c.req.header('host')
    if (loopback && host !== undefined && !isLoopbackHost(hostName(host))) {
      return c.json({ error: 'forbidden', message: `this API answers only to loopback host names, not '${host}'` }, 403)
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
    const refusal = writeRefusal(c, host)
    if (refusal !== undefined) return c.json({ error: refusal.status === 415 ? 'unsupported-media-type' : 'forbidden', message: refusal.message }, refusal.status)
    return next()
  })
  const jsonBodyLimit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => c.json({ error: 'too-large', message: `request bodies are limited to ${MAX_BODY_BYTES} bytes` }, 413),
  })
  // Store uploads are bytes bounded by the store's quota, not by the JSON limit.
  app.use('/v1/*', (c, next) => (STORE_BYTE_ROUTES.has(c.req.path) ? next() : jsonBodyLimit(c, next)))
  // Before the login check: the join page is public.
  if (join !== undefined) mountJoin(app, join.dir, join.info)
  if (token !== undefined) mountLogin(app, token)
  if (dashboardDir !== undefined) mountDashboard(app, dashboardDir)
  app.get('/v1/node', (c) => c.json(backend.node()))
  app.get('/v1/mesh', (c) => c.json(backend.mesh()))
  app.get('/v1/node/telemetry', (c) => {
    const raw = c.req.query('since') ?? '0'
    const since = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(since)) return badRequest(c, `since must be a time in epoch milliseconds, got '${raw}'`)
    return c.json(backend.telemetry(since))
  })
  app.get('/v1/stream', (c) => streamEvents(c, backend))
  app.get('/v1/peers', (c) => {
    const status = c.req.query('status')
    if (status !== undefined && status !== 'alive' && status !== 'gone') {
      return badRequest(c, `status must be 'alive' or 'gone', got '${status}'`)
    }
    const peers = backend.peers().filter((p) => status === undefined || p.status === status)
    return c.json({ peers })
  })
  app.get('/v1/peers/:id', async (c) => {
    const id = c.req.param('id')
    if (!PEER_ID.test(id)) return badRequest(c, `'${id}' is not a peer id`)
    const source = c.req.query('source') ?? 'table'
    if (source !== 'table' && source !== 'dht') {
      return badRequest(c, `source must be 'table' or 'dht', got '${source}'`)
    }
    const found =
      source === 'dht' ? await backend.lookupPeer(id, AbortSignal.timeout(10_000)) : backend.peer(id)
    if (found === undefined) return c.json({ error: 'not-found', message: `no ad for ${id} in the ${source}` }, 404)
    return c.json(found)
  })
  mountFl(app, backend)
  mountMembership(app, backend)
  mountStore(
    app,
    () => backend.store?.(),
    () => backend.fl?.(),
    () => backend.blockExchange?.(),
    () => backend.replication?.(),
  )
  mountDatasets(app, () => backend.datasets?.())
  mountInference(app, () => backend.inference?.())
  mountSwarms(app, () => backend.swarms?.())
  mountJobs(app, () => backend.jobs?.())
  app.get('/metrics', async (c) => {
    const { contentType, body } = await backend.metrics()
    return c.body(body, 200, { 'content-type': contentType })
  })
  app.notFound((c) => c.json({ error: 'not-found', message: `no route ${c.req.method} ${c.req.path}` }, 404))
  app.onError((err, c) => (isStorageFull(err) ? c.json(storageFull(err), 507) : c.json({ error: 'internal', message: err.message }, 500)))
  return app
}

function mountLogin(app: Hono, token: string): void {
  const page = (message = '') => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Weft: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>Weft</h1><p>This node's API is reachable beyond this machine, so it needs its token: the file <code>api-token</code> in the node's data directory.</p>
<form method="post" action="login"><input name="token" type="password" autocomplete="current-password" size="40" autofocus>
<button type="submit">Log in</button></form><p style="color: #b00">${message}</p></body></html>`
  const session = sessionValue(token)
  app.get('/login', (c) => c.html(page()))
  app.post('/login', async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>)
    const given = typeof form['token'] === 'string' ? form['token'].trim() : undefined
    if (!secretMatches(given, token)) return c.html(page('That is not this node’s token.'), 401)
    setCookie(c, TOKEN_COOKIE, session, { httpOnly: true, sameSite: 'Strict', path: '/' })
    return c.redirect('./', 303)
  })
  app.use('*', async (c, next) => {
    if (secretMatches(bearer(c.req.header('authorization')), token) || secretMatches(getCookie(c, TOKEN_COOKIE), session)) return next()
    // A browser asking for the dashboard goes to the login page; API callers get the reason.
    if (c.req.method === 'GET' && !c.req.path.startsWith('/v1/') && c.req.path !== '/metrics') return c.redirect('/login', 303)
    return c.json({ error: 'unauthorized', message: 'send Authorization: Bearer <token> (see <data-dir>/api-token), or log in at /login' }, 401)
  })
}

/** Most stream events held for one slow reader before its stream is closed (it reconnects and refetches). */
const MAX_QUEUED_EVENTS = 2_000
const HEARTBEAT_MS = 15_000

/** GET /v1/stream: server-sent events until the client goes; a comment line every 15 s keeps proxies from closing it. */
function streamEvents(c: Context, backend: ApiBackend): Response {
  return streamSSE(c, async (stream) => {
    const queue: StreamEvent[] = []
    let wake: (() => void) | undefined
    let overflow = false
    const unsubscribe = backend.subscribe((event) => {
      if (queue.length >= MAX_QUEUED_EVENTS) overflow = true
      else queue.push(event)
      wake?.()
    })
    stream.onAbort(() => wake?.())
    try {
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ peerId: backend.node().peerId }) })
      while (!stream.aborted && !stream.closed && !overflow) {
        if (queue.length === 0) {
          const { promise, resolve } = Promise.withResolvers<void>()
          wake = resolve
          const timer = setTimeout(resolve, HEARTBEAT_MS)
          await promise
          clearTimeout(timer)
          wake = undefined
          if (queue.length === 0) await stream.write(': heartbeat\n\n')
        }
        for (const { type, ...data } of queue.splice(0)) await stream.writeSSE({ event: type, data: JSON.stringify(data) })
      }
    } finally {
      unsubscribe()
    }
  })
}

const JOB_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Largest revocation taken, as base64 (a SignedRevocation is at most 2 KiB). */
const MAX_REVOCATION_BASE64 = 4096

function mountMembership(app: Hono, backend: ApiBackend): void {
  const membership = backend.membership
  if (membership === undefined) return
  app.get('/v1/mesh/membership', (c) => c.json(membership.view()))
  app.post('/v1/mesh/revocations', async (c) => {
    let body: { revocation?: unknown }
    try {
      body = (await c.req.json()) as { revocation?: unknown }
    } catch {
      return badRequest(c, 'the body must be JSON: { "revocation": "<base64 of a signed revocation>" }')
    }
    const text = typeof body === 'object' && body !== null ? body.revocation : undefined
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_REVOCATION_BASE64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      return badRequest(c, `"revocation" must be the base64 of a signed revocation (weft mesh revoke), at most ${MAX_REVOCATION_BASE64} characters`)
    }
    const result = await membership.revoke(new Uint8Array(Buffer.from(text, 'base64')))
    if (!result.ok) {
      if (result.reason === 'no-authority') return c.json({ error: 'no-authority', message: result.detail }, 409)
      return badRequest(c, `the revocation was refused (${result.reason}): ${result.detail}`)
    }
    return c.json({ accepted: true, isNew: result.isNew, revocation: result.revocation })
  })
}

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
    let spec = body.spec
    if (typeof spec === 'string') {
      // The dashboard sends the spec as the YAML (or JSON) text the user typed.
      try {
        spec = parseYaml(spec, { maxAliasCount: 100 })
      } catch (err) {
        return c.json({ error: 'invalid-spec', message: `the spec is not YAML or JSON: ${(err as Error).message}` }, 400)
      }
    }
    try {
      if (typeof body.to === 'string' && body.to !== '' && body.to !== backend.node().peerId) {
        const r = await service.submitTo(body.to, spec)
        return c.json({ id: r.id, coordinator: r.coordinator }, 201)
      }
      const view = service.submit(spec)
      return c.json({ id: view.id, coordinator: view.coordinator }, 201)
    } catch (err) {
      const e = err as Error & { issues?: unknown; code?: WireErrorCode }
      const invalid = e.name === 'InvalidJobSpecError' || e.name === 'InvalidStrategyConfigError'
      if (invalid) return c.json({ error: 'invalid-spec', message: e.message, ...(e.issues === undefined ? {} : { issues: e.issues }) }, 400)
      // Another coordinator's answer to `to`: its wire code says what kind of refusal it was.
      if (e instanceof RpcError) {
        const { status, error } = remoteRefusal(e.code)
        return c.json({ error, message: `${body.to as string}: ${e.detail}` }, status)
      }
      if (isStorageFull(e)) return c.json(storageFull(e), 507)
      return c.json({ error: 'internal', message: e.message }, 500)
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

const KEEP_ALIVE_MS = 65_000

/** Starts the API server; resolves once it listens. */
export async function startApiServer(backend: ApiBackend, init: ApiServerInit): Promise<ApiServer> {
  const app = createApiApp(backend, {
    ...(init.token === undefined ? {} : { token: init.token }),
    ...(init.dashboardDir === undefined ? {} : { dashboardDir: init.dashboardDir }),
    ...(init.join === undefined ? {} : { join: init.join }),
    loopback: isLoopbackHost(init.host),
  })
  const { promise, resolve, reject } = Promise.withResolvers<ServerType>()
  const server = serve({ fetch: app.fetch, hostname: init.host, port: init.port }, () => resolve(server))
  server.once('error', reject)
  await promise
  // Node closes an idle keep-alive socket after 5 s. A client that reuses the socket as it closes (an event loop that
  // stalled past the timer on a loaded machine) gets ECONNRESET on a request the server never read; a minute makes
  // the race need a minute's stall. Sockets still close on idle, and every request keeps Node's header timeout.
  ;(server as ServerType & { keepAliveTimeout: number }).keepAliveTimeout = KEEP_ALIVE_MS
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

/**
 * A full disk (SQLite's SQLITE_FULL, the file system's ENOSPC, the block store's EDQUOT) is the node's state, not a
 * bug: answered 507, so a client can tell it from a failure and try again once there is room.
 */
function storageFull(err: Error): { error: 'insufficient-storage'; message: string } {
  return { error: 'insufficient-storage', message: `the node's storage is full: ${err.message}` }
}
