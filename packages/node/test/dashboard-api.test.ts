// The API the dashboard reads, on its own: the mesh graph with fabric totals, telemetry, per-peer traffic, the
// server-sent event stream, the page and its assets, the login cookie beyond loopback, and 400s with reasons.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNodeApiClient as createApiClient } from '@weft/api-client/node'
import { type ApiBackend, createApiApp, DATA_DIR_FILES, type MeshView, TOKEN_COOKIE } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

/** Reads server-sent events from a response body until `done` says so or the time runs out. */
async function readEvents(res: Response, done: (events: Array<{ event: string; data: unknown }>) => boolean, timeoutMs = 15_000) {
  const events: Array<{ event: string; data: unknown }> = []
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  const timer = setTimeout(() => void reader.cancel(), timeoutMs)
  let buffer = ''
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read()
      if (ended) break
      buffer += value
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) })
        end = buffer.indexOf('\n\n')
      }
    }
  } finally {
    clearTimeout(timer)
    await reader.cancel().catch(() => {})
  }
  return events
}

describe('dashboard API', () => {
  const nodes: TestNode[] = []
  let a: TestNode
  let b: TestNode
  let c: TestNode

  beforeAll(async () => {
    a = await startTestNode({ labels: { tier: 'dc', site: 'tucson' }, telemetry: { intervalMs: 200 } })
    b = await startTestNode({ bootstrap: [a.addrs[0]!], labels: { tier: 'edge' } })
    c = await startTestNode({ bootstrap: [a.addrs[0]!], labels: { tier: 'edge' } })
    nodes.push(a, b, c)
    await until(() => a.peers.list().filter((p) => p.status === 'alive').length === 2, 20_000, 'a to see b and c')
  }, 60_000)

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  })

  it('draws the mesh: every node once, the live connections as edges, and totals over the nodes alive', async () => {
    const client = createApiClient({ apiUrl: a.apiUrl })
    // b's and c's ads list their neighbours (a at least) once they have published after connecting.
    await until(async () => (await client.mesh()).edges.length >= 2, 10_000, 'two edges')
    const mesh: MeshView = await client.mesh()
    expect(mesh.self).toBe(a.peerId)
    expect(mesh.nodes.map((n) => n.peerId).sort()).toEqual([a.peerId, b.peerId, c.peerId].sort())
    expect(mesh.nodes.filter((n) => n.self).map((n) => n.peerId)).toEqual([a.peerId])
    expect(mesh.nodes.find((n) => n.self)?.labels).toEqual({ tier: 'dc', site: 'tucson' })
    const pairs = mesh.edges.map((e) => [e.source, e.target].sort().join(' '))
    expect(new Set(pairs).size).toBe(pairs.length)
    expect(pairs).toContain([a.peerId, b.peerId].sort().join(' '))
    expect(pairs).toContain([a.peerId, c.peerId].sort().join(' '))
    const cores = mesh.nodes.reduce((s, n) => s + n.cores, 0)
    expect(mesh.totals).toMatchObject({ nodes: 3, cores })
    expect(mesh.totals.memoryBytes).toBe(mesh.nodes.reduce((s, n) => s + n.memoryBytes, 0))
    expect(mesh.totals.cpuUtilization).toBeGreaterThanOrEqual(0)
    expect(mesh.totals.cpuUtilization).toBeLessThanOrEqual(1)
    // Traffic with a peer counts the RPC that fetched its ad and the gossiped ads, both ways.
    const withB = mesh.nodes.find((n) => n.peerId === b.peerId)!.traffic
    expect(withB.inBytes).toBeGreaterThan(0)
    expect(withB.outBytes).toBeGreaterThan(0)
    const total = (await client.node()).traffic
    expect(total.inBytes).toBeGreaterThanOrEqual(withB.inBytes)
    expect((await client.peer(b.peerId)).traffic.inBytes).toBeGreaterThanOrEqual(withB.inBytes)
  })

  it('keeps telemetry samples: CPU shares within 0..1, memory, traffic totals that never decrease', async () => {
    const client = createApiClient({ apiUrl: a.apiUrl })
    await until(async () => (await client.telemetry()).samples.length >= 5, 10_000, 'five samples')
    const { intervalMs, samples } = await client.telemetry()
    expect(intervalMs).toBe(200)
    for (const s of samples) {
      expect(s.cpu.host).toBeGreaterThanOrEqual(0)
      expect(s.cpu.host).toBeLessThanOrEqual(1)
      expect(s.cpu.process).toBeGreaterThanOrEqual(0)
      expect(s.cpu.process).toBeLessThanOrEqual(1)
      expect(s.memory.rssBytes).toBeGreaterThan(0)
      expect(s.memory.usedBytes).toBeLessThanOrEqual(s.memory.totalBytes)
      expect(s.net.inRate).toBeGreaterThanOrEqual(0)
    }
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.at).toBeGreaterThan(samples[i - 1]!.at)
      expect(samples[i]!.net.inBytes).toBeGreaterThanOrEqual(samples[i - 1]!.net.inBytes)
    }
    const since = samples.at(-2)!.at
    expect((await client.telemetry(since)).samples.every((s) => s.at > since)).toBe(true)
  })

  it('streams samples, peers, connections and job events as server-sent events', async () => {
    const res = await fetch(`${a.apiUrl}/v1/stream`)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    let joining = false
    let joined: TestNode | undefined
    let jobId: string | undefined
    const events = await readEvents(res, (seen) => {
      // Once the stream is open: a fourth node joins, then a job is submitted here and cancelled.
      if (seen.length > 0 && !joining) {
        joining = true
        void startTestNode({ bootstrap: [a.addrs[0]!] }).then((n) => {
          joined = n
          nodes.push(n)
        })
      }
      const peerSeen = seen.some((e) => e.event === 'peer' && (e.data as { peer: { peerId: string } }).peer.peerId === joined?.peerId)
      if (peerSeen && jobId === undefined) {
        jobId = a.fl.submit({
          model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
          dataset: 'nowhere',
          rounds: 1,
          clients: { min: 5 },
          timeouts: { waitSeconds: 300 },
        }).id
        a.fl.cancel(jobId)
      }
      // Samples come every 200 ms: the stream is read until one has arrived too.
      return seen.some((e) => e.event === 'sample') && seen.some((e) => e.event === 'job' && (e.data as { event: { type: string } }).event.type === 'job-cancelled')
    })
    const kinds = new Set(events.map((e) => e.event))
    expect(events[0]).toEqual({ event: 'hello', data: { peerId: a.peerId } })
    expect(kinds).toContain('sample')
    expect(kinds).toContain('connection')
    const peer = events.find((e) => e.event === 'peer' && (e.data as { peer: { peerId: string } }).peer.peerId === joined?.peerId)
    expect(peer?.data).toMatchObject({ peer: { status: 'alive', ad: { peerId: joined?.peerId } } })
    const jobEvents = events.filter((e) => e.event === 'job').map((e) => e.data as { jobId: string; event: { type: string } })
    expect(jobEvents.map((e) => e.jobId)).toEqual(jobEvents.map(() => jobId))
    expect(jobEvents[0]?.event.type).toBe('job-submitted')
  })

  it('answers bad parameters with 400 and a reason, and refuses foreign host names and cross-origin changes', async () => {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${a.apiUrl}${path}`, { headers })
      return { status: res.status, body: (await res.json()) as { error: string; message: string } }
    }
    expect(await get('/v1/node/telemetry?since=yesterday')).toEqual({
      status: 400,
      body: { error: 'bad-request', message: "since must be a time in epoch milliseconds, got 'yesterday'" },
    })
    expect((await get('/v1/node/telemetry?since=-5')).status).toBe(400)
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${a.apiUrl}/v1/fl/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    const notYaml = await post({ spec: 'model: [unclosed' })
    expect(notYaml.status).toBe(400)
    expect(((await notYaml.json()) as { message: string }).message).toMatch(/^the spec is not YAML or JSON/)
    const badField = await post({ spec: 'model: { architecture: logreg, inputShape: [4], numClasses: 2 }\ndataset: d\nrounds: zero\n' })
    expect(badField.status).toBe(400)
    expect(((await badField.json()) as { message: string }).message).toMatch(/rounds/)
    // A page on another site cannot make this node do anything, nor reach it under another name (DNS rebinding).
    const forged = await post({ spec: {} }, { origin: 'http://evil.example' })
    expect(forged.status).toBe(403)
    expect(((await forged.json()) as { message: string }).message).toBe('cross-origin POST from http://evil.example refused')
    // fetch() will not forge a Host header; node:http will, as a rebinding browser effectively does.
    const rebound = await new Promise<number>((resolve, reject) => {
      request(`${a.apiUrl}/v1/node`, { headers: { host: 'evil.example' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end()
    })
    expect(rebound).toBe(403)
  })

  it('refuses a hostile page’s writes: an opaque origin, a cross-site fetch, a form or text body, an oversized body (issue 15, finding 4)', async () => {
    const url = `${a.apiUrl}/v1/fl/jobs`
    const spec = JSON.stringify({ spec: { model: { architecture: 'logreg', inputShape: [4], numClasses: 2 }, dataset: 'd', rounds: 1 } })
    const send = async (headers: Record<string, string>, body: string = spec) => {
      const res = await fetch(url, { method: 'POST', headers, body })
      return { status: res.status, body: (await res.json()) as { error: string; message: string } }
    }
    const before = (await (await fetch(`${a.apiUrl}/v1/fl/jobs`)).json()) as { jobs: unknown[] }
    // A sandboxed iframe on any web page sends Origin: null.
    expect(await send({ 'content-type': 'application/json', origin: 'null' })).toEqual({
      status: 403,
      body: { error: 'forbidden', message: 'POST from an opaque origin (Origin: null) refused' },
    })
    expect(await send({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' })).toMatchObject({ status: 403, body: { error: 'forbidden' } })
    // A page may POST text/plain or a form without a preflight: the JSON inside must not be read.
    expect(await send({ 'content-type': 'text/plain' })).toMatchObject({ status: 415, body: { error: 'unsupported-media-type' } })
    expect(await send({ 'content-type': 'application/x-www-form-urlencoded' }, 'spec=x')).toMatchObject({ status: 415 })
    // Over the body limit: answered before the body is read (in process: a socket would be closed under the sender).
    const app = createApiApp({ node: () => a.view(), fl: () => a.fl } as unknown as ApiBackend)
    const tooLarge = await app.request('/v1/fl/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec: 'x'.repeat(2 * 1024 * 1024) }) })
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toMatchObject({ error: 'too-large' })
    const after = (await (await fetch(`${a.apiUrl}/v1/fl/jobs`)).json()) as { jobs: unknown[] }
    expect(after.jobs.length).toBe(before.jobs.length)
    // The honest path still works: a same-origin JSON write from the dashboard.
    const fine = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', origin: new URL(a.apiUrl).origin, 'sec-fetch-site': 'same-origin' }, body: spec })
    expect(fine.status).toBe(201)
    await fetch(`${url}/${((await fine.json()) as { id: string }).id}/cancel`, { method: 'POST' })
  })

  it('answers a submission on a full disk with 507 and the reason, and other failures with 500', async () => {
    const failing = (err: Error) =>
      createApiApp({
        node: () => a.view(),
        fl: () => ({
          submit: () => {
            throw err
          },
        }),
      } as unknown as ApiBackend)
    const submit = (app: ReturnType<typeof createApiApp>) =>
      app.request('/v1/fl/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ spec: { name: 'x' } }) })
    const full = await submit(failing(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })))
    expect(full.status).toBe(507)
    expect(await full.json()).toEqual({ error: 'insufficient-storage', message: "the node's storage is full: database or disk is full" })
    const broken = await submit(failing(new Error('something else')))
    expect(broken.status).toBe(500)
  })

  it('serves the built page, its assets by content-hashed name only, and says so when there is no build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-dash-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="./assets/index-abc123.js"></script>')
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)')
    const backend = { node: () => a.view() } as unknown as ApiBackend
    const app = createApiApp(backend, { dashboardDir: dir })
    const page = await app.request('/')
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/)
    expect(await page.text()).toContain('index-abc123.js')
    const asset = await app.request('/assets/index-abc123.js')
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(asset.headers.get('cache-control')).toMatch(/immutable/)
    expect((await app.request('/assets/..%2Findex.html')).status).toBe(404)
    expect((await app.request('/assets/missing.js')).status).toBe(404)
    const unbuilt = createApiApp(backend, { dashboardDir: join(dir, 'nothing-here') })
    const missing = await unbuilt.request('/')
    expect(missing.status).toBe(503)
    expect(await missing.text()).toMatch(/npm run build/)
    // The node itself serves the real build (made by `npm run build`).
    const real = await fetch(`${a.apiUrl}/`)
    expect(real.status).toBe(200)
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(await real.text())?.[1]
    expect(script).toBeDefined()
    expect((await fetch(`${a.apiUrl}/${script}`)).status).toBe(200)
  })

  it('the /join page is public and cross-origin isolated, while the API behind it still needs the token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-join-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="./assets/index-j1.js"></script>')
    writeFileSync(join(dir, 'assets', 'index-j1.js'), 'console.log(1)')
    writeFileSync(join(dir, 'assets', 'tfjs-backend-wasm-simd-x1.wasm'), new Uint8Array([0, 97, 115, 109]))
    const backend = { node: () => a.view() } as unknown as ApiBackend
    const info = { peerId: a.peerId, bootstrap: [`/ip4/127.0.0.1/tcp/4002/ws/p2p/${a.peerId}`] }
    const app = createApiApp(backend, { token: 'secret-token', join: { dir, info: () => info } })
    const page = await app.request('/join/')
    expect(page.status).toBe(200)
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin')
    expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp')
    expect(page.headers.get('content-security-policy')).toMatch(/'wasm-unsafe-eval'.*connect-src 'self' ws: wss:/)
    expect((await app.request('/join')).status).toBe(301)
    expect(await (await app.request('/join/info')).json()).toEqual(info)
    const wasm = await app.request('/join/assets/tfjs-backend-wasm-simd-x1.wasm')
    expect(wasm.headers.get('content-type')).toBe('application/wasm')
    expect(wasm.headers.get('cross-origin-resource-policy')).toBe('same-origin')
    // A visitor of the page gets nothing else: no traversal, no API, no dashboard without the token.
    expect((await app.request('/join/assets/..%2F..%2Fapi-token')).status).toBe(404)
    expect((await app.request('/v1/node')).status).toBe(401)
    expect((await app.request('/v1/fl/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401)
    // Without --join there is no page.
    expect((await createApiApp(backend, { token: 'secret-token' }).request('/join/info')).status).not.toBe(200)
  })

  it('beyond loopback: the page sends the browser to /login, and the token sets a cookie that works for the page, the API and the stream', async () => {
    const node = await startTestNode({ api: { host: '0.0.0.0', port: 0 } })
    nodes.push(node)
    const url = `http://127.0.0.1:${new URL(node.apiUrl).port}`
    expect(node.view().api.authRequired).toBe(true)
    const token = readFileSync(join(node.config.dataDir, DATA_DIR_FILES.apiToken), 'utf8').trim()
    const toPage = await fetch(`${url}/`, { redirect: 'manual' })
    expect(toPage.status).toBe(303)
    expect(toPage.headers.get('location')).toBe('/login')
    expect((await fetch(`${url}/v1/mesh`)).status).toBe(401)
    expect((await fetch(`${url}/login`)).status).toBe(200)
    const login = (t: string) =>
      fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: t }), redirect: 'manual' })
    const wrong = await login('not-the-token')
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('set-cookie')).toBeNull()
    const right = await login(token)
    expect(right.status).toBe(303)
    const cookie = right.headers.get('set-cookie') ?? ''
    expect(cookie).toMatch(new RegExp(`^${TOKEN_COOKIE}=`))
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Strict/)
    const jar = { cookie: cookie.split(';')[0]! }
    expect((await fetch(`${url}/`, { headers: jar })).status).toBe(200)
    expect(((await (await fetch(`${url}/v1/mesh`, { headers: jar })).json()) as MeshView).self).toBe(node.peerId)
    const stream = await fetch(`${url}/v1/stream`, { headers: jar })
    expect((await readEvents(stream, (seen) => seen.length > 0))[0]?.event).toBe('hello')
    // The bearer header still works for scripts; a forged cookie does not.
    expect((await fetch(`${url}/v1/mesh`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect((await fetch(`${url}/v1/mesh`, { headers: { cookie: `${TOKEN_COOKIE}=guess` } })).status).toBe(401)
    // Issue 15, deliverable 5: the cookie holds a value derived from the token, not the token. An attacker who reads
    // the cookie (a browser profile, a proxy log) cannot use it as the bearer token, and the raw token as a cookie is refused.
    const session = decodeURIComponent(jar.cookie.slice(`${TOKEN_COOKIE}=`.length))
    expect(session).not.toContain(token)
    expect((await fetch(`${url}/v1/mesh`, { headers: { authorization: `Bearer ${session}` } })).status).toBe(401)
    expect((await fetch(`${url}/v1/mesh`, { headers: { cookie: `${TOKEN_COOKIE}=${token}` } })).status).toBe(401)
  })
})
