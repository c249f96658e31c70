// The `weft` command as a user runs it: train and partition on real Fashion-MNIST (--json), and bad input.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startLocalNode } from '@weft/cli'
import { loadFashionMnist } from '@weft/data/node'
import { decodeModelArtifact } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { afterAll, describe, expect, it } from 'vitest'
import { torchAvailable } from '../packages/runtime-torch/test/available.js'
import { requirement } from './requirements.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const weft = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })
const fashionMnist = await requirement('fashion-mnist', 'weft on real Fashion-MNIST')
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// The data set ships with npm install (@weft/dataset-fashion-mnist); a checkout without it skips these.
describe.skipIf(!fashionMnist.available)(`weft on real Fashion-MNIST${fashionMnist.note}`, () => {
  it('weft train --json learns logistic regression and saves a model artifact', async () => {
    const out = join(dir, 'logreg.weft')
    const { stdout } = await weft('train', '--model', 'logreg', '--epochs', '1', '--limit', '6000', '--test-limit', '2000', '--json', '--out', out)
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({ model: 'logreg', params: 7850, trainExamples: 6000, testExamples: 2000, epochs: 1 })
    // Ten classes: chance is 10%; one epoch of logistic regression on 6,000 images gets far above it.
    expect(result.testAccuracy).toBeGreaterThan(0.6)
    const artifact = decodeModelArtifact(new Uint8Array(readFileSync(out)))
    expect(artifact.params.map((p) => p.name)).toHaveLength(2)
    expect(artifact.weights.length).toBe(7850)
    expect(artifact.id).toMatch(/^[0-9a-f]{64}$/)
  })

  it.skipIf(!torchAvailable)('weft train --runtime torch trains a CNN whose artifact tfjs evaluates the same', async () => {
    const out = join(dir, 'lenet.weft')
    const { stdout } = await weft(
      'train', '--model', 'cnn-lenet', '--runtime', 'torch', '--device', 'cpu', '--threads', '1',
      '--epochs', '1', '--limit', '6000', '--test-limit', '1000', '--optimizer', 'adam', '--json', '--out', out,
    )
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({ model: 'cnn-lenet', engine: 'torch', backend: 'cpu', trainExamples: 6000, testExamples: 1000 })
    expect(result.testAccuracy).toBeGreaterThan(0.7)
    // The saved model means the same thing to the default engine.
    const artifact = decodeModelArtifact(new Uint8Array(readFileSync(out)))
    const rt = await tfjsRuntime({ backend: 'wasm' })
    const model = await rt.createModel(artifact.spec)
    model.setParams(artifact.weights)
    const test = await loadFashionMnist({ split: 'test' })
    const ev = await model.evaluate(test.subset(Array.from({ length: 1000 }, (_, i) => i)))
    expect(ev.accuracy).toBeCloseTo(result.testAccuracy, 6)
    expect(ev.loss).toBeCloseTo(result.testLoss, 3)
    await rt.dispose()
  })

  it('weft data partition --json assigns every example once with the requested skew', async () => {
    const iid = JSON.parse((await weft('data', 'partition', '--clients', '5', '--iid', '--seed', '1', '--json')).stdout)
    const skewed = JSON.parse((await weft('data', 'partition', '--clients', '5', '--dirichlet', '0.1', '--seed', '1', '--json')).stdout)
    for (const p of [iid, skewed]) {
      expect(p.clientTotals.reduce((a: number, b: number) => a + b, 0)).toBe(60_000)
      expect(p.classTotals).toEqual(Array(10).fill(6000))
    }
    expect(skewed.skew.meanEntropy).toBeLessThan(iid.skew.meanEntropy - 0.5)
  })
})

describe('weft with bad input', () => {
  it('names the bad option and exits 1', async () => {
    await expect(weft('train', '--model', 'nope')).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/'nope' is invalid/) })
    await expect(weft('data', 'partition', '--clients', '0', '--iid')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/--clients must be a positive integer, got "0"/),
    })
  })

  it('says no node is running instead of failing obscurely', async () => {
    await expect(weft('status', '--data-dir', dir)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^weft: no node is running on .*weft node start --data-dir/),
    })
  })

  it('rejects an invalid config file with each problem named', async () => {
    const config = join(dir, 'bad.yaml')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(config, 'listen: [nope]\nads: { intervalMs: 5000, ttlMs: 10 }\n')
    await expect(weft('node', 'start', '--config', config, '--data-dir', join(dir, 'n'))).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/invalid node configuration:\n {2}listen\.0: [\s\S]*ads\.ttlMs: /),
    })
  })

  it('weft node start --aggregator needs the site it aggregates', async () => {
    await expect(weft('node', 'start', '--aggregator', '--data-dir', join(dir, 'aggregator'))).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--aggregator needs --site <name>'),
    })
  })

  it('weft node start --aggregator --site tucson advertises its site and that it aggregates it', async () => {
    const node = await startLocalNode({ dataDir: join(dir, 'aggregator-tucson'), args: ['--aggregator', '--site', 'tucson', '--no-probe'] })
    try {
      expect((await node.api.node()).labels).toEqual({ site: 'tucson', 'fl-aggregator': 'tucson' })
    } finally {
      await node.stop()
    }
  }, 60_000)

  it('weft demo stops before any process starts when it cannot run, with one message that says what to do', async () => {
    const demo = (env: Record<string, string>, ...args: string[]) =>
      run(process.execPath, [BIN, 'demo', '--exit', ...args], { env: { ...process.env, ...env }, maxBuffer: 1024 * 1024 })
    // No data set anywhere it may look: every place is listed, then the remedies; no stack trace, no nodes to stop.
    const homeless = { HOME: join(dir, 'empty-home'), WEFT_DATA_SEARCH: 'cache' }
    const noData = (await demo(homeless).catch((e: unknown) => e)) as { code: number; stderr: string }
    expect(noData.code).toBe(1)
    expect(noData.stderr).toMatch(/^weft: Fashion-MNIST \(train split\) not found\. Looked in:\n {2}- \$WEFT_DATA: not set\n/)
    expect(noData.stderr).toContain('the @weft/dataset-fashion-mnist package: skipped by WEFT_DATA_SEARCH')
    expect(noData.stderr).toContain('To fix it:')
    expect(noData.stderr).not.toMatch(/\n {4}at |stopping the/)
    // A data directory that cannot be made, and a port another program holds.
    const badDir = (await demo({}, '--dir', '/dev/null/weft').catch((e: unknown) => e)) as { code: number; stderr: string }
    expect(badDir).toMatchObject({ code: 1, stderr: expect.stringMatching(/^weft: cannot keep the nodes' data directories under \/dev\/null\/weft: .*--dir/) })
    const { createServer } = await import('node:net')
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as { port: number }).port
    try {
      const taken = (await demo({}, '--port', String(port)).catch((e: unknown) => e)) as { code: number; stderr: string }
      expect(taken).toMatchObject({ code: 1, stderr: `weft: port ${port} on 127.0.0.1 is already in use by another program. Choose another with --port <n>, or leave --port out to let the system pick a free one\n` })
    } finally {
      holder.close()
    }
  })
})

describe('weft status and weft peers', () => {
  it('ask the running node through the API client, loading neither the daemon nor libp2p', async () => {
    const node = await startLocalNode({ dataDir: join(dir, 'status-node'), args: ['--no-probe', '--log-level', 'warn'] })
    try {
      // A module hook that records every module the command loads.
      const loaded = join(dir, 'loaded.txt')
      const hook = join(dir, 'record-modules.mjs')
      const recorder = `import { appendFileSync } from 'node:fs'\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(loaded)}, url + '\\n'); return next(url, context) }`
      writeFileSync(hook, `import { register } from 'node:module'\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(recorder)}`)})\n`)
      const traced = (...args: string[]) => run(process.execPath, ['--import', hook, BIN, ...args, '--data-dir', node.dataDir, '--json'])
      const status = JSON.parse((await traced('status')).stdout) as { peerId: string }
      expect(status.peerId).toBe(node.peerId)
      expect(JSON.parse((await traced('peers')).stdout)).toEqual([])
      const urls = readFileSync(loaded, 'utf8').trim().split('\n')
      expect(urls.some((url) => url.includes('/api-client/'))).toBe(true)
      expect(urls.filter((url) => /libp2p|\/packages\/node\/|better-sqlite3/.test(url))).toEqual([])
    } finally {
      await node.stop()
    }
  })
})
