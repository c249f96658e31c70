// Node configuration: defaults, and invalid input rejected with every problem named.
import { parseNodeConfig } from '@weft/node'
import { describe, expect, it } from 'vitest'

describe('node configuration', () => {
  it('fills defaults: TCP and WebSockets listeners, loopback API, ad timing', () => {
    const config = parseNodeConfig({ dataDir: '/tmp/weft-x' })
    expect(config.listen).toEqual(['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws'])
    expect(config.api).toEqual({ host: '127.0.0.1', port: 0, dashboard: true })
    expect(config.telemetry).toEqual({ intervalMs: 2_000 })
    expect(config.ads.ttlMs).toBeGreaterThan(config.ads.intervalMs)
  })

  it('edge and browser settings: low-memory mode, the /join page and the disconnect grace are off or 5 s by default', () => {
    const config = parseNodeConfig({ dataDir: '/tmp/weft-x' })
    expect(config.lowMemory).toBe(false)
    expect(config.join).toEqual({ enabled: false })
    expect(config.fl.disconnectGraceMs).toBe(5_000)
    const edge = parseNodeConfig({ dataDir: '/tmp/weft-x', lowMemory: true, join: { enabled: true }, fl: { disconnectGraceMs: 0 } })
    expect([edge.lowMemory, edge.join.enabled, edge.fl.disconnectGraceMs]).toEqual([true, true, 0])
    expect(() => parseNodeConfig({ dataDir: '/tmp/weft-x', join: { enabled: true, open: 1 } })).toThrow(/join/)
  })

  it('names each invalid field with what was expected', () => {
    expect(() =>
      parseNodeConfig({
        dataDir: '/tmp/x',
        listen: ['tcp://nope'],
        bootstrap: ['/ip4/1.2.3.4/tcp/1'],
        ads: { intervalMs: 5000, ttlMs: 1000 },
        datasets: [{ name: 'a', source: 'table.csv' }],
        bogus: 1,
      }),
    ).toThrowError(
      expect.objectContaining({
        name: 'ConfigError',
        message: expect.stringMatching(/listen\.0[\s\S]*bootstrap\.0: bootstrap addresses must end in \/p2p\/[\s\S]*ads: ads\.ttlMs must exceed[\s\S]*datasets\.0: a CSV source needs label[\s\S]*bogus/),
      }),
    )
  })

  it('fl.aggregator labels the node with its site and as its aggregator, and refuses another site label', () => {
    const config = parseNodeConfig({ dataDir: '/tmp/weft-x', labels: { tier: 'edge' }, fl: { aggregator: { site: 'tucson' } } })
    expect(config.labels).toEqual({ tier: 'edge', site: 'tucson', 'fl-aggregator': 'tucson' })
    expect(config.fl.aggregator).toEqual({ site: 'tucson', maxMembers: 1024 })
    expect(parseNodeConfig({ dataDir: '/tmp/weft-x' }).fl.aggregator).toBeUndefined()
    expect(() => parseNodeConfig({ dataDir: '/tmp/weft-x', labels: { site: 'phoenix' }, fl: { aggregator: { site: 'tucson' } } })).toThrow(
      /fl\.aggregator\.site: "tucson" differs from labels\.site "phoenix"/,
    )
    expect(() => parseNodeConfig({ dataDir: '/tmp/weft-x', fl: { aggregator: { site: '' } } })).toThrow(/fl\.aggregator\.site/)
  })

  it('accepts a partitioned Fashion-MNIST data set and rejects a part outside the partition', () => {
    const ok = parseNodeConfig({
      dataDir: '/tmp/x',
      datasets: [{ name: 'fm', source: 'fashion-mnist', partition: { scheme: 'dirichlet', alpha: 0.5, clients: 10, part: 3 } }],
    })
    expect(ok.datasets[0]?.partition?.seed).toBe(1)
    expect(() =>
      parseNodeConfig({ dataDir: '/tmp/x', datasets: [{ name: 'fm', source: 'fashion-mnist', partition: { scheme: 'iid', clients: 2, part: 2 } }] }),
    ).toThrowError(/datasets\.0\.partition: part must be < clients/)
  })

  it('store.replicas is closed by default, and an allow-list must name someone', () => {
    expect(parseNodeConfig({ dataDir: '/tmp/x' }).store.replicas).toEqual({ accept: 'none', from: [], maxReplicaBytes: 1024 ** 3, repairIntervalMs: 60_000 })
    expect(() => parseNodeConfig({ dataDir: '/tmp/x', store: { replicas: { accept: 'allow-list' } } })).toThrowError(/store\.replicas\.from must name peers or roles/)
    expect(() => parseNodeConfig({ dataDir: '/tmp/x', store: { replicas: { accept: 'anyone' } } } as never)).toThrowError(/store\.replicas\.accept/)
  })
})
