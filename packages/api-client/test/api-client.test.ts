// The control API client against a real node (in this process), and against a server that answers malformed views.
import { createServer, type Server } from 'node:http'
import { type AddressInfo, connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiClient, MalformedResponseError, nodeViewSchema } from '@weft/api-client'
import { createNodeApiClient, readRunningNode } from '@weft/api-client/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode } from '../../node/test/helpers.js'

describe('api client against a running node', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await startTestNode()
  })
  afterAll(async () => {
    await node.stop()
    removeTestDirs()
  })

  it('reads and validates the node, peers, mesh, telemetry, metrics and jobs views', async () => {
    const client = createApiClient({ url: node.apiUrl })
    const view = await client.node()
    expect(view.peerId).toBe(node.peerId)
    expect(nodeViewSchema.safeParse(view).success).toBe(true)
    expect(await client.peers()).toEqual([])
    const mesh = await client.mesh()
    expect(mesh.self).toBe(node.peerId)
    expect(mesh.nodes.some((n) => n.self)).toBe(true)
    expect((await client.telemetry()).intervalMs).toBeGreaterThan(0)
    expect(await client.metrics()).toContain('weft_')
    expect(await client.jobs()).toEqual({ jobs: [], client: [] })
  })

  it('finds the node through its data directory', async () => {
    expect(readRunningNode(node.config.dataDir)?.peerId).toBe(node.peerId)
    expect((await createNodeApiClient({ dataDir: node.config.dataDir }).node()).peerId).toBe(node.peerId)
  })

  it('turns an error status into an ApiError with the code the node sent', async () => {
    const client = createApiClient({ url: node.apiUrl })
    await expect(client.job('no-such-job')).rejects.toMatchObject({
      name: 'ApiError',
      status: 404,
      code: 'not-found',
      message: 'GET /v1/fl/jobs/no-such-job: 404 no job no-such-job on this node',
      detail: 'no job no-such-job on this node',
    })
    await expect(client.submitJob({ rounds: -1 })).rejects.toMatchObject({ name: 'ApiError', status: 400, code: 'invalid-spec' })
  })

  it('says no node is running on an empty data directory, and when nothing answers at the URL', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'weft-empty-'))
    try {
      expect(() => createNodeApiClient({ dataDir: empty })).toThrow(expect.objectContaining({ name: 'NodeNotRunningError' }))
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
    await expect(createApiClient({ url: 'http://127.0.0.1:1', timeoutMs: 2000 }).node()).rejects.toMatchObject({ name: 'NodeNotRunningError' })
  })

  describe('a connection that dies under a request (a kept-alive socket the node had just closed)', () => {
    // A TCP proxy to the node that, while armed, reads a request's first bytes and then closes the connection unanswered.
    let proxy: NetServer
    let url = ''
    let dropNext = 0
    const sockets = new Set<Socket>()
    beforeAll(async () => {
      const target = new URL(node.apiUrl)
      proxy = createNetServer((client) => {
        sockets.add(client)
        client.on('close', () => sockets.delete(client))
        if (dropNext > 0) {
          dropNext--
          client.once('data', () => client.destroy())
          return
        }
        const upstream = connect(Number(target.port), target.hostname)
        client.pipe(upstream).pipe(client)
        client.on('error', () => upstream.destroy())
        client.on('close', () => upstream.destroy())
        upstream.on('error', () => client.destroy())
      })
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    })
    // The node keeps idle keep-alive sockets for a minute: close the proxied ones rather than wait for them.
    afterAll(
      () =>
        new Promise<void>((resolve) => {
          proxy.close(() => resolve())
          for (const s of sockets) s.destroy()
        }),
    )

    it('sends a content-addressed upload again and gets its root; a job submission is not sent twice', async () => {
      const client = createApiClient({ url })
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 31) % 251)
      dropNext = 1
      const root = await client.storeAddFile(bytes, { name: 'retried' })
      expect(dropNext).toBe(0)
      expect(root.size).toBe(300_000)
      expect((await createApiClient({ url: node.apiUrl }).storeStat(root.cid)).missing).toBe(0)
      // A submission is not idempotent: the dead connection is the caller's to judge, and no job was made.
      const before = (await client.jobs()).jobs.length
      dropNext = 1
      await expect(client.submitJob({ rounds: 1 })).rejects.toMatchObject({ name: 'NodeNotRunningError' })
      expect((await client.jobs()).jobs.length).toBe(before)
      // A stream body cannot be sent again.
      dropNext = 1
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes)
          c.close()
        },
      })
      await expect(client.storeAddFile(stream, { size: bytes.byteLength })).rejects.toMatchObject({ name: 'NodeNotRunningError' })
    })
  })

  describe('a server that answers malformed views', () => {
    let body = ''
    let server: Server
    let url = ''
    beforeAll(async () => {
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(body)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

    it('names the field that has the wrong type', async () => {
      const real = (await (await fetch(`${node.apiUrl}/v1/node`)).json()) as { resources: { cpu: Record<string, unknown> } }
      real.resources.cpu['cores'] = 'eight'
      body = JSON.stringify(real)
      const err = await createApiClient({ url }).node().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MalformedResponseError)
      expect(err).toMatchObject({ name: 'MalformedResponseError', field: 'resources.cpu.cores', request: 'GET /v1/node' })
      expect((err as Error).message).toContain("field 'resources.cpu.cores'")
      expect((err as Error).message).toMatch(/expected number/)
    })

    it('names a missing field inside a list', async () => {
      body = JSON.stringify({ peers: [{ peerId: 'x', status: 'alive' }] })
      await expect(createApiClient({ url }).peers()).rejects.toMatchObject({ name: 'MalformedResponseError', field: 'peers[0].goneReason' })
    })

    it('refuses a body that is not JSON', async () => {
      body = '<html>proxy error</html>'
      await expect(createApiClient({ url }).mesh()).rejects.toMatchObject({ name: 'MalformedResponseError', field: '' })
    })

    it('refuses an event without its payload', async () => {
      body = JSON.stringify({ status: 'running', events: [{ seq: 1, at: 0, type: 'job-submitted', message: 'm' }] })
      await expect(createApiClient({ url }).jobEvents('j', 0)).rejects.toMatchObject({ name: 'MalformedResponseError', field: 'events[0].data' })
    })
  })
})
