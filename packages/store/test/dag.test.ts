// DAG building and reading: deterministic CIDs, the same CIDs as ipfs-unixfs-importer's unixfs-v1-2025 profile,
// standard tooling (ipfs-unixfs-exporter) reading what Weft builds, directories, and the missing-block walk.
import {
  addDirectory,
  addFile,
  type CID,
  createMemoryBlockstore,
  type DagLayout,
  dagCids,
  fixedSizeChunks,
  InvalidDirectoryError,
  listDirectory,
  missingBlocks,
  readFile,
  UNIXFS_V1_2025,
  WrongKindError,
} from '@weft/store'
import fc from 'fast-check'
import { exporter } from 'ipfs-unixfs-exporter'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { importer } from 'ipfs-unixfs-importer'
import { describe, expect, it } from 'vitest'
import vectors from './vectors/unixfs-v1-2025-files.json' with { type: 'json' }
import { bytesOf, concat, expectSameBytes, pieces } from './helpers.js'

/** The importer's blockstore interface over a plain map (it is not Weft's contract). */
function importerStore() {
  const blocks = new Map<string, Uint8Array>()
  return {
    blocks,
    async put(cid: CID, bytes: Uint8Array) {
      blocks.set(cid.toString(), bytes)
      return cid
    },
    async *get(cid: CID) {
      const b = blocks.get(cid.toString())
      if (b === undefined) throw new Error(`missing ${cid}`)
      yield b
    },
    async has(cid: CID) {
      return blocks.has(cid.toString())
    },
  }
}

async function referenceCid(bytes: Uint8Array, layout?: DagLayout): Promise<string> {
  const store = importerStore()
  const options =
    layout === undefined
      ? { profile: 'unixfs-v1-2025' as const }
      : { cidVersion: 1 as const, rawLeaves: true, chunker: fixedSize({ chunkSize: layout.chunkSize }), layout: balanced({ maxChildrenPerNode: layout.maxChildren }) }
  let last: string | undefined
  for await (const entry of importer([{ content: pieces(bytes, 65_536) }], store as never, options)) last = entry.cid.toString()
  if (last === undefined) throw new Error('the importer gave no entry')
  return last
}

describe('fixedSizeChunks', () => {
  it('cuts any piece sizes into full chunks and a shorter last one; an empty stream is one empty chunk', async () => {
    const bytes = bytesOf(10)
    const sizes = async (pieceSize: number) => {
      const out: number[] = []
      for await (const c of fixedSizeChunks(pieces(bytes, pieceSize), 4)) out.push(c.byteLength)
      return out
    }
    expect(await sizes(1)).toEqual([4, 4, 2])
    expect(await sizes(7)).toEqual([4, 4, 2])
    const empty: number[] = []
    for await (const c of fixedSizeChunks([], 4)) empty.push(c.byteLength)
    expect(empty).toEqual([0])
    await expect(fixedSizeChunks([], 0).next()).rejects.toThrow(RangeError)
  })
})

describe('addFile', () => {
  it('gives the same CID for the same bytes, however the stream is cut', async () => {
    const bytes = bytesOf(2_500_000, 7)
    const a = await addFile(pieces(bytes, 1000), createMemoryBlockstore())
    const b = await addFile(pieces(bytes, 1_048_576 + 13), createMemoryBlockstore())
    expect(a.cid.toString()).toBe(b.cid.toString())
    expect(a.size).toBe(2_500_000)
    expect(a.blocks).toBe(4) // three 1 MiB-or-less raw leaves and their parent
  })

  it('gives the CIDs ipfs-unixfs-importer computes with profile unixfs-v1-2025 (1 MiB raw leaves, CIDv1)', async () => {
    for (const length of [0, 1, 1_048_576, 1_048_577, 3_500_000]) {
      const bytes = bytesOf(length, length + 3)
      const ours = await addFile(pieces(bytes, 100_000), createMemoryBlockstore())
      expect(ours.cid.toString(), `${length} bytes`).toBe(await referenceCid(bytes))
    }
  })

  it('matches the known-answer vectors (test/vectors/unixfs-v1-2025-files.json; the empty file is sha2-256 of nothing)', async () => {
    for (const v of vectors.cases) {
      const ours = await addFile([bytesOf(v.length, v.seed)], createMemoryBlockstore())
      expect(ours.cid.toString(), `${v.length} bytes`).toBe(v.cid)
    }
  })

  it('builds the same balanced tree as the importer when it has several levels', async () => {
    // A small chunk and fan-out stand for 1 MiB x 1,024: 3 levels over 70 leaves, as a 70-GiB file would have.
    const layout: DagLayout = { chunkSize: 1024, maxChildren: 4, maxDirectoryNodeBytes: 262_144 }
    for (const length of [4096, 4097, 70 * 1024 - 5]) {
      const bytes = bytesOf(length, length)
      const store = createMemoryBlockstore()
      const ours = await addFile(pieces(bytes, 333), store, { layout })
      expect(ours.cid.toString(), `${length} bytes`).toBe(await referenceCid(bytes, layout))
      expectSameBytes(await concat(readFile(store, ours.cid)), bytes)
    }
  })

  it('reports progress and stops when aborted', async () => {
    const seen: number[] = []
    await addFile([bytesOf(2_200_000)], createMemoryBlockstore(), { onProgress: (n) => seen.push(n) })
    expect(seen).toEqual([1_048_576, 2_097_152, 2_200_000])
    const ac = new AbortController()
    ac.abort(new Error('stop'))
    await expect(addFile([bytesOf(10)], createMemoryBlockstore(), { signal: ac.signal })).rejects.toThrow('stop')
  })
})

describe('reading', () => {
  it('reads back random byte arrays exactly (property)', async () => {
    const layout: DagLayout = { chunkSize: 64, maxChildren: 3, maxDirectoryNodeBytes: 262_144 }
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 500 }), async (bytes, cut) => {
        const store = createMemoryBlockstore()
        const added = await addFile(pieces(bytes, cut), store, { layout })
        expect(added.size).toBe(bytes.byteLength)
        expectSameBytes(await concat(readFile(store, added.cid)), bytes)
      }),
      { numRuns: 60 },
    )
  })

  it('is read by ipfs-unixfs-exporter, the standard reader', async () => {
    const bytes = bytesOf(2_300_000, 5)
    const store = createMemoryBlockstore()
    const added = await addFile([bytes], store)
    const blockstore = {
      async *get(cid: CID) {
        const b = await store.get(cid)
        if (b === undefined) throw new Error(`missing ${cid}`)
        yield b
      },
    }
    const entry = await exporter(added.cid, blockstore as never)
    if (entry.type !== 'file') throw new Error(`the exporter read a ${entry.type}`)
    expectSameBytes(await concat(entry.content()), bytes)
  })

  it('lists what is missing, and reads again once it is back', async () => {
    const bytes = bytesOf(3_000_000, 9)
    const full = createMemoryBlockstore()
    const added = await addFile([bytes], full)
    const partial = createMemoryBlockstore()
    expect((await missingBlocks(partial, added.cid)).map(String)).toEqual([added.cid.toString()])
    const rootBytes = (await full.get(added.cid)) as Uint8Array
    await partial.put(added.cid, rootBytes)
    const missing = await missingBlocks(partial, added.cid)
    expect(missing).toHaveLength(3)
    for (const cid of missing.slice(0, 2)) await partial.put(cid, (await full.get(cid)) as Uint8Array)
    await expect(concat(readFile(partial, added.cid))).rejects.toMatchObject({ name: 'BlocksMissingError' })
    const last = missing[2] as CID
    await partial.put(last, (await full.get(last)) as Uint8Array)
    expect(await missingBlocks(partial, added.cid)).toEqual([])
    expectSameBytes(await concat(readFile(partial, added.cid)), bytes)
  })

  it('walks a file without reading its leaves: only its nodes are read, leaves are looked up', async () => {
    const store = createMemoryBlockstore()
    const added = await addFile([bytesOf(5_000_000, 3)], store)
    const read: string[] = []
    const counting = {
      has: (cid: CID) => store.has(cid),
      get: async (cid: CID) => {
        read.push(cid.toString())
        return store.get(cid)
      },
    }
    expect(await missingBlocks(counting, added.cid)).toEqual([])
    expect(read).toEqual([added.cid.toString()])
    const cids = []
    for await (const cid of dagCids(counting, added.cid)) cids.push(cid.toString())
    expect(cids).toHaveLength(6) // the root and five 1 MiB leaves
    expect(read).toEqual([added.cid.toString(), added.cid.toString()])
  })
})

describe('addDirectory', () => {
  it('makes a directory root the importer also makes, and lists it', async () => {
    const store = createMemoryBlockstore()
    const a = bytesOf(1_500_000, 1)
    const b = bytesOf(10, 2)
    const fa = await addFile([a], store)
    const fb = await addFile([b], store)
    const sub = await addDirectory([{ name: 'b.bin', ...fb }], store)
    const dir = await addDirectory(
      [
        { name: 'z-sub', ...sub },
        { name: 'a.bin', ...fa },
      ],
      store,
    )
    const ref = importerStore()
    let root: string | undefined
    const files = [
      { path: 'root/a.bin', content: [a] },
      { path: 'root/z-sub/b.bin', content: [b] },
    ]
    for await (const e of importer(files, ref as never, { profile: 'unixfs-v1-2025' })) if (e.path === 'root') root = e.cid.toString()
    expect(dir.cid.toString()).toBe(root)
    expect(dir.size).toBe(1_500_010)
    expect((await listDirectory(store, dir.cid)).map((e) => e.name)).toEqual(['a.bin', 'z-sub'])
    await expect(concat(readFile(store, dir.cid))).rejects.toBeInstanceOf(WrongKindError)
  })

  it('refuses bad or repeated names and directories too large for one node', async () => {
    const store = createMemoryBlockstore()
    const f = await addFile([bytesOf(5)], store)
    await expect(addDirectory([{ name: 'a/b', ...f }], store)).rejects.toBeInstanceOf(InvalidDirectoryError)
    await expect(addDirectory([{ name: '..', ...f }], store)).rejects.toBeInstanceOf(InvalidDirectoryError)
    await expect(addDirectory([{ name: 'x', ...f }, { name: 'x', ...f }], store)).rejects.toThrow('appears twice')
    const many = Array.from({ length: 5000 }, (_, i) => ({ name: `file-${i}-${'n'.repeat(40)}`, ...f }))
    await expect(addDirectory(many, store)).rejects.toThrow(`more than ${UNIXFS_V1_2025.maxDirectoryNodeBytes}`)
  })
})
