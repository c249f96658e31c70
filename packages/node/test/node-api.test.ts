// The control API: the shapes `weft status`/`weft peers` read, bad parameters, bearer auth beyond loopback, metrics.
import http from 'node:http'
import { afterAll, describe, expect, it } from 'vitest'
import { createNodeApiClient as createApiClient } from '@weft/api-client/node'
import type { NodeView } from '@weft/node'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'
import { requirement } from '../../../test/requirements.js'

const fashionMnist = await requirement('fashion-mnist', 'a node advertising a share of Fashion-MNIST')

describe('control API', () => {
  const nodes: TestNode[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  })

  it('serves the node view, peers, a single peer and Prometheus metrics on 127.0.0.1 without a token', async () => {
    const a = await startTestNode({ labels: { site: 'tucson', tier: 'dc' } })
    nodes.push(a)
    const b = await startTestNode({ bootstrap: [a.addrs[0]!], labels: { tier: 'edge' } })
    nodes.push(b)
    await until(() => a.peers.get(b.peerId)?.status === 'alive', 10_000, 'a to see b')
    const client = createApiClient({ apiUrl: a.apiUrl })
    const view: NodeView = await client.node()
    expect(view).toMatchObject({ peerId: a.peerId, labels: { site: 'tucson', tier: 'dc' }, privateNetwork: false, api: { authRequired: false } })
    expect(view.addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
    expect(view.connections.map((c) => c.peerId)).toContain(b.peerId)
    expect(view.resources.cpu.cores).toBeGreaterThan(0)
    const peers = await client.peers()
    expect(peers.map((p) => [p.peerId, p.status, p.connected, p.ad.labels])).toEqual([[b.peerId, 'alive', true, { tier: 'edge' }]])
    expect((await client.peer(b.peerId)).ad.peerId).toBe(b.peerId)
    const metrics = await client.metrics()
    expect(metrics).toMatch(/^weft_peers\{status="alive"\} 1$/m)
    expect(metrics).toMatch(/^weft_ads_received_total\{outcome="accepted"\} [1-9]/m)
    expect(metrics).toMatch(/^weft_process_resident_memory_bytes \d+/m)
    expect(metrics).toMatch(/^weft_rpc_duration_seconds_count\{protocol="\/weft\/rpc\/node\/1\.0\.0",method="ad",outcome="ok"\} [1-9]/m)
  })

  it('advertises the ML runtime with its measured matmul throughput once the probe has run', async () => {
    const a = nodes[0]!
    const probed = await startTestNode({ bootstrap: [a.addrs[0]!], runtime: { probe: true } })
    nodes.push(probed)
    // The engine is advertised from the first ad on; the probe then adds its throughput.
    await until(() => (a.peers.get(probed.peerId)?.ad.runtimes[0]?.matmulGflops ?? 0) > 0, 30_000, 'the probed runtime in the ad')
    const [offer] = a.peers.get(probed.peerId)!.ad.runtimes
    expect(offer).toMatchObject({ name: 'tfjs', device: 'cpu' })
    // A node that skips the probe still says which engines it runs.
    expect(a.peers.get(nodes[1]!.peerId)?.ad.runtimes.map((r) => [r.name, r.matmulGflops])).toEqual([['tfjs', 0]])
    expect(['wasm', 'cpu']).toContain(offer?.backend)
    expect(offer?.matmulGflops).toBeGreaterThan(0)
    expect((await createApiClient({ apiUrl: probed.apiUrl }).node()).resources.runtimes[0]?.matmulGflops).toBe(offer?.matmulGflops)
  })

  it.skipIf(!fashionMnist.available)(`advertises its local data sets: a seeded Dirichlet share of Fashion-MNIST${fashionMnist.note}`, { timeout: 90_000 }, async () => {
    const a = nodes[0]!
    const holder = await startTestNode({
      bootstrap: [a.addrs[0]!],
      datasets: [{ name: 'fm', source: 'fashion-mnist', partition: { scheme: 'dirichlet', alpha: 0.5, clients: 10, part: 3, seed: 1 } }],
    })
    nodes.push(holder)
    // Loading and partitioning 60,000 images takes a second on a quiet machine, far longer on a loaded one.
    await until(() => (a.peers.get(holder.peerId)?.ad.datasets.length ?? 0) > 0, 60_000, 'the data set in the ad')
    const view = (await createApiClient({ apiUrl: a.apiUrl }).peer(holder.peerId)).ad.datasets[0]
    expect(view).toMatchObject({ name: 'fm', featureShape: [28, 28, 1], numClasses: 10, schema: 'fashion-mnist train, dirichlet(0.5) part 4/10 seed 1' })
    expect(view?.examples).toBeGreaterThan(0)
    expect(view?.examples).toBeLessThan(60_000)
    expect(view?.bytes).toBe((view?.examples ?? 0) * 784)
  })

  it('keeps an idle client connection open past Node’s 5 s keep-alive, so a reused socket is not reset under it', async () => {
    const a = await startTestNode({})
    nodes.push(a)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = http.get(`${a.apiUrl}/v1/node`, { agent }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }))
        })
        req.on('error', reject)
      })
    expect(await get()).toEqual({ status: 200, reused: false })
    await new Promise((r) => setTimeout(r, 6_000))
    expect(await get()).toEqual({ status: 200, reused: true })
    agent.destroy()
  }, 30_000)

  it('answers bad parameters with 400 and a reason, unknown peers and routes with 404', async () => {
    const a = nodes[0]!
    const get = async (path: string) => {
      const res = await fetch(`${a.apiUrl}${path}`)
      return { status: res.status, body: (await res.json()) as { error: string; message: string } }
    }
    expect(await get('/v1/peers?status=zombie')).toEqual({
      status: 400,
      body: { error: 'bad-request', message: "status must be 'alive' or 'gone', got 'zombie'" },
    })
    expect((await get('/v1/peers/not-a-peer-id')).status).toBe(400)
    expect((await get(`/v1/peers/${a.peerId}?source=moon`)).body.message).toMatch(/source must be 'table' or 'dht'/)
    expect((await get(`/v1/peers/${a.peerId.replace(/.$/, 'x')}`)).status).toBe(404)
    expect((await get('/v2/anything')).status).toBe(404)
  })

  it('requires the bearer token from the data directory when bound beyond loopback', async () => {
    const node = await startTestNode({ api: { host: '0.0.0.0', port: 0 } })
    nodes.push(node)
    const port = new URL(node.apiUrl).port
    const url = `http://127.0.0.1:${port}`
    expect((await fetch(`${url}/v1/node`)).status).toBe(401)
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    // The client reads <data-dir>/api-token, as `weft status --data-dir` does.
    const client = createApiClient({ apiUrl: url, dataDir: node.config.dataDir })
    expect((await client.node()).api.authRequired).toBe(true)
    await expect(createApiClient({ apiUrl: url }).node()).rejects.toMatchObject({ name: 'ApiError', status: 401 })
  })
})
