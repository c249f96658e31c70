// `weft store …` as a user runs it, against a node running in this process: put (a file, a directory tree),
// get, ls, stat, export to a CAR and import it into a second node, pin, unpin and gc; bad input.
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode } from '../packages/node/test/helpers.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-store-'))

let node: TestNode
let other: TestNode
const weft = (target: TestNode, ...args: string[]) => run(process.execPath, [BIN, ...args, '--api', target.apiUrl], { maxBuffer: 16 * 1024 * 1024 })
const json = async (target: TestNode, ...args: string[]) => JSON.parse((await weft(target, ...args, '--json')).stdout)

function bytesOf(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

beforeAll(async () => {
  ;[node, other] = await Promise.all([startTestNode(), startTestNode()])
})
afterAll(async () => {
  await Promise.all([node?.stop(), other?.stop()])
  removeTestDirs()
  rmSync(dir, { recursive: true, force: true })
})

describe('weft store', () => {
  it('put prints the CID; get writes the same bytes; ls and stat show the root', async () => {
    const file = join(dir, 'model.weft')
    writeFileSync(file, bytesOf(2_500_000, 1))
    const { stdout } = await weft(node, 'store', 'put', file)
    const cid = stdout.trim()
    expect(cid).toMatch(/^bafy/)
    const out = join(dir, 'got.weft')
    expect(await json(node, 'store', 'get', cid, '--out', out)).toMatchObject({ cid, files: 1, bytes: 2_500_000 })
    expect(Buffer.compare(readFileSync(out), readFileSync(file))).toBe(0)
    const list = await json(node, 'store', 'ls')
    expect(list.roots).toContainEqual(expect.objectContaining({ cid, name: 'model.weft', kind: 'file', size: 2_500_000, pinned: true }))
    expect((await weft(node, 'store', 'ls')).stdout).toContain(cid)
    expect(await json(node, 'store', 'stat', cid)).toMatchObject({ cid, kind: 'file', blocks: 4, missing: 0 })
    expect((await weft(node, 'store', 'stat', cid)).stdout).toMatch(/missing {2}none: complete here/)
  })

  it('get fetches a root from the mesh when it is not complete here (put --announce on another node)', async () => {
    const file = join(dir, 'shared.weft')
    writeFileSync(file, bytesOf(2_200_000, 7))
    const cid = (await weft(node, 'store', 'put', file, '--announce')).stdout.trim()
    await other.mesh.libp2p.dial(node.mesh.libp2p.getMultiaddrs()[0] as Parameters<typeof other.mesh.libp2p.dial>[0])
    const out = join(dir, 'fetched.weft')
    const got = await json(other, 'store', 'get', cid, '--out', out)
    expect(got).toMatchObject({ cid, files: 1, bytes: 2_200_000, fetched: { ok: true, blocks: 4, badBlocks: 0, providers: [{ peer: node.peerId, blocks: 4 }] } })
    expect(Buffer.compare(readFileSync(out), readFileSync(file))).toBe(0)
    // Complete here now: a second get reads it locally.
    expect((await json(other, 'store', 'get', cid, '--out', out)).fetched).toBeUndefined()
  })

  it('put --recursive makes a directory one root, and get writes the tree back', async () => {
    const tree = join(dir, 'shards')
    mkdirSync(join(tree, 'part'), { recursive: true })
    writeFileSync(join(tree, 'a.bin'), bytesOf(1_100_000, 2))
    writeFileSync(join(tree, 'part', 'b.bin'), bytesOf(10, 3))
    await expect(weft(node, 'store', 'put', tree)).rejects.toMatchObject({ stderr: expect.stringMatching(/is a directory: put it with --recursive/) })
    const root = await json(node, 'store', 'put', tree, '--recursive')
    expect(root).toMatchObject({ kind: 'directory', name: 'shards', size: 1_100_010, pinned: true })
    const out = join(dir, 'shards-back')
    expect(await json(node, 'store', 'get', root.cid, '--out', out)).toMatchObject({ files: 2, bytes: 1_100_010 })
    expect(Buffer.compare(readFileSync(join(out, 'a.bin')), bytesOf(1_100_000, 2))).toBe(0)
    expect(Buffer.compare(readFileSync(join(out, 'part', 'b.bin')), bytesOf(10, 3))).toBe(0)
  })

  it('export writes a CAR that import on another node reads back to the same CID and bytes', async () => {
    const file = join(dir, 'weights.bin')
    writeFileSync(file, bytesOf(1_600_000, 4))
    const cid = (await weft(node, 'store', 'put', file)).stdout.trim()
    const car = join(dir, 'weights.car')
    expect(await json(node, 'store', 'export', cid, '--car', car)).toMatchObject({ cid, path: car })
    const imported = await json(other, 'store', 'import', car)
    expect(imported.roots.map((r: { cid: string }) => r.cid)).toEqual([cid])
    const out = join(dir, 'weights-back.bin')
    await weft(other, 'store', 'get', cid, '--out', out)
    expect(Buffer.compare(readFileSync(out), readFileSync(file))).toBe(0)
  })

  it('unpin then gc frees a root’s blocks; pin of what is gone says it is incomplete', async () => {
    const file = join(dir, 'tmp.bin')
    writeFileSync(file, bytesOf(300_000, 5))
    const cid = (await weft(other, 'store', 'put', file)).stdout.trim()
    expect(await json(other, 'store', 'unpin', cid)).toMatchObject({ cid, pinned: false })
    const gc = await json(other, 'store', 'gc')
    expect(gc.removedBlocks).toBe(1)
    await expect(weft(other, 'store', 'pin', cid)).rejects.toMatchObject({ stderr: expect.stringMatching(/not complete in this store/) })
    await expect(weft(other, 'store', 'stat', 'nonsense')).rejects.toMatchObject({ stderr: expect.stringMatching(/not a usable CID/) })
  })

  it('model publish puts a federated job’s model into the store and prints its CID', async () => {
    // A job waiting for clients already holds its initial model (round 0).
    const job = node.fl.submit({
      model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
      dataset: 'synth',
      rounds: 1,
      clients: { min: 2 },
      train: { epochs: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.01 } },
      timeouts: { roundSeconds: 60, waitSeconds: 60 },
    })
    try {
      const published = await json(node, 'model', 'publish', job.id, '--round', '0')
      expect(published).toMatchObject({ job: job.id, round: 0, name: `${job.id}-round-0.weft`, kind: 'file', pinned: true })
      const out = join(dir, 'published.weft')
      await weft(node, 'store', 'get', published.cid, '--out', out)
      const exported = node.fl.exportModel(job.id, 0)
      expect(Buffer.compare(readFileSync(out), Buffer.from(exported?.bytes ?? []))).toBe(0)
      expect((await weft(node, 'model', 'publish', job.id, '--round', '0')).stdout.trim()).toBe(published.cid)
    } finally {
      node.fl.cancel(job.id)
    }
  })

  it('replicate records a target and reports who refused; stat shows it; a bad factor is refused', async () => {
    const file = join(dir, 'replicated.weft')
    writeFileSync(file, bytesOf(300_000, 11))
    const cid = (await weft(node, 'store', 'put', file)).stdout.trim()
    // The other node is connected (an earlier test dialled it) and keeps the default policy: it accepts no replica.
    const r = await json(node, 'store', 'replicate', cid, '--factor', '2', '--label', 'tier=any', '--label', 'zone=z')
    expect(r).toMatchObject({ root: cid, factor: 2, labels: ['tier=any', 'zone=z'], counted: 0, holders: [node.peerId] })
    const r2 = await json(node, 'store', 'replicate', cid, '--factor', '2')
    // Its ad says its store takes no replicas: it is not asked (unfit), and the target stays short.
    expect(r2).toMatchObject({ counted: 1, lastRepair: { replicated: [], exhausted: true, refused: [], unfit: 1 } })
    expect((await weft(node, 'store', 'stat', cid)).stdout).toMatch(/replicas 2: 1 of 2 counted, 1 live holder\(s\) seen/)
    expect((await json(node, 'store', 'stat', cid)).replication).toMatchObject({ factor: 2, holders: [node.peerId] })
    await expect(weft(node, 'store', 'replicate', cid, '--factor', '0')).rejects.toMatchObject({ stderr: expect.stringMatching(/--factor must be an integer from 1 to 16/) })
    await expect(weft(node, 'store', 'replicate', cid, '--factor', '2', '--label', 'nolabel')).rejects.toMatchObject({ stderr: expect.stringMatching(/a label must be key=value/) })
    // unreplicate ends the target (no other holder to tell); the node's own copy stays pinned.
    expect((await weft(node, 'store', 'unreplicate', cid)).stdout).toContain(`ended the replication target of ${cid}: 0 holder(s) dropped it too`)
    expect((await json(node, 'store', 'stat', cid)).replication).toBeUndefined()
    expect((await json(node, 'store', 'stat', cid)).pinned).toBe(true)
    expect((await weft(node, 'store', 'unreplicate', cid)).stdout).toContain(`${cid} had no replication target on this node`)
  })
})

describe('weft store get on a terminal', () => {
  it('draws a progress bar of the blocks, bytes and providers as a fetch from the mesh streams them', async () => {
    const file = join(dir, 'bar.weft')
    writeFileSync(file, bytesOf(3_300_000, 13))
    const cid = (await weft(node, 'store', 'put', file, '--announce')).stdout.trim()
    await other.mesh.libp2p.dial(node.mesh.libp2p.getMultiaddrs()[0] as Parameters<typeof other.mesh.libp2p.dial>[0]).catch(() => {})
    const out = join(dir, 'bar-got.weft')
    // script(1) gives the command a pseudo-terminal, so stderr is a TTY as in a user's shell.
    const command = [process.execPath, BIN, 'store', 'get', cid, '--out', out, '--api', other.apiUrl].map((a) => `'${a}'`).join(' ')
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { maxBuffer: 16 * 1024 * 1024 })
    expect(stdout).toContain(`fetch ${cid.slice(0, 12)}… 0 blocks | 0 B | 0 provider(s)`)
    expect(stdout).toMatch(/fetch bafy\S+ [1-5] blocks \| [\d.]+ [KM]?i?B \| 1 provider\(s\)/)
    expect(stdout).toMatch(/fetched 5 blocks, 3\.1 MiB from 1 provider/)
    expect(stdout).toContain(`wrote ${out}: 1 file`)
    expect(Buffer.compare(readFileSync(out), readFileSync(file))).toBe(0)
  })
})

describe('weft store unannounce', () => {
  it('stops serving a root (it stays pinned); a second unannounce says it is not announced', async () => {
    const file = join(dir, 'served.weft')
    writeFileSync(file, bytesOf(300_000, 11))
    const cid = (await weft(node, 'store', 'put', file, '--announce')).stdout.trim()
    expect(await json(node, 'store', 'unannounce', cid)).toEqual({ cid, announced: false })
    expect(await json(node, 'store', 'stat', cid)).toMatchObject({ cid, pinned: true, missing: 0 })
    await expect(weft(node, 'store', 'unannounce', cid)).rejects.toMatchObject({ stderr: expect.stringMatching(/is not announced by this node/) })
  })
})

describe('weft data publish | get (data sets by CID)', () => {
  it('publish puts the bundled Fashion-MNIST as FASHION_MNIST_CID; get on another node fetches it into its data dir', async () => {
    const { FASHION_MNIST_CID } = await import('@weft/data')
    const published = await json(node, 'data', 'publish', 'fashion-mnist')
    expect(published).toMatchObject({ cid: FASHION_MNIST_CID, kind: 'directory', name: 'fashion-mnist', announced: true, canonical: true, size: 30_878_551 })
    await other.mesh.libp2p.dial(node.mesh.libp2p.getMultiaddrs()[0] as Parameters<typeof other.mesh.libp2p.dial>[0]).catch(() => {})
    const got = await json(other, 'data', 'get', 'fashion-mnist')
    expect(got).toMatchObject({ name: 'fashion-mnist', cid: FASHION_MNIST_CID, dir: join(other.config.dataDir, 'datasets', 'fashion-mnist') })
    expect(got.fetched.providers).toEqual({ [node.peerId]: got.fetched.blocks })
    expect(readFileSync(join(got.dir, 't10k-labels-idx1-ubyte.gz')).length).toBe(5125)
    expect((await weft(other, 'data', 'get', 'fashion-mnist')).stdout).toMatch(/4 files, .* checked \(already in the store\)/)
    await expect(weft(other, 'data', 'get', 'imagenet')).rejects.toMatchObject({ stderr: expect.stringMatching(/not a data set published by CID/) })
  }, 60_000)
})
