// Fashion-MNIST: the real files that ship with the install, discovery order, the package's digest checks, and the
// download path against a 127.0.0.1 server.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { type DatasetFile, encodeIdx, FASHION_MNIST_CLASSES, type FashionMnistFiles, fromShared } from '@weft/data'
import { type BundledFashionMnist, loadFashionMnist, loadFashionMnistLabels, loadPartition, locateFashionMnist } from '@weft/data/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requirement } from '../../../test/requirements.js'

// Only the package that `npm install` brings: no $WEFT_DATA, no user cache, no Debian package, no download.
const noEnv = { env: { WEFT_DATA_SEARCH: 'bundled' }, homedir: '/nonexistent-weft-home', systemDir: null }
const bundledCopy = await requirement('fashion-mnist', 'Fashion-MNIST as shipped with the install')

describe.skipIf(!bundledCopy.available)(`Fashion-MNIST from the @weft/dataset-fashion-mnist package${bundledCopy.note}`, () => {
  it('is found in the package, and no other source is looked at', async () => {
    expect(await locateFashionMnist({ split: 'train' }, noEnv)).toMatchObject({ source: 'bundled', dir: expect.stringContaining('dataset-fashion-mnist') })
  })

  it('loads the test split: 10000 images of 28×28×1, 10 balanced classes, pixels in [0, 1], content digests match', async () => {
    const ds = await loadFashionMnist({ split: 'test', verify: true }, noEnv)
    expect(ds.name).toBe('fashion-mnist/test')
    expect(ds.size).toBe(10000)
    expect(ds.featureShape).toEqual([28, 28, 1])
    expect(ds.numClasses).toBe(10)
    expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES)
    const counts = new Array(10).fill(0)
    for (const y of ds.labels()) counts[y]++
    expect(counts).toEqual(new Array(10).fill(1000))
    const [first] = ds.batches({ batchSize: 64 })
    expect(first!.x.length).toBe(64 * 784)
    expect(Math.max(...first!.x)).toBeLessThanOrEqual(1)
    expect(Math.max(...first!.x)).toBeGreaterThan(0.9)
    expect(Math.min(...first!.x)).toBe(0)
  })

  it('loads the train split (60000, 6000 per class) and its labels alone', async () => {
    const labels = await loadFashionMnistLabels({ split: 'train' }, noEnv)
    expect(labels.length).toBe(60000)
    const ds = await loadFashionMnist({ split: 'train' }, noEnv)
    expect(ds.size).toBe(60000)
    expect(ds.dtype).toBe('uint8')
    expect(Array.from(ds.labels())).toEqual(Array.from(labels))
    expect(new Set(labels).size).toBe(10)
    expect(labels.filter((y) => y === 9).length).toBe(6000)
    const view = ds.subset(Int32Array.from({ length: 6000 }, (_, i) => i * 10))
    const shared = fromShared(structuredClone(view.toShared()))
    expect(shared.size).toBe(6000)
    const [a] = shared.batches({ batchSize: 32, seed: 4 })
    const [b] = view.batches({ batchSize: 32, seed: 4 })
    expect(a).toEqual(b)
  })

  it('loadPartition gives the share a node config names', async () => {
    const part = await loadPartition({ dataset: 'fashion-mnist', split: 'test', scheme: 'dirichlet', alpha: 0.5, clients: 10, part: 3, seed: 1 }, noEnv)
    expect(part.name).toBe('fashion-mnist/test#dirichlet(0.5)@1:3/10')
    expect(part.size).toBeGreaterThan(0)
    expect(part.size).toBeLessThan(10000)
  })
})

/** Small fake Fashion-MNIST files (3 images) and a digest table for them. */
function fakeFiles(): { bytes: Map<string, Uint8Array>; table: FashionMnistFiles } {
  const bytes = new Map<string, Uint8Array>()
  const entry = (file: string, content: Uint8Array): DatasetFile => {
    const gz = gzipSync(content)
    bytes.set(file, gz)
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
    return { file, size: gz.length, sha256: sha(gz), contentSize: content.length, contentSha256: sha(content) }
  }
  const split = (prefix: string, n: number): FashionMnistFiles['train'] => ({
    images: entry(`${prefix}-images-idx3-ubyte.gz`, encodeIdx({ dtype: 'uint8', dims: [n, 28, 28], data: new Uint8Array(n * 784).fill(255) })),
    labels: entry(`${prefix}-labels-idx1-ubyte.gz`, encodeIdx({ dtype: 'uint8', dims: [n], data: Uint8Array.from({ length: n }, (_, i) => i) })),
  })
  return { bytes, table: { train: split('train', 3), test: split('t10k', 2) } }
}

describe('Fashion-MNIST download (127.0.0.1 server)', () => {
  const { bytes, table } = fakeFiles()
  let server: Server
  let base: string
  let dir: string
  const requests: string[] = []
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-fm-'))
    server = createServer((req, res) => {
      requests.push(req.url ?? '')
      const [, route, name] = (req.url ?? '').split('/')
      let body = bytes.get(name ?? '')
      if (body === undefined) {
        res.writeHead(404).end()
        return
      }
      if (route === 'corrupt') {
        body = Uint8Array.from(body)
        body[body.length - 20] = (body[body.length - 20] as number) ^ 0xff
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  const components = (cache: string, route: string) => ({
    env: { XDG_CACHE_HOME: cache },
    systemDir: null,
    bundled: null,
    baseUrl: `${base}/${route}/`,
    files: table,
    timeoutMs: 10_000,
  })

  it('rejects a corrupted file and leaves nothing in the cache', async () => {
    const cache = join(dir, 'corrupt-cache')
    const err = await loadFashionMnist({ split: 'train' }, components(cache, 'corrupt')).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'ChecksumMismatchError', expected: table.train.images.sha256 })
    expect((err as Error).message).toMatch(/train-images-idx3-ubyte\.gz: SHA-256 mismatch: expected [0-9a-f]{64}, got [0-9a-f]{64}/)
    const cached = join(cache, 'weft', 'datasets', 'fashion-mnist')
    expect(existsSync(cached) ? await readdir(cached) : []).toEqual([])
  })

  it('a failed download ends in DatasetNotFoundError listing every place looked at, the HTTP status and what to do', async () => {
    const err = (await loadFashionMnist({ split: 'test' }, components(join(dir, 'c404'), 'missing/x')).catch((e: unknown) => e)) as Error & {
      searched: string[]
      hints: string[]
    }
    expect(err).toMatchObject({ name: 'DatasetNotFoundError', cause: { name: 'DownloadError' } })
    expect(err.searched).toEqual([
      '$WEFT_DATA: not set',
      'the @weft/dataset-fashion-mnist package: not installed',
      `${join(dir, 'c404', 'weft', 'datasets', 'fashion-mnist')}: no files`,
      `download from ${base}/missing/x/: HTTP 404 Not Found`,
    ])
    expect(err.hints.join('\n')).toMatch(/WEFT_DATA/)
    expect(err.hints.join('\n')).toMatch(/apt install dataset-fashion-mnist/)
    // One message a user can act on: each place on its own line, then the remedies.
    for (const line of [...err.searched, ...err.hints]) expect(err.message).toContain(line)
  })

  it('downloads good files into the cache with their digests checked, then finds them there', async () => {
    const cache = join(dir, 'good-cache')
    const ds = await loadFashionMnist({ split: 'train', verify: true }, components(cache, 'good'))
    expect(ds.size).toBe(3)
    expect(Array.from(ds.labels())).toEqual([0, 1, 2])
    expect(ds.example(0)[0]).toBe(1)
    expect((await readdir(join(cache, 'weft', 'datasets', 'fashion-mnist'))).sort()).toEqual(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'])
    const before = requests.length
    const loc = await locateFashionMnist({ split: 'train' }, components(cache, 'good'))
    expect(loc).toMatchObject({ source: 'cache' })
    await loadFashionMnist({ split: 'train' }, components(cache, 'good'))
    expect(requests.length).toBe(before)
  })

  it('searches an explicit dir only, then WEFT_DATA before the cache; download: false gives DatasetNotFoundError', async () => {
    const env = join(dir, 'env')
    await rm(env, { recursive: true, force: true })
    await mkdir(join(env, 'fashion-mnist'), { recursive: true })
    for (const f of [table.test.images, table.test.labels]) await writeFile(join(env, 'fashion-mnist', f.file), bytes.get(f.file)!)
    const c = { ...components(join(dir, 'good-cache'), 'none'), env: { WEFT_DATA: env, XDG_CACHE_HOME: join(dir, 'good-cache') } }
    expect(await locateFashionMnist({ split: 'test' }, c)).toMatchObject({ source: 'env', dir: join(env, 'fashion-mnist') })
    expect(await locateFashionMnist({ split: 'train' }, c)).toMatchObject({ source: 'cache' })
    await expect(loadFashionMnist({ split: 'train', dir: env }, c)).rejects.toMatchObject({ name: 'DatasetNotFoundError', searched: [`${env}: no files`] })
    await expect(loadFashionMnist({ split: 'test', download: false }, components(join(dir, 'empty'), 'none'))).rejects.toMatchObject({
      name: 'DatasetNotFoundError',
    })
  })
})

describe('Fashion-MNIST discovery order and WEFT_DATA_SEARCH', () => {
  const { bytes, table } = fakeFiles()
  let root: string
  /** A folder holding the fake test split. */
  async function holder(name: string): Promise<string> {
    const d = join(root, name)
    await mkdir(d, { recursive: true })
    for (const f of [table.test.images, table.test.labels]) await writeFile(join(d, f.file), bytes.get(f.file)!)
    return d
  }
  /** A package record for the files in `d`, as @weft/dataset-fashion-mnist exports one. */
  function bundle(d: string): BundledFashionMnist {
    const files: Record<string, { size: number; sha256: string }> = {}
    for (const f of [table.test.images, table.test.labels]) files[f.file] = { size: f.size, sha256: f.sha256 }
    return { dir: d, files }
  }
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'weft-fm-order-'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  it('takes $WEFT_DATA, then the package, then the user cache, then the system folder', async () => {
    const [env, pkg, cache, system] = await Promise.all([holder('env'), holder('pkg'), holder('xdg/weft/datasets/fashion-mnist'), holder('system')])
    const all = { env: { WEFT_DATA: env, XDG_CACHE_HOME: join(root, 'xdg') }, bundled: bundle(pkg), systemDir: system, files: table }
    expect(await locateFashionMnist({ split: 'test' }, all)).toMatchObject({ source: 'env', dir: env })
    expect(await locateFashionMnist({ split: 'test' }, { ...all, env: { XDG_CACHE_HOME: join(root, 'xdg') } })).toMatchObject({ source: 'bundled', dir: pkg })
    expect(await locateFashionMnist({ split: 'test' }, { ...all, env: { XDG_CACHE_HOME: join(root, 'xdg') }, bundled: null })).toMatchObject({ source: 'cache', dir: cache })
    expect(await locateFashionMnist({ split: 'test' }, { ...all, env: {}, homedir: join(root, 'nohome'), bundled: null })).toMatchObject({ source: 'system', dir: system })
    // WEFT_DATA_SEARCH keeps only the sources it names, in the same order.
    const narrowed = await locateFashionMnist({ split: 'test' }, { ...all, env: { ...all.env, WEFT_DATA_SEARCH: 'system,cache' } })
    expect(narrowed).toMatchObject({ source: 'cache', dir: cache })
    const onlySystem = await locateFashionMnist({ split: 'test' }, { ...all, env: { ...all.env, WEFT_DATA_SEARCH: 'system' } })
    expect(onlySystem).toMatchObject({ source: 'system' })
  })

  it('WEFT_DATA_SEARCH that leaves every holder out finds nothing and does not download; an unknown source is refused', async () => {
    const pkg = await holder('pkg-only')
    const c = { env: { WEFT_DATA_SEARCH: 'cache' }, homedir: join(root, 'nohome'), bundled: bundle(pkg), systemDir: null, files: table, baseUrl: 'http://127.0.0.1:9/' }
    const err = (await loadFashionMnist({ split: 'test' }, c).catch((e: unknown) => e)) as Error & { searched: string[] }
    expect(err.name).toBe('DatasetNotFoundError')
    expect(err.searched).toContain('the @weft/dataset-fashion-mnist package: skipped by WEFT_DATA_SEARCH')
    expect(err.searched.at(-1)).toBe('download from http://127.0.0.1:9/: skipped by WEFT_DATA_SEARCH')
    await expect(locateFashionMnist({ split: 'test' }, { ...c, env: { WEFT_DATA_SEARCH: 'bundled,internet' } })).rejects.toThrow(/unknown source "internet"/)
  })

  it('checks a bundled file against the package record: a damaged copy is refused, never loaded', async () => {
    const pkg = await holder('pkg-damaged')
    const c = { env: {}, homedir: join(root, 'nohome'), systemDir: null, files: table, bundled: bundle(pkg) }
    expect((await loadFashionMnist({ split: 'test' }, c)).size).toBe(2)
    const name = table.test.images.file
    const damaged = Uint8Array.from(bytes.get(name)!)
    damaged[damaged.length - 12] = (damaged[damaged.length - 12] as number) ^ 0x01
    await writeFile(join(pkg, name), damaged)
    await expect(loadFashionMnist({ split: 'test' }, c)).rejects.toMatchObject({ name: 'ChecksumMismatchError', expected: table.test.images.sha256 })
    await writeFile(join(pkg, name), damaged.subarray(0, damaged.length - 1))
    await expect(loadFashionMnist({ split: 'test' }, c)).rejects.toThrow(/expected \d+ bytes, got \d+ bytes/)
  })
  it('the mesh source: after the local ones, filled by fetchMesh only when allowed; its failure is listed; its files are checked on load', async () => {
    const meshDir = join(root, 'mesh', 'fashion-mnist')
    let calls = 0
    const fill = async (dir: string) => {
      calls++
      await mkdir(dir, { recursive: true })
      for (const f of [table.test.images, table.test.labels]) await writeFile(join(dir, f.file), bytes.get(f.file)!)
    }
    const c = { env: { WEFT_DATA_SEARCH: 'cache,mesh' }, homedir: join(root, 'nohome'), systemDir: null, bundled: null, files: table, meshDir }
    // Not allowed: never asked.
    await expect(loadFashionMnist({ split: 'test' }, { ...c, env: { WEFT_DATA_SEARCH: 'cache' }, fetchMesh: fill })).rejects.toMatchObject({ name: 'DatasetNotFoundError' })
    expect(calls).toBe(0)
    // A failed fetch is one of the places listed.
    const err = (await loadFashionMnist({ split: 'test' }, { ...c, fetchMesh: () => Promise.reject(new Error('no peer provides it')) }).catch((e: unknown) => e)) as Error & { searched: string[] }
    expect(err.searched).toEqual([
      '$WEFT_DATA: not set',
      'the @weft/dataset-fashion-mnist package: skipped by WEFT_DATA_SEARCH',
      `${join(root, 'nohome', '.cache', 'weft', 'datasets', 'fashion-mnist')}: no files`,
      `${meshDir}: no files`,
      `fetch from the mesh into ${meshDir}: no peer provides it`,
      'download from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/: skipped by WEFT_DATA_SEARCH',
    ])
    // Filled: loaded from there, and found there next time without a fetch.
    const ds = await loadFashionMnist({ split: 'test' }, { ...c, fetchMesh: fill })
    expect(ds.size).toBe(2)
    expect(calls).toBe(1)
    expect(await locateFashionMnist({ split: 'test' }, c)).toMatchObject({ source: 'mesh', dir: meshDir })
    // A mesh copy's content is always checked against the digests (no verify flag needed).
    const other = gzipSync(encodeIdx({ dtype: 'uint8', dims: [2], data: Uint8Array.from([1, 1]) }))
    await writeFile(join(meshDir, table.test.labels.file), other)
    await expect(loadFashionMnist({ split: 'test' }, c)).rejects.toMatchObject({ name: 'ChecksumMismatchError', expected: table.test.labels.contentSha256 })
  })
})
