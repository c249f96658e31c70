// store.serveBytesPerSecond (issue 16): a capped node serves blocks at about its rate. Only a lower bound on the time
// is asserted (machines are noisy).
import { randomBytes } from 'node:crypto'
import { addFile } from '@weft/store'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const nodes: TestNode[] = []
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  removeTestDirs()
})

describe('store.serveBytesPerSecond', () => {
  it('a node capped at 1 MiB/s takes at least (bytes - one second of burst) / rate to serve a 4 MiB file', async () => {
    const rate = 1024 * 1024
    const capped = await startTestNode({ store: { serveBytesPerSecond: rate } as never })
    const fetcher = await startTestNode()
    nodes.push(capped, fetcher)
    await fetcher.mesh.libp2p.dial(capped.mesh.libp2p.getMultiaddrs()[0]!)
    await until(() => fetcher.mesh.libp2p.getPeers().some((p) => p.toString() === capped.peerId), 10_000, 'a connection')
    const bytes = 4 * 1024 * 1024
    const root = (await addFile([new Uint8Array(randomBytes(bytes))], capped.store!)).cid
    await capped.blockExchange!.announce(root)

    const t0 = performance.now()
    const result = await fetcher.blockExchange!.fetch(root, { providers: [capped.peerId] })
    const seconds = (performance.now() - t0) / 1000
    expect(result.ok).toBe(true)
    expect(result.bytes).toBeGreaterThanOrEqual(bytes)
    // One second's worth goes at once (the burst); the rest at the rate: 3 s at least, 2.5 s allowing for rounding.
    expect(seconds).toBeGreaterThanOrEqual(2.5)
  }, 60_000)

  it('refuses a negative rate in the config', async () => {
    await expect(startTestNode({ store: { serveBytesPerSecond: -1 } as never })).rejects.toThrow(/serveBytesPerSecond/)
  })
})
