// Holds and the synchronous path of the disk store (what the FL store keeps its tensors through): the same CIDs as
// addFile, crash-safe blocks, counted holds that gc keeps as pins and that unpin leaves, the quota, torn blocks.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addBytesSync, addFile, CID, createMemoryBlockstore, type DagLayout } from '@weft/store'
import { type DiskStore, openDiskStore } from '@weft/store/node'
import fc from 'fast-check'
import { create as createDigest } from 'multiformats/hashes/digest'
import { afterEach, describe, expect, it } from 'vitest'
import { bytesOf, expectSameBytes } from './helpers.js'

const dirs: string[] = []
const opened: DiskStore[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-holds-'))
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

const cidOfSync = (block: Uint8Array, code: number): CID => CID.createV1(code, createDigest(0x12, createHash('sha256').update(block).digest()))

describe('addBytesSync (the synchronous file builder)', () => {
  it('builds the same root as addFile for any bytes and any layout (property, small layouts for deep trees)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 2, max: 5 }), async (bytes, chunkSize, maxChildren) => {
        const layout: DagLayout = { chunkSize, maxChildren, maxDirectoryNodeBytes: 262_144 }
        const sync = addBytesSync(bytes, () => {}, cidOfSync, layout)
        const async = await addFile([bytes], createMemoryBlockstore(), { layout })
        expect(sync.cid.toString()).toBe(async.cid.toString())
        expect([sync.size, sync.dagSize]).toEqual([async.size, async.dagSize])
      }),
      { numRuns: 200 },
    )
  })
})

describe('DiskStore holds and the synchronous path', () => {
  it("stores bytes under the CID addFile gives them, held and not pinned, and reads them back", async () => {
    for (const length of [0, 1, 1_048_576, 1_048_576 * 2 + 5]) {
      const store = open()
      const bytes = bytesOf(length, length + 1)
      const root = store.addBytesSync(bytes, { hold: 'fl', name: 'model' })
      const viaAddFile = await addFile([bytes], createMemoryBlockstore())
      expect(root.toString()).toBe(viaAddFile.cid.toString())
      expectSameBytes(store.readBytesSync(root) as Uint8Array, bytes)
      const row = store.roots().find((r) => r.cid === root.toString())
      expect(row).toMatchObject({ pinned: false, held: ['fl'], size: length, dagSize: viaAddFile.dagSize })
      expect(store.held('fl')).toEqual([{ root: root.toString(), count: 1 }])
      // The same bytes added by a user afterwards: the same root, now pinned and still held.
      const pinned = await store.addFile([bytes])
      expect(pinned).toMatchObject({ cid: root.toString(), pinned: true, held: ['fl'] })
    }
  })

  it('keeps every block of a held root at gc as a pinned one, counts holds, and unpin leaves a hold', async () => {
    const store = open()
    const shared = bytesOf(1_048_576, 3)
    const a = store.addBytesSync(Buffer.concat([shared, bytesOf(10, 4)]), { hold: 'fl' })
    const user = await store.addFile([shared, bytesOf(20, 5)])
    store.hold(a, 'fl')
    expect(store.held('fl')).toEqual([{ root: a.toString(), count: 2 }])
    expect(store.gc().removedBlocks).toBe(0)
    // A user unpinning the shared root and a hold's owner releasing one of two: nothing of a goes.
    store.unpin(CID.parse(user.cid))
    expect(store.release(a, 'fl')).toBe(1)
    const freed = store.gc()
    expect(freed.removedBlocks).toBe(2) // the user's root node and its own last leaf
    expect(store.readBytesSync(a)?.byteLength).toBe(1_048_586)
    // An unpin of a held root (a user's `weft store unpin` of it) drops no hold.
    await store.pin(a)
    store.unpin(a)
    expect(store.roots().find((r) => r.cid === a.toString())?.held).toEqual(['fl'])
    expect(store.gc().removedBlocks).toBe(0)
    // The last hold given back: the next gc takes every block, and the root is forgotten.
    expect(store.release(a, 'fl')).toBe(0)
    expect(store.release(a, 'fl')).toBe(0)
    expect(store.held('fl')).toEqual([])
    store.gc()
    expect(store.usage()).toMatchObject({ usedBytes: 0, blocks: 0, roots: 0 })
    expect(store.readBytesSync(a)).toBeUndefined()
  })

  it('holds survive a reopen (durable), and a hold of another owner is separate', () => {
    const dir = tempDir()
    const first = openDiskStore(dir)
    const root = first.addBytesSync(bytesOf(5000, 9), { hold: 'fl' })
    first.hold(root, 'handout')
    first.close()
    const store = open(dir)
    expect(store.roots().find((r) => r.cid === root.toString())?.held).toEqual(['fl', 'handout'])
    expect(store.release(root, 'handout')).toBe(0)
    store.gc()
    expect(store.held('fl')).toEqual([{ root: root.toString(), count: 1 }])
    expect(store.readBytesSync(root)?.byteLength).toBe(5000)
    expect(() => store.hold(root, 'Not An Owner')).toThrow(TypeError)
    expect(() => store.hold(CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'), 'fl')).toThrow(/not a root/)
  })

  it('refuses bytes past the quota with the store error, writing and holding nothing', () => {
    const store = open(tempDir(), { maxBytes: 1_500_000 })
    store.addBytesSync(bytesOf(1_000_000, 1), { hold: 'fl' })
    const before = store.usage()
    let err: unknown
    try {
      store.addBytesSync(bytesOf(1_000_000, 2), { hold: 'fl' })
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ name: 'StoreFullError', code: 'EDQUOT', maxBytes: 1_500_000 })
    expect(store.usage()).toEqual(before)
    expect(store.held('fl')).toHaveLength(1)
    // Bytes already stored need no room: the same model again takes a hold only.
    store.addBytesSync(bytesOf(1_000_000, 1), { hold: 'fl' })
    expect(store.usage()).toEqual(before)
  })

  it('never reads a torn block back: the file is dropped and reported, and the read is undefined', () => {
    const dir = tempDir()
    const bad: string[] = []
    const store = open(dir, { onCorruptBlock: (cid) => bad.push(cid) })
    const root = store.addBytesSync(bytesOf(2_000_000, 7), { hold: 'fl' })
    const leaf = cidOfSync(bytesOf(2_000_000, 7).subarray(0, 1_048_576), 0x55).toString()
    truncateSync(join(dir, 'blocks', leaf.slice(-3, -1), leaf), 100)
    expect(store.readBytesSync(root)).toBeUndefined()
    expect(bad).toEqual([leaf])
    // A file of the right size whose bytes are another block's: refused the same way.
    const other = store.addBytesSync(bytesOf(3000, 8), { hold: 'fl' })
    writeFileSync(join(dir, 'blocks', other.toString().slice(-3, -1), other.toString()), bytesOf(3000, 9))
    expect(store.readBytesSync(other)).toBeUndefined()
    expect(bad).toEqual([leaf, other.toString()])
  })
})
