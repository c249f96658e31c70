// Browser tabs beyond training (issue 20, deliverable 1), in Debian's chromium against one node started with --join:
// - the engine choice: a tab opened with `?engine=webgpu` where the browser offers no WebGPU adapter says why on the
//   page and trains on WebAssembly (training on WebGPU itself is not tested here: this machine has no GPU, and on
//   Chromium's SwiftShader adapter tfjs-webgpu's first upload in the worker fails; see docs/ARCHITECTURE.md);
// - WebRTC between tabs: tab B dials tab A's `/p2p-circuit/webrtc` address from the /join page; the offer and answer
//   cross the node's relay, then the tabs hold a direct WebRTC connection, over which B fetches and verifies A's
//   signed ad (Weft's RPC). With the node stopped, the tabs still talk: B asks A again over WebRTC alone.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalNode, startLocalNode } from '@weft/cli'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS, requirement } from './requirements.js'

const browserAvailable = await requirement('chromium', 'browser tabs: engine choice and WebRTC')
const SHOTS = join(process.cwd(), 'test-results', 'browser')

describe.skipIf(!browserAvailable.available)(`browser tabs: engine choice and WebRTC${browserAvailable.note}`, () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-browser-tabs-'))
  let node: LocalNode | undefined
  let browser: Browser
  const pageErrors: string[] = []

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    writeFileSync(join(root, 'weft.json'), JSON.stringify({ dataDir: root, fl: { participate: false } }))
    node = await startLocalNode({
      startTimeoutMs: 60_000,
      dataDir: root,
      args: ['--join', '--no-probe', '--log-level', 'warn', '--ad-interval', '1000', '--ad-ttl', '10000', '--config', join(root, 'weft.json')],
    })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Host ICE candidates as addresses, not mDNS names: this machine answers no multicast DNS.
      args: [...CHROMIUM_ARGS, '--disable-features=WebRtcHideLocalIpsWithMdns'],
    })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  const openTab = async (query = ''): Promise<Page> => {
    const page = await (await browser.newContext()).newPage()
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${node?.api.url}/join/${query}`)
    await page.locator('body[data-ready="true"]').waitFor({ timeout: 60_000 })
    return page
  }
  const row = (page: Page, peer: string, transport: string) => page.locator(`#connections tr[data-peer="${peer}"][data-transport="${transport}"]`)

  it('a tab that asks for WebGPU where the browser has no adapter says why and trains on wasm', { timeout: 120_000 }, async () => {
    const page = await openTab('?engine=webgpu')
    expect(await page.locator('#engine').textContent()).toBe('tfjs wasm, 1 thread (webgpu backend unavailable: WebGPU has no adapter here)')
    // Without the parameter: wasm, nothing to explain.
    expect(await (await openTab()).locator('#engine').textContent()).toBe('tfjs wasm, 1 thread')
    await page.context().close()
  })

  it('tab B reaches tab A over WebRTC signalled through the node, and keeps talking to it once the node is gone', { timeout: 240_000 }, async () => {
    const [tabA, tabB] = [await openTab(), await openTab()]
    const [peerA, peerB] = (await Promise.all([tabA, tabB].map(async (p) => (await p.locator('#peer-id').textContent()) as string))) as [string, string]
    // Tab A's direct address: its relay slot on the node, then WebRTC to A itself.
    const address = tabA.locator('#webrtc-address', { hasText: '/p2p-circuit/webrtc/p2p/' })
    await address.waitFor({ timeout: 60_000 })
    const direct = (await address.textContent()) as string
    expect(direct).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${node?.peerId}/p2p-circuit/webrtc/p2p/${peerA}$`))

    await tabB.getByLabel('Its direct address').fill(direct)
    await tabB.locator('#peer-form').getByRole('button', { name: 'Connect' }).click()
    const connected = tabB.locator('#log li', { hasText: `connected to ${peerA.slice(-8)} over webrtc: a browser holding` })
    // What tab B logged says why when it did not connect.
    // Up to two dials of 30 s each (the first can time out on a loaded machine), within connect's 80 s.
    await connected.first().waitFor({ timeout: 100_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\ntab B logged:\n${await tabB.locator('#log').textContent()}`)
    })
    // Both sides list the other over WebRTC.
    await row(tabB, peerA, 'webrtc').waitFor({ timeout: 10_000 })
    await row(tabA, peerB, 'webrtc').waitFor({ timeout: 10_000 })
    await tabB.screenshot({ path: join(SHOTS, 'join-webrtc.png'), fullPage: true })

    // The node goes away: the relay that carried the signalling with it. The tabs' WebRTC connection stays, and B's
    // second request for A's signed ad travels over it alone.
    await node?.stop()
    node = undefined
    await tabB.locator('#connections tr[data-transport="websockets"]').waitFor({ state: 'detached', timeout: 30_000 })
    await row(tabB, peerA, 'webrtc').waitFor({ timeout: 10_000 })
    await tabB.locator('#peer-form').getByRole('button', { name: 'Connect' }).click()
    await expect.poll(() => connected.count(), { timeout: 30_000 }).toBe(2)
    expect(await tabB.locator('#log').textContent()).not.toMatch(/could not connect/)
    expect(pageErrors).toEqual([])
  })
})
