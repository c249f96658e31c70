// The node's disk store: the Blockstore contract (shared with the memory store), file modes, round trips, crash
// safety (a torn block is never served), the quota, pins and gc with shared blocks, CAR import and export.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarWriter } from '@ipld/car/writer'
import { type Blockstore, CID, cidOf, createMemoryBlockstore, RAW_CODE } from '@weft/store'
import { addPath, type DiskStore, openDiskStore } from '@weft/store/node'
import fc from 'fast-check'
import { importer } from 'ipfs-unixfs-importer'
import { afterEach, describe, expect, it } from 'vitest'
import { bytesOf, concat, expectSameBytes, pieces } from './helpers.js'

const dirs: string[] = []
const opened: DiskStore[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-store-'))
  dirs.push(d)
  return d
}
function open(dir = tempDir(), init: Parameters<typeof openDiskStore>[1] = {}): DiskStore {
  const s = openDiskStore(dir, init)
  opened.push(s)
  return s
}
afterEach(() => {
  for (const s of opened.splice(0)) s.close()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  return concat(source)
}

/** Every Blockstore implementation runs this suite. */
describe.each<[string, () => Blockstore]>([
  ['memory', () => createMemoryBlockstore()],
  ['disk', () => open()],
])('Blockstore contract: %s', (_name, make) => {
  it('stores a block under its CID and gives it back', async () => {
    const store = make()
    const bytes = bytesOf(1000)
    const cid = await cidOf(bytes, RAW_CODE)
    expect(await store.has(cid)).toBe(false)
    expect(await store.get(cid)).toBeUndefined()
    await store.put(cid, bytes)
    expect(await store.has(cid)).toBe(true)
    expectSameBytes((await store.get(cid)) as Uint8Array, bytes)
  })

  it('refuses bytes that do not hash to the CID, and stores nothing', async () => {
    const store = make()
    const cid = await cidOf(bytesOf(10, 1), RAW_CODE)
    await expect(store.put(cid, bytesOf(10, 2))).rejects.toMatchObject({ name: 'BlockMismatchError' })
    expect(await store.has(cid)).toBe(false)
  })
})

describe('openDiskStore', () => {
  it('keeps its files private: folders 0700, block files and the index 0600', async () => {
    const dir = tempDir()
    const store = open(dir)
    await store.addFile([bytesOf(2_000_000)])
    expect(statSync(join(dir, 'blocks')).mode & 0o777).toBe(0o700)
    expect(statSync(join(dir, 'store.db')).mode & 0o777).toBe(0o600)
    const shard = readdirSync(join(dir, 'blocks'))[0] as string
    expect(statSync(join(dir, 'blocks', shard)).mode & 0o777).toBe(0o700)
    const file = readdirSync(join(dir, 'blocks', shard))[0] as string
    expect(statSync(join(dir, 'blocks', shard, file)).mode & 0o777).toBe(0o600)
  })

  it('round-trips random byte arrays through addFile and cat (property)', async () => {
    const store = open()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 4096 }), async (bytes, cut) => {
        const root = await store.addFile(pieces(bytes, cut))
        expect(root.size).toBe(bytes.byteLength)
        expectSameBytes(await collect(store.cat(CID.parse(root.cid))), bytes)
      }),
      { numRuns: 40 },
    )
    const big = bytesOf(3_300_000, 4)
    const root = await store.addFile(pieces(big, 70_000), { name: 'big.bin' })
    expect(root).toMatchObject({ name: 'big.bin', kind: 'file', size: 3_300_000, blocks: 5, pinned: true })
    expectSameBytes(await collect(store.cat(CID.parse(root.cid))), big)
  })

  it('never serves a torn block: the file is dropped, reported, and the block counts as missing until put again', async () => {
    const dir = tempDir()
    const corrupt: string[] = []
    const store = open(dir, { onCorruptBlock: (cid) => corrupt.push(cid) })
    const bytes = bytesOf(2_500_000, 8)
    const root = CID.parse((await store.addFile([bytes])).cid)
    expect((await open().missing(root)).map(String)).toEqual([root.toString()]) // another store lacks it all
    const leafCid = await cidOf(bytes.subarray(0, 1_048_576), RAW_CODE)
    const shard = leafCid.toString().slice(-3, -1)
    truncateSync(join(dir, 'blocks', shard, leafCid.toString()), 1000)
    expect(await store.get(leafCid)).toBeUndefined()
    expect(corrupt).toEqual([leafCid.toString()])
    expect(await store.has(leafCid)).toBe(false)
    expect((await store.missing(root)).map(String)).toEqual([leafCid.toString()])
    await expect(collect(store.cat(root))).rejects.toMatchObject({ name: 'BlocksMissingError' })
    expect((await store.stat(root))?.missing).toBe(1)
    await store.put(leafCid, bytes.slice(0, 1_048_576))
    expectSameBytes(await collect(store.cat(root)), bytes)
  })

  it('clears temporary files on open and sweeps block files the index never recorded at gc', async () => {
    const dir = tempDir()
    const first = open(dir)
    const root = await first.addFile([bytesOf(10)])
    first.close()
    opened.pop()
    writeFileSync(join(dir, 'tmp', 'half-written.tmp'), 'xx')
    const stray = await cidOf(bytesOf(20, 3), RAW_CODE)
    const shardDir = join(dir, 'blocks', stray.toString().slice(-3, -1))
    mkdirSync(shardDir, { recursive: true })
    writeFileSync(join(shardDir, stray.toString()), bytesOf(20, 3))
    const store = open(dir)
    expect(readdirSync(join(dir, 'tmp'))).toEqual([])
    expect(store.roots().map((r) => r.cid)).toEqual([root.cid])
    expect(await store.has(stray)).toBe(false)
    store.gc()
    expect(readdirSync(shardDir)).not.toContain(stray.toString())
    expect(await store.has(CID.parse(root.cid))).toBe(true)
  })

  it('keeps a block being written (its file renamed, its index row not yet in) from gc running meanwhile', async () => {
    const store = open()
    const bytes = bytesOf(200_000, 5)
    const cid = await cidOf(bytes, RAW_CODE)
    let done = false
    const put = store.put(cid, bytes).then(() => {
      done = true
    })
    // gc runs at every turn of the event loop while the write goes through the thread pool.
    let sweeps = 0
    while (!done) {
      store.gc()
      sweeps++
      await new Promise((r) => setImmediate(r))
    }
    await put
    expect(sweeps).toBeGreaterThan(1)
    const back = await store.get(cid)
    expect(back === undefined ? undefined : Buffer.from(back).equals(Buffer.from(bytes))).toBe(true)
  })

  it('refuses a put past the quota naming store.maxBytes and the bytes used, and keeps nothing of it', async () => {
    const store = open(tempDir(), { maxBytes: 2_500_000 })
    await store.addFile([bytesOf(2_000_000, 1)])
    const before = store.usage()
    expect(before.usedBytes).toBeGreaterThan(2_000_000)
    const err = await store.addFile([bytesOf(1_048_576 * 2, 2)]).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'StoreFullError', maxBytes: 2_500_000, usedBytes: before.usedBytes })
    expect((err as Error).message).toContain('store.maxBytes is 2500000 bytes')
    expect(store.usage()).toEqual(before)
    expect(() => store.checkRoom(600_000)).toThrow(/quota store.maxBytes/)
  })

  it('writes and reserves a block once when it is put twice at once (the same block from two providers)', async () => {
    const store = open(tempDir(), { maxBytes: 1_500_000 })
    const bytes = bytesOf(1_048_576, 21)
    const cid = await cidOf(bytes, RAW_CODE)
    // Two at once would reserve 2 MiB against a 1.5 MB quota if each wrote its own copy.
    await Promise.all([store.put(cid, bytes), store.put(cid, bytes), store.put(cid, bytes)])
    expect(store.usage().usedBytes).toBe(1_048_576)
    expect(Buffer.from((await store.get(cid)) as Uint8Array).equals(Buffer.from(bytes))).toBe(true)
  })

  it('keeps blocks still referenced by a pinned root at gc, and removes the rest once unpinned', async () => {
    const store = open()
    const shared = bytesOf(2_097_152, 11) // two full leaves both files hold
    const a = await store.addFile([shared, bytesOf(500_000, 12)], { name: 'a' })
    const b = await store.addFile([shared, bytesOf(700_000, 13)], { name: 'b' })
    const sharedLeaf = await cidOf(shared.subarray(0, 1_048_576), RAW_CODE)
    expect(store.refs(sharedLeaf)).toBe(2)
    expect(store.gc().removedBlocks).toBe(0)
    const usedBoth = store.usage().usedBytes
    store.unpin(CID.parse(a.cid))
    expect(store.refs(sharedLeaf)).toBe(1)
    const { removedBlocks, freedBytes } = store.gc()
    expect(removedBlocks).toBe(2) // a's root node and its own last leaf
    expect(store.usage().usedBytes).toBe(usedBoth - freedBytes)
    expect(store.roots().map((r) => r.name)).toEqual(['b'])
    expectSameBytes(await collect(store.cat(CID.parse(b.cid))), Buffer.concat([shared, bytesOf(700_000, 13)]))
    store.unpin(CID.parse(b.cid))
    store.gc()
    expect(store.usage()).toMatchObject({ usedBytes: 0, blocks: 0, roots: 0 })
    expect(() => store.unpin(CID.parse(b.cid))).toThrow(/not a root/)
  })

  it('adds a directory tree as one root and pins only it', async () => {
    const src = tempDir()
    mkdirSync(join(src, 'shards', 'deep'), { recursive: true })
    writeFileSync(join(src, 'shards', 'one.bin'), bytesOf(1_200_000, 1))
    writeFileSync(join(src, 'shards', 'deep', 'two.bin'), bytesOf(30, 2))
    const store = open()
    await expect(addPath(store, join(src, 'shards'))).rejects.toThrow(/recursive/)
    const root = await addPath(store, join(src, 'shards'), { recursive: true })
    expect(root).toMatchObject({ name: 'shards', kind: 'directory', size: 1_200_030, pinned: true })
    expect(store.roots().filter((r) => r.pinned).map((r) => r.cid)).toEqual([root.cid])
    const stat = await store.stat(CID.parse(root.cid))
    expect(stat?.entries?.map((e) => e.name)).toEqual(['deep', 'one.bin'])
    store.gc()
    const deep = (await store.ls(CID.parse(root.cid)))[0]?.cid as CID
    const two = (await store.ls(deep))[0]?.cid as CID
    expectSameBytes(await collect(store.cat(two)), bytesOf(30, 2))
  })
})

describe('CAR', () => {
  it('round-trips: exported from one store and imported into another, same root and same bytes', async () => {
    const one = open()
    const bytes = bytesOf(2_600_000, 21)
    const root = CID.parse((await one.addFile([bytes])).cid)
    const car = await collect(await one.exportCar(root))
    const two = open()
    const imported = await two.importCar([car])
    expect(imported.roots.map((r) => r.cid)).toEqual([root.toString()])
    expect(imported.roots[0]).toMatchObject({ kind: 'file', size: 2_600_000, pinned: true })
    expect(imported.blocks).toBe(4)
    expectSameBytes(await collect(two.cat(root)), bytes)
    expect(two.refs(root)).toBe(1)
  })

  it('imports a CAR that @ipld/car wrote from blocks ipfs-unixfs-importer built', async () => {
    const blocks = new Map<string, { cid: CID; bytes: Uint8Array }>()
    const sink = {
      async put(cid: CID, bytes: Uint8Array) {
        blocks.set(cid.toString(), { cid, bytes })
        return cid
      },
    }
    const content = bytesOf(1_500_000, 31)
    let root: CID | undefined
    // The importer's older profile: 256 KiB dag-pb leaves, CIDv0 (what `ipfs add` long wrote).
    for await (const e of importer([{ path: 'x.bin', content: [content] }], sink as never, { profile: 'unixfs-v0-2015' })) root = e.cid
    const { writer, out } = CarWriter.create([root as CID])
    const written = collect(out)
    for (const b of blocks.values()) await writer.put(b)
    await writer.close()
    const store = open()
    const imported = await store.importCar(async function* () {
      yield await written
    }())
    expect(imported.roots[0]).toMatchObject({ cid: (root as CID).toV1().toString(), kind: 'file', size: 1_500_000 })
    expectSameBytes(await collect(store.cat(root as CID)), content)
  })

  it('refuses a CAR whose block does not match its CID, and an export of an incomplete DAG', async () => {
    const good = bytesOf(100, 1)
    const cid = await cidOf(good, RAW_CODE)
    const { writer, out } = CarWriter.create([cid])
    const written = collect(out)
    await writer.put({ cid, bytes: bytesOf(100, 2) })
    await writer.close()
    const store = open()
    await expect(store.importCar([await written])).rejects.toMatchObject({ name: 'BlockMismatchError' })
    await expect(store.importCar([new Uint8Array([1, 2, 3])])).rejects.toMatchObject({ name: 'InvalidCarError' })
    await expect(store.exportCar(cid)).rejects.toMatchObject({ name: 'BlocksMissingError' })
  })
})
