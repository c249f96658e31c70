// KubernetesLauncher against a recorded API contract: the real @kubernetes/client-node talks to an HTTP server on
// 127.0.0.1 that replays test/fixtures/k8s-contract.json in order and fails on any request the contract does not name.
// No API server can run here (see docs/KUBERNETES.md): the contract is written from the Kubernetes API reference.
// The client sends plain HTTP only to a cluster marked insecure-skip-tls-verify, as the test kubeconfig's is.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kubernetesLauncher, type LaunchRequest } from '../src/index.js'

interface Exchange {
  readonly request: { method: string; path: string; query: Record<string, string>; headers?: Record<string, string>; body?: unknown }
  readonly response: { status: number; body: unknown }
}
interface Contract {
  readonly scenarios: Record<string, Exchange[]>
}

const contract = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'k8s-contract.json'), 'utf8')) as Contract

/** Where `actual` differs from the essential fields in `expected` (objects: a subset; arrays and scalars: equal). */
function mismatch(expected: unknown, actual: unknown, at = 'body'): string | undefined {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${at}: expected an array of ${expected.length}, got ${JSON.stringify(actual)}`
    for (const [i, e] of expected.entries()) {
      const m = mismatch(e, actual[i], `${at}[${i}]`)
      if (m !== undefined) return m
    }
    return undefined
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return `${at}: expected an object, got ${JSON.stringify(actual)}`
    for (const [k, e] of Object.entries(expected)) {
      const m = mismatch(e, (actual as Record<string, unknown>)[k], `${at}.${k}`)
      if (m !== undefined) return m
    }
    return undefined
  }
  return Object.is(expected, actual) ? undefined : `${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`
}

class ContractServer {
  readonly #server: Server
  #queue: Exchange[] = []
  readonly failures: string[] = []
  readonly bodies: unknown[] = []

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1')
        const text = Buffer.concat(chunks).toString('utf8')
        const body: unknown = text === '' ? undefined : JSON.parse(text)
        this.bodies.push(body)
        const next = this.#queue.shift()
        const seen = `${req.method} ${url.pathname}${url.search}`
        const fail = (why: string) => {
          this.failures.push(`${seen}: ${why}`)
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', message: `not in the contract: ${why}`, code: 500 }))
        }
        if (next === undefined) return fail('no request expected here')
        const r = next.request
        if (req.method !== r.method || url.pathname !== r.path) return fail(`expected ${r.method} ${r.path}`)
        const query = Object.fromEntries(url.searchParams)
        const q = mismatch(r.query, query, 'query') ?? (Object.keys(query).length === Object.keys(r.query).length ? undefined : `query: expected ${JSON.stringify(r.query)}, got ${JSON.stringify(query)}`)
        if (q !== undefined) return fail(q)
        for (const [h, v] of Object.entries(r.headers ?? {})) if (req.headers[h] !== v) return fail(`header ${h}: expected ${v}, got ${req.headers[h]}`)
        if (r.body !== undefined) {
          const m = mismatch(r.body, body)
          if (m !== undefined) return fail(m)
        }
        res.writeHead(next.response.status, { 'content-type': 'application/json' }).end(JSON.stringify(next.response.body))
      })
    })
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  play(scenario: string): void {
    const exchanges = contract.scenarios[scenario]
    if (exchanges === undefined) throw new Error(`no scenario ${scenario} in the contract`)
    this.#queue = [...exchanges]
    this.failures.length = 0
    this.bodies.length = 0
  }

  /** Every exchange of the scenario happened, and nothing else. */
  check(): void {
    expect(this.failures).toEqual([])
    expect(this.#queue.map((e) => `${e.request.method} ${e.request.path}`)).toEqual([])
  }

  close(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()))
  }
}

const request: LaunchRequest = {
  name: 'train',
  nodes: 3,
  coresPerNode: 2,
  memoryBytesPerNode: 4 * 1024 ** 3,
  timeLimitSeconds: 3600,
  partition: 'weft-test',
  nodeArgs: ['--bootstrap', '/dns4/weft-0.weft-peers.weft-test.svc.cluster.local/tcp/4001/p2p/12D3KooWAbkbt8uBDHXj3C7nE6JK6cSF1Vcc3xD5fJoNuvHeHf4C'],
}

describe('KubernetesLauncher against the recorded API contract', () => {
  const server = new ContractServer()
  let kubeconfig = ''
  let clock = 0
  const launcher = () =>
    kubernetesLauncher(
      { kubeconfig, namespace: 'weft-test', cancelTimeoutMs: 1_000, pollIntervalMs: 1_000 },
      {
        now: () => clock,
        sleep: async (ms) => {
          clock += ms
        },
      },
    )

  beforeAll(async () => {
    const url = await server.listen()
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'weft-k8s-')), 'config')
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'contract', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'ci', user: { token: 'contract-token' } }],
        contexts: [{ name: 'contract', context: { cluster: 'contract', user: 'ci', namespace: 'weft-test' } }],
        'current-context': 'contract',
      }),
    )
  })
  afterAll(() => server.close())

  it('launch creates one Indexed Job whose pods run weft node start with the node arguments', async () => {
    server.play('launch')
    const launched = await launcher().launch(request)
    server.check()
    expect(launched).toEqual({ id: 'weft-test/train', launcher: 'kubernetes' })
  })

  it('status maps the Job status: pending, running, done, failed with the reason', async () => {
    const l = launcher()
    server.play('status-pending')
    expect(await l.status('weft-test/train')).toMatchObject({ id: 'weft-test/train', state: 'pending', running: 0 })
    server.check()
    server.play('status-running')
    expect(await l.status('train')).toMatchObject({ state: 'running', running: 3 })
    server.check()
    server.play('status-complete')
    expect(await l.status('train')).toMatchObject({ state: 'done', running: 0 })
    server.check()
    server.play('status-deadline')
    const failed = await l.status('train')
    server.check()
    expect(failed.state).toBe('failed')
    expect(failed.detail).toContain('DeadlineExceeded')
  })

  it('status of a Job that does not exist is a LaunchError with the API message', async () => {
    server.play('status-missing')
    await expect(launcher().status('train')).rejects.toMatchObject({ name: 'LaunchError', message: expect.stringContaining('jobs.batch "train" not found') })
    server.check()
  })

  it('cancel deletes in the foreground and returns once the Job is gone', async () => {
    server.play('cancel')
    clock = 0
    await launcher().cancel('weft-test/train')
    server.check()
    expect(clock).toBe(1_000)
  })

  it('cancel gives up after its bound when the pods do not stop', async () => {
    server.play('cancel-stuck')
    clock = 0
    await expect(launcher().cancel('train')).rejects.toMatchObject({ name: 'LaunchError', message: expect.stringContaining('still being deleted') })
    server.check()
  })

  it('a Job that already exists is a LaunchError naming the conflict', async () => {
    server.play('conflict')
    await expect(launcher().launch(request)).rejects.toMatchObject({
      name: 'LaunchError',
      message: expect.stringMatching(/HTTP 409.*jobs\.batch "train" already exists/),
    })
    server.check()
  })

  it('a refused request is a LaunchError carrying the API server’s reason', async () => {
    server.play('forbidden')
    await expect(launcher().status('train')).rejects.toMatchObject({
      name: 'LaunchError',
      message: expect.stringMatching(/HTTP 403.*cannot get resource "jobs\/status"/),
    })
    server.check()
  })

  it('a request the contract does not name fails the replay', async () => {
    server.play('status-running')
    await expect(launcher().cancel('train')).rejects.toMatchObject({ name: 'LaunchError' })
    expect(server.failures).toHaveLength(1)
  })

  it('bad requests are refused before any API call', async () => {
    server.play('launch')
    const l = launcher()
    await expect(l.launch({ ...request, name: 'Bad_Name' })).rejects.toMatchObject({ name: 'LaunchError', message: expect.stringContaining('name') })
    await expect(l.launch({ ...request, nodes: 0 })).rejects.toMatchObject({ name: 'LaunchError', message: expect.stringContaining('nodes') })
    expect(server.bodies).toEqual([])
  })
})
