// The web dashboard end to end in a real browser: three node processes on 127.0.0.1, Debian's chromium driven by
// playwright-core. The mesh view shows the three nodes; a job submitted from the page learns while its accuracy
// chart gains points, without a reload; a bad spec gets its reason and a waiting job is cancelled from the page;
// a private job shows its privacy budget and secure aggregation; the Compute page shows an orchestrated batch job
// (placements, tasks, log) and verifies the node's ledger; the page logs no errors. Screenshots go to
// test-results/dashboard/.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'
import { CHROMIUM, CHROMIUM_ARGS, requirement } from './requirements.js'

const browserAvailable = await requirement('chromium', 'the dashboard in a real browser')
const SHOTS = join(process.cwd(), 'test-results', 'dashboard')
const TIMING = ['--ad-interval', '1000', '--ad-ttl', '10000', '--no-probe', '--log-level', 'warn']

// Each round trains long enough (a few hundred ms) that the page sees the chart grow round by round.
const JOB_YAML = `name: browser-test
model: { architecture: logreg, inputShape: [4], numClasses: 2 }
dataset: synth
rounds: 8
clients: { min: 2 }
train: { epochs: 20, batchSize: 8, optimizer: { kind: sgd, lr: 0.1 } }
evaluation: { centralized: { dataset: synth-test } }
timeouts: { roundSeconds: 60, waitSeconds: 60 }
seed: 3
`

// Debian's chromium is installed by .ci/run; a developer machine without it skips this file rather than failing.
describe.skipIf(!browserAvailable.available)(`the web dashboard in a real browser${browserAvailable.note}`, () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-dash-e2e-'))
  const nodes: LocalNode[] = []
  let coordinator: LocalNode
  let browser: Browser
  let page: Page
  const consoleErrors: string[] = []

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true })
    const cdir = join(root, 'coordinator')
    mkdirSync(cdir, { recursive: true })
    writeSyntheticCsv(join(root, 'test.csv'), 400, 99)
    writeFileSync(
      join(cdir, 'weft.json'),
      JSON.stringify({ dataDir: cdir, labels: { tier: 'dc' }, fl: { participate: false }, datasets: [{ name: 'synth-test', source: join(root, 'test.csv'), label: 'label' }] }),
    )
    coordinator = await startLocalNode({ startTimeoutMs: 60_000, dataDir: cdir, args: [...TIMING, '--config', join(cdir, 'weft.json')] })
    nodes.push(coordinator)
    const bootstrap = coordinator.addrs[0]!
    const clients = await Promise.all(
      [0, 1].map(async (i) => {
        const dir = join(root, `client-${i}`)
        mkdirSync(dir, { recursive: true })
        writeSyntheticCsv(join(dir, 'train.csv'), 300, i + 1)
        writeFileSync(
          join(dir, 'weft.json'),
          JSON.stringify({ dataDir: dir, labels: { tier: 'edge' }, datasets: [{ name: 'synth', source: join(dir, 'train.csv'), label: 'label' }] }),
        )
        return startLocalNode({ startTimeoutMs: 60_000, dataDir: dir, args: [...TIMING, '--config', join(dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId] })
      }),
    )
    nodes.push(...clients)
    await waitUntil(
      async () => (await coordinator.api.peers('alive')).filter((p) => p.ad.datasets.some((d) => d.name === 'synth')).length === 2,
      60_000,
      'the coordinator to see both clients with their data',
      200,
    )
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS],
    })
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text())
    })
    page.on('pageerror', (err) => consoleErrors.push(err.message))
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await Promise.all(nodes.map((n) => n.stop()))
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('shows the three nodes of the mesh and the connections between them', async () => {
    await page.goto(`${coordinator.api.url}/#/mesh`)
    await page.locator('tr[data-peer]').nth(2).waitFor({ timeout: 30_000 })
    const rows = await page.locator('tr[data-peer]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-peer')))
    expect(rows.sort()).toEqual(nodes.map((n) => n.peerId).sort())
    const graph = page.getByTestId('mesh-graph')
    await waitUntil(async () => (await graph.getAttribute('data-nodes')) === '3', 10_000, 'three nodes in the graph')
    await waitUntil(async () => Number(await graph.getAttribute('data-edges')) >= 2, 20_000, 'the two client connections as edges')
    await page.screenshot({ path: join(SHOTS, 'mesh.png'), fullPage: true })
  })

  it('the Storage page lists the roots: sizes, pinned, announced (served) or private', async () => {
    const shared = await coordinator.api.storeAddFile(new Uint8Array(1_500_000).fill(7), { name: 'shared.bin', announce: true })
    const secret = await coordinator.api.storeAddFile(new Uint8Array(2_000).fill(9), { name: 'secret.bin' })
    await page.goto(`${coordinator.api.url}/#/storage`)
    const row = (cid: string) => page.locator(`tr[data-cid="${cid}"]`)
    await row(secret.cid).waitFor({ timeout: 15_000 })
    expect(await row(shared.cid).textContent()).toMatch(/shared\.bin[\s\S]*file[\s\S]*1\.4\d* MiB[\s\S]*pinned[\s\S]*served/)
    expect(await row(secret.cid).textContent()).toMatch(/secret\.bin[\s\S]*pinned[\s\S]*private/)
    await page.screenshot({ path: join(SHOTS, 'storage.png'), fullPage: true })
  })

  it('the Inference page shows which servers cover which blocks of a model, and the blocks no server covers', async () => {
    const bytes = readFileSync(KJV_LM_PATH)
    const { cid } = await coordinator.api.storeAddFile(new Blob([bytes]), { name: 'kjv-lm.safetensors', announce: true })
    const [other] = nodes.filter((n) => n !== coordinator) as [LocalNode]
    await coordinator.api.serveModel({ model: cid, blocks: [0, 2] })
    await other.api.serveModel({ model: cid, blocks: [2, 3] })
    await page.goto(`${coordinator.api.url}/#/inference`)
    const table = page.locator(`[data-model="${cid}"] table`)
    await table.locator(`tr[data-peer="${other.peerId}"]`).waitFor({ timeout: 20_000 })
    const covered = async (peer: string) => table.locator(`tr[data-peer="${peer}"] td.cell-on`).count()
    expect(await covered(coordinator.peerId)).toBe(2)
    expect(await covered(other.peerId)).toBe(1)
    // Block 3 has no server: the coverage row says 0 for it.
    expect((await table.locator('tr.coverage-row').textContent())?.replace(/\s+/g, ' ')).toMatch(/servers per block ?1 ?1 ?1 ?0/)
    await page.screenshot({ path: join(SHOTS, 'inference.png'), fullPage: true })
  })

  it('the Swarms page shows a swarm two clients train: progress, members, the per-step chart', { timeout: 90_000 }, async () => {
    const [a, b] = nodes.filter((n) => n !== coordinator) as [LocalNode, LocalNode]
    const spec = {
      name: 'dashboard-swarm',
      model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
      dataset: 'synth',
      evaluation: { dataset: 'synth', every: 1 },
      inner: { batchSize: 8, optimizer: { kind: 'adamw', lr: 0.05 } },
      targetSamples: 2 * 8 * 4,
      totalSamples: 2 * 8 * 4 * 6,
      minPeers: 2,
    }
    const [started] = await Promise.all([a.api.startSwarm(spec), b.api.startSwarm(spec)])
    const id = started.id
    await waitUntil(async () => (await a.api.swarm(id)).state === 'done', 60_000, 'the swarm to finish', 300)
    await page.goto(`${a.api.url}/#/swarms`)
    const card = page.locator(`[data-swarm="${id}"]`)
    await card.waitFor({ timeout: 15_000 })
    expect((await card.textContent())?.replace(/\s+/g, ' ')).toMatch(/Swarm samples [\d,]+ of 384/)
    expect(await page.locator('.card', { has: card }).textContent()).toMatch(/dashboard-swarm · outer step 6\/6[\s\S]*done/)
    // The other client is in the members table, and the chart has drawn.
    expect(await card.locator(`[data-testid="swarm-members"] tr`).count()).toBeGreaterThanOrEqual(2)
    expect(await card.getByTitle(b.peerId).count()).toBe(1)
    expect(await card.locator('canvas').count()).toBeGreaterThan(0)
    await page.screenshot({ path: join(SHOTS, 'swarms.png'), fullPage: true })
  })

  it('submits, follows and cancels jobs from the page: the accuracy chart gains points as rounds finish', { timeout: 180_000 }, async () => {
    await page.goto(`${coordinator.api.url}/#/jobs`)
    await page.getByTestId('spec').fill(JOB_YAML)
    await page.getByTestId('submit-job').click()
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: 30_000 })
    const id = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''))
    expect((await coordinator.api.job(id)).name).toBe('browser-test')

    const chart = page.getByTestId('accuracy-chart')
    const points = async () => Number((await chart.getAttribute('data-points')) ?? 0)
    // Live: the chart grows while the page stays open (no reload), once per finished round.
    const seen = new Set<number>()
    await waitUntil(
      async () => {
        seen.add(await points())
        return (await page.getByTestId('job-status').textContent())?.includes('finished') === true
      },
      150_000,
      'the job to finish on the page',
      100,
    )
    const values = [...seen].filter((n) => n > 0).sort((a, b) => a - b)
    expect(values.length).toBeGreaterThanOrEqual(2)
    expect(await points()).toBe(8)
    expect(await page.locator('tr[data-round]').count()).toBe(8)
    const view = await coordinator.api.job(id)
    expect(view.status).toBe('finished')
    expect(view.latest?.accuracy).toBeGreaterThan(0.8)
    await page.screenshot({ path: join(SHOTS, 'job.png'), fullPage: true })

    // A spec with a mistake gets the server's reason under the form; a job waiting for clients is cancelled from its page.
    await page.goto(`${coordinator.api.url}/#/jobs`)
    await page.getByTestId('spec').fill(JOB_YAML.replace('rounds: 8', 'rounds: none'))
    await page.getByTestId('submit-job').click()
    await expect.poll(async () => page.getByRole('alert').textContent(), { timeout: 10_000 }).toMatch(/rounds/)
    await page.getByTestId('spec').fill(JOB_YAML.replace('clients: { min: 2 }', 'clients: { min: 5 }'))
    await page.getByTestId('submit-job').click()
    await page.waitForURL(/#\/jobs\/[^/]+$/, { timeout: 30_000 })
    const waiting = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''))
    await page.getByTestId('cancel-job').click()
    await expect.poll(async () => page.getByTestId('job-status').textContent(), { timeout: 15_000 }).toMatch(/cancelled/)
    expect((await coordinator.api.job(waiting)).status).toBe('cancelled')
    // The failed submission above logged its 400 in the console, as browsers do; nothing else may.
    consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !/status of 400/.test(e)))

    await page.goto(`${coordinator.api.url}/#/node`)
    await page.waitForTimeout(2_500)
    await page.screenshot({ path: join(SHOTS, 'node.png'), fullPage: true })
    expect(consoleErrors).toEqual([])
  })

  it('shows a private job: the privacy budget spent and the secure aggregation of its rounds', { timeout: 120_000 }, async () => {
    const { id } = await coordinator.api.submitJob({
      name: 'private',
      model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
      dataset: 'synth',
      rounds: 3,
      clients: { min: 2 },
      train: { epochs: 5, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 } },
      privacy: { dp: { mode: 'client', clipNorm: 5, noiseMultiplier: 0.5, delta: 1e-5 }, secureAggregation: { dropoutRate: 0, clip: 5 } },
      timeouts: { roundSeconds: 60, waitSeconds: 60 },
    })
    await page.goto(`${coordinator.api.url}/#/jobs/${encodeURIComponent(id)}`)
    await expect.poll(async () => page.getByTestId('job-status').textContent(), { timeout: 90_000 }).toMatch(/finished/)
    const view = await coordinator.api.job(id)
    const epsilon = view.history.at(-1)?.metrics?.privacy?.epsilon
    expect(epsilon).toBeGreaterThan(0)
    await expect.poll(async () => page.getByTestId('privacy').textContent(), { timeout: 10_000 }).toContain(`ε = ${epsilon?.toFixed(3)}`)
    await expect.poll(async () => page.getByText('Secure aggregation').count(), { timeout: 10_000 }).toBeGreaterThan(0)
    await page.screenshot({ path: join(SHOTS, 'job-private.png'), fullPage: true })
    expect(consoleErrors).toEqual([])
  })

  it('the Compute page lists an orchestrated batch job with its placements, tasks and log, and this node\'s ledger head', { timeout: 120_000 }, async () => {
    const url = coordinator.api.url
    const submitted = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-weft-request': '1' },
      body: JSON.stringify({
        spec: {
          kind: 'batch',
          name: 'dash',
          resources: { cores: 0.5, memory: '64MiB' },
          // One task on a fiftieth of the test set (a grid of one point: `items` would add params.item, which stats refuses).
          batch: { task: 'stats', params: { source: 'fashion-mnist', split: 'test' }, grid: { shard: [{ index: 0, count: 50 }] }, quorum: 1 },
        },
      }),
    })
    expect(submitted.status).toBe(201)
    const { id } = (await submitted.json()) as { id: string }
    type Placement = { name: string; peerId: string | null }
    const job = async () => (await (await fetch(`${url}/v1/jobs/${encodeURIComponent(id)}`)).json()) as { state: string; placements: Placement[] }
    await waitUntil(async () => (await job()).state === 'done', 90_000, 'the batch job to be done', 300)
    const [placement] = (await job()).placements as [Placement]
    expect(placement.peerId).not.toBeNull()

    await page.goto(`${url}/#/compute`)
    const row = page.locator(`tr[data-compute-job="${id}"]`)
    await row.waitFor({ timeout: 15_000 })
    expect(await row.locator('th').textContent()).toMatch(/^dash/)
    // Kind, state, placements placed/total, tasks accepted/total, replication, cost, reschedules, submitted.
    expect((await row.locator('td').allTextContents()).slice(0, 5)).toEqual(['batch', 'done', '1/1', '1/1', '×1.00'])
    // Selecting is a link: the keyboard reaches it and Enter opens the job.
    await row.getByRole('link', { name: 'dash' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(/#\/compute\/[^/]+$/, { timeout: 10_000 })
    const placements = page.getByTestId('job-placements')
    await placements.waitFor({ timeout: 10_000 })
    const placementRow = placements.locator(`tr[data-placement="${placement.name}"]`)
    expect(await placementRow.getByTitle(placement.peerId!).count()).toBe(1)
    expect(await placementRow.textContent()).toMatch(/done/)
    expect(await page.getByTestId('job-tasks').locator('tr[data-task]').textContent()).toMatch(/accepted/)
    await expect.poll(async () => page.getByTestId('job-log').locator('li').count(), { timeout: 10_000 }).toBeGreaterThan(0)

    // The ledger head shown is the node's, and the verify button checks the chain.
    const ledger = (await (await fetch(`${url}/v1/ledger`)).json()) as { head: { seq: number; hash: string } }
    const head = page.getByTestId('ledger-head')
    await expect.poll(async () => Number(await head.getAttribute('data-seq')), { timeout: 10_000 }).toBe(ledger.head.seq)
    expect(await head.textContent()).toContain(ledger.head.hash)
    await page.getByTestId('verify-ledger').click()
    await expect.poll(async () => page.getByTestId('ledger-verdict').textContent(), { timeout: 15_000 }).toMatch(/verified \d+ entries/)
    expect(await page.getByTestId('work-offer').textContent()).toMatch(/Cores.*reserved/)
    await page.evaluate('window.scrollTo(0, 0)')
    await page.screenshot({ path: join(SHOTS, 'compute.png'), fullPage: true })

    // Another node lists the job among those of other owners, from the owner's announcements.
    const [other] = nodes.filter((n) => n !== coordinator) as [LocalNode]
    await page.goto(`${other.api.url}/#/compute`)
    const heard = page.locator(`tr[data-known-job="${id}"]`)
    await heard.waitFor({ timeout: 20_000 })
    expect(await heard.getByTitle(coordinator.peerId).count()).toBe(1)
    expect(consoleErrors).toEqual([])
  })
})
