// The node's block store: block files on disk under an SQLite index, with roots, pins, reference counts, gc and a
// byte quota. Every block is verified against its CID when it is written and again each time it is read; a file
// found torn or corrupt is deleted and reported, and the block then counts as missing (a fetcher can get it again).
// Besides user pins, owners inside the node hold roots (counted, durable): the FL store keeps its models, update
// deltas and strategy state here, written and read synchronously, never announced nor provided.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Blockstore } from '../blockstore.js'
import { exportCar, importCar } from '../car.js'
import { verifyBlock } from '../cid.js'
import { blockKey, type DirectoryListing, decodeNode, listDirectory, missingBlocks, readFile, walkDagStructure } from '../dag-reader.js'
import { addDirectory } from '../directory-builder.js'
import { BlockMismatchError, BlocksMissingError, InvalidDagError, StoreFullError, UnknownRootError, WrongKindError } from '../errors.js'
import { type AddFileOptions, addBytesSync, addFile } from '../file-builder.js'
import { BlockFiles } from './block-files.js'
import { openStoreIndex, type RootRow } from './store-index.js'

export type { RootRow } from './store-index.js'

/** How a disk store is opened. */
export interface DiskStoreInit {
  /** The quota: bytes of blocks this store may hold (absent: no limit but the disk's). */
  readonly maxBytes?: number
  /** Clock (epoch ms) for the times recorded. */
  readonly now?: () => number
  /** Told of every block file found torn or corrupt (it has been deleted). */
  readonly onCorruptBlock?: (cid: string, problem: string) => void
}

/** How much the store holds. */
export interface StoreUsage {
  readonly usedBytes: number
  readonly maxBytes: number | null
  readonly blocks: number
  readonly roots: number
  readonly pinned: number
}

/** What to record with bytes added synchronously. */
export interface AddBytesOptions {
  /** The owner taking one hold on the root (`[a-z0-9-]`, 1 to 32 characters, e.g. `fl`). */
  readonly hold: string
  readonly name?: string
}

/** A root with what the store knows of it now. */
export interface RootStat extends RootRow {
  /** Blocks of the DAG not in the store as far as the walk can see (0: complete). */
  readonly missing: number
  /** A directory's entries. */
  readonly entries?: readonly DirectoryListing[]
}

/** What to record with an added DAG. */
export interface AddOptions {
  readonly name?: string
  /** Pin the root (default true): its blocks are kept by gc. */
  readonly pin?: boolean
}

/** The node's block store. */
export interface DiskStore extends Blockstore {
  /** Adds a file from a byte stream (chunked, 1 MiB leaves). @throws StoreFullError past the quota */
  addFile(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: AddOptions & Omit<AddFileOptions, 'layout'>): Promise<RootRow>
  /** Adds a directory over roots already in the store. @throws UnknownRootError, InvalidDirectoryError */
  addDirectory(entries: readonly { name: string; cid: CID }[], options?: AddOptions): Promise<RootRow>
  /** Imports a CAR; its roots are recorded (pinned by default). @throws InvalidCarError, BlockMismatchError, StoreFullError */
  importCar(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: { pin?: boolean }): Promise<{ roots: RootRow[]; blocks: number; bytes: number }>
  /** A CAR v1 of a complete DAG. @throws BlocksMissingError before any byte when the DAG is incomplete */
  exportCar(root: CID): Promise<AsyncIterable<Uint8Array>>
  /** A file's bytes. @throws WrongKindError, BlocksMissingError, InvalidDagError (while streaming) */
  cat(cid: CID): AsyncIterable<Uint8Array>
  /** A directory's entries. */
  ls(cid: CID): Promise<DirectoryListing[]>
  roots(): RootRow[]
  /** A root, or any DAG whose root block is held (then described from its blocks). `undefined`: unknown here. */
  stat(cid: CID): Promise<RootStat | undefined>
  /** Pins a root (describing it from its blocks if it was not one). @throws BlocksMissingError when incomplete */
  pin(cid: CID, options?: { name?: string }): Promise<RootRow>
  /** Unpins a root; its blocks go at the next gc unless another kept root reaches them; holds stay. @throws UnknownRootError */
  unpin(cid: CID): RootRow
  /**
   * Adds bytes as a file, synchronously, and takes one hold on its root for `options.hold`: the same blocks and
   * root CID as `addFile([bytes])`. Each new block is written crash-safe (temporary file, fsync, rename, fsync of
   * its folder) before the blocks, the root and the hold are recorded in one index transaction. Never announced.
   * @returns the root
   * @throws StoreFullError when the new blocks do not fit the quota (nothing written), TypeError for a bad owner
   */
  addBytesSync(bytes: Uint8Array, options: AddBytesOptions): CID
  /**
   * A file root's bytes, read and verified synchronously; `undefined` when a block is missing (or was found corrupt,
   * then dropped and reported). @throws WrongKindError for a directory, InvalidDagError
   */
  readBytesSync(root: CID): Uint8Array | undefined
  /** Takes one more hold on a root the store knows, for `owner`. @throws UnknownRootError, TypeError for a bad owner */
  hold(root: CID, owner: string): void
  /** Gives back one of `owner`'s holds on a root (nothing if it holds none); returns the holds it has left. */
  release(root: CID, owner: string): number
  /** The roots `owner` holds, with how many holds each. */
  held(owner: string): { root: string; count: number }[]
  /** The size of a block held here (by its CID string), `undefined` when it is not held. */
  blockSize(key: string): number | undefined
  /** Kept (pinned or held) roots whose DAG holds this block. */
  refs(cid: CID): number
  /** The blocks of a DAG still needed (see `missingBlocks`). */
  missing(root: CID, limit?: number): Promise<CID[]>
  /**
   * A view of the store whose reads and writes keep every block they touch from gc until `release()`: a fetch in
   * progress uses it, so neither the blocks it fetched nor those of the DAG already here go before it pins the root.
   */
  holding(): Blockstore & { release(): void }
  /** Deletes every block no pinned or held root reaches (except those an add or a fetch in progress holds), and stray files. */
  gc(): { removedBlocks: number; freedBytes: number }
  /** @throws StoreFullError when `bytes` more would not fit the quota (to refuse an upload before it starts) */
  checkRoom(bytes: number): void
  usage(): StoreUsage
  close(): void
}

/**
 * Opens the block store in `dir` (`store.db`, `blocks/`, `tmp/`), creating it (folders 0700, files 0600).
 * @throws RangeError for a bad maxBytes
 */
export function openDiskStore(dir: string, init: DiskStoreInit = {}): DiskStore {
  if (init.maxBytes !== undefined && (!Number.isSafeInteger(init.maxBytes) || init.maxBytes < 1)) throw new RangeError(`maxBytes must be a positive integer, got ${init.maxBytes}`)
  const now = init.now ?? Date.now
  const files = new BlockFiles(dir)
  const index = openStoreIndex(dir)
  let used = index.usedBytes()
  let reserved = 0
  /** Blocks written by adds still in progress and blocks being written, with how many hold each: gc leaves them. */
  const active = new Map<string, number>()
  /** Keeps gc off a block (counted: each hold needs its own release). */
  const holdKey = (key: string): void => {
    active.set(key, (active.get(key) ?? 0) + 1)
  }
  const releaseKey = (key: string): void => {
    const n = (active.get(key) ?? 1) - 1
    if (n === 0) active.delete(key)
    else active.set(key, n)
  }

  const checkRoom = (bytes: number): void => {
    if (init.maxBytes !== undefined && used + reserved + bytes > init.maxBytes) throw new StoreFullError(init.maxBytes, used + reserved, bytes)
  }

  const dropCorrupt = (key: string, size: number, problem: string): void => {
    files.remove(key)
    index.dropBlock(key)
    used -= size
    init.onCorruptBlock?.(key, problem)
  }

  /** Blocks being written now: a second put of one (the same block from two providers at once) waits for the first. */
  const writing = new Map<string, Promise<boolean>>()
  const putBlock = async (cid: CID, bytes: Uint8Array): Promise<boolean> => {
    await verifyBlock(cid, bytes)
    const key = blockKey(cid)
    if (index.blockSize(key) !== undefined) return false
    const pending = writing.get(key)
    if (pending !== undefined) {
      // Written and reserved once; if that write failed, this put tries on its own.
      await pending.catch(() => false)
      return putBlock(cid, bytes)
    }
    const write = (async () => {
      checkRoom(bytes.byteLength)
      reserved += bytes.byteLength
      // Held from gc while its file is written but not yet in the index (gc would sweep it as a stray file).
      holdKey(key)
      try {
        await files.write(key, bytes)
        if (index.addBlock(key, bytes.byteLength, now())) used += bytes.byteLength
      } finally {
        reserved -= bytes.byteLength
        releaseKey(key)
      }
      return true
    })()
    writing.set(key, write)
    try {
      return await write
    } finally {
      writing.delete(key)
    }
  }

  const getBlock = async (cid: CID): Promise<Uint8Array | undefined> => {
    const key = blockKey(cid)
    const size = index.blockSize(key)
    if (size === undefined) return undefined
    const bytes = await files.read(key)
    if (bytes === undefined) {
      dropCorrupt(key, size, 'its file is gone')
      return undefined
    }
    try {
      if (bytes.byteLength !== size) throw new Error(`its file has ${bytes.byteLength} bytes, ${size} were written`)
      await verifyBlock(cid, bytes)
    } catch (err) {
      dropCorrupt(key, size, (err as Error).message)
      return undefined
    }
    return bytes
  }

  const blockstore: Blockstore = {
    has: async (cid) => index.blockSize(blockKey(cid)) !== undefined,
    get: getBlock,
    put: async (cid, bytes) => void (await putBlock(cid, bytes)),
  }

  /**
   * Runs an add: the blocks it writes are held from gc until it ends; on failure those it newly wrote and no
   * pinned root needs are deleted again, so a refused upload leaves nothing behind.
   */
  const tracked = async <T>(run: (sink: Blockstore, keys: Set<string>, hold: (key: string) => void) => Promise<T>): Promise<T> => {
    const keys = new Set<string>()
    const fresh = new Set<string>()
    /** Adds a block to this add's DAG and keeps gc off it until the add ends. */
    const hold = (key: string): void => {
      if (keys.has(key)) return
      keys.add(key)
      holdKey(key)
    }
    const sink: Blockstore = {
      ...blockstore,
      put: async (cid, bytes) => {
        hold(blockKey(cid))
        if (await putBlock(cid, bytes)) fresh.add(blockKey(cid))
      },
    }
    try {
      return await run(sink, keys, hold)
    } catch (err) {
      for (const key of fresh) {
        if ((active.get(key) ?? 0) > 1 || index.refs(key) > 0) continue
        const size = index.blockSize(key)
        files.remove(key)
        index.dropBlock(key)
        if (size !== undefined) used -= size
      }
      throw err
    } finally {
      for (const key of keys) releaseKey(key)
    }
  }

  const record = (row: Omit<RootRow, 'pinned' | 'pinnedAt' | 'addedAt'>, pin: boolean, blocks: Iterable<string>): RootRow => {
    const at = now()
    index.putRoot({ ...row, pinned: pin, pinnedAt: pin ? at : null, addedAt: at }, blocks)
    return index.root(row.cid) as RootRow
  }

  /** Describes a DAG from its blocks (all present), listing them. */
  const describe = async (root: CID): Promise<{ row: Omit<RootRow, 'pinned' | 'pinnedAt' | 'addedAt' | 'name'>; keys: string[] }> => {
    const keys: string[] = []
    let size = 0
    let rootNode: ReturnType<typeof decodeNode> | undefined
    let rootBytes = 0
    // Leaves are not read: their sizes are in the index (a raw leaf's bytes are all file data).
    for await (const { cid, held, bytes } of walkDagStructure(blockstore, root)) {
      if (!held) throw new BlocksMissingError(root.toString(), [cid.toString()])
      const key = blockKey(cid)
      keys.push(key)
      const leafBytes = bytes === undefined ? index.blockSize(key) : undefined
      const node = bytes !== undefined ? decodeNode(cid, bytes) : undefined
      if (rootNode === undefined) {
        rootNode = node ?? { kind: 'file', cid, fileSize: leafBytes ?? 0, data: undefined, links: [] }
        rootBytes = bytes?.byteLength ?? leafBytes ?? 0
      }
      if (node === undefined) size += leafBytes ?? 0
      else if (node.kind === 'file') size += node.data?.byteLength ?? 0
    }
    const top = rootNode as ReturnType<typeof decodeNode>
    const dagSize = top.links.length === 0 ? rootBytes : rootBytes + top.links.reduce((n, l) => n + (l.Tsize ?? 0), 0)
    return { row: { cid: blockKey(root), kind: top.kind, size: top.kind === 'file' ? top.fileSize : size, dagSize, blocks: keys.length }, keys }
  }

  /** Reads and verifies one block synchronously; a torn or corrupt file is dropped and reported. */
  const getBlockSync = (cid: CID): Uint8Array | undefined => {
    const key = blockKey(cid)
    const size = index.blockSize(key)
    if (size === undefined) return undefined
    const bytes = files.readSync(key)
    if (bytes === undefined) {
      dropCorrupt(key, size, 'its file is gone')
      return undefined
    }
    let problem: string | undefined
    if (bytes.byteLength !== size) problem = `its file has ${bytes.byteLength} bytes, ${size} were written`
    else {
      const digest = sha256Sync(bytes)
      if (!equalBytes(digest, cid.multihash.digest)) problem = new BlockMismatchError(key, CID.create(cid.version, cid.code, createDigest(sha256.code, digest)).toString()).message
    }
    if (problem !== undefined) {
      dropCorrupt(key, size, problem)
      return undefined
    }
    return bytes
  }

  const store: DiskStore = {
    ...blockstore,
    addFile: (source, options = {}) =>
      tracked(async (sink, keys) => {
        const added = await addFile(source, sink, options)
        return record({ cid: blockKey(added.cid), name: options.name ?? null, kind: 'file', size: added.size, dagSize: added.dagSize, blocks: keys.size }, options.pin ?? true, keys)
      }),
    addDirectory: (entries, options = {}) =>
      tracked(async (sink, keys, hold) => {
        const children = []
        for (const e of entries) {
          const key = blockKey(e.cid)
          let child = index.root(key)
          if (child === undefined) {
            // Not a root here: described from its blocks, which must all be present.
            const d = await describe(e.cid)
            for (const k of d.keys) hold(k)
            child = { ...d.row, name: null, pinned: false, pinnedAt: null, addedAt: now() }
          } else {
            for (const k of index.rootBlocks(key)) hold(k)
          }
          children.push({ name: e.name, cid: e.cid, size: child.size, dagSize: child.dagSize })
        }
        const added = await addDirectory(children, sink)
        return record({ cid: blockKey(added.cid), name: options.name ?? null, kind: 'directory', size: added.size, dagSize: added.dagSize, blocks: keys.size }, options.pin ?? true, keys)
      }),
    importCar: (source, options = {}) =>
      tracked(async (sink) => {
        const imported = await importCar(source, sink)
        const roots: RootRow[] = []
        for (const root of imported.roots) {
          const d = await describe(root)
          roots.push(record({ ...d.row, name: null }, options.pin ?? true, d.keys))
        }
        return { roots, blocks: imported.blocks, bytes: imported.bytes }
      }),
    async exportCar(root) {
      const known = index.root(blockKey(root)) !== undefined
      const missing = known ? index.missingOf(blockKey(root)).slice(0, 1) : (await missingBlocks(blockstore, root, 1)).map(String)
      if (missing.length > 0) throw new BlocksMissingError(root.toString(), missing)
      return exportCar(blockstore, [root])
    },
    cat: (cid) => readFile(blockstore, cid),
    ls: (cid) => listDirectory(blockstore, cid),
    roots: () => index.roots(),
    async stat(cid) {
      const key = blockKey(cid)
      const row = index.root(key)
      if (row === undefined) {
        // Not a root: any complete DAG whose blocks are here, described by walking it.
        if ((await missingBlocks(blockstore, cid, 1)).length > 0) return undefined
        const d = await describe(cid)
        return { ...d.row, name: null, pinned: false, pinnedAt: null, addedAt: now(), missing: 0, ...(d.row.kind === 'directory' ? { entries: await listDirectory(blockstore, cid) } : {}) }
      }
      // A root: what is missing from the index (blocks dropped as corrupt), without reading the DAG.
      const missing = index.missingOf(key).length
      const entries = row.kind === 'directory' && missing === 0 ? { entries: await listDirectory(blockstore, cid) } : {}
      return { ...row, missing, ...entries }
    },
    async pin(cid, options = {}) {
      const key = blockKey(cid)
      const row = index.root(key)
      if (row !== undefined) {
        const missing = index.missingOf(key)
        if (missing.length > 0) throw new BlocksMissingError(key, missing.slice(0, 3))
        return record({ ...row, name: options.name ?? row.name }, true, index.rootBlocks(key))
      }
      const d = await describe(cid)
      return record({ ...d.row, name: options.name ?? null }, true, d.keys)
    },
    unpin(cid) {
      const key = blockKey(cid)
      if (index.root(key) === undefined) throw new UnknownRootError(key)
      index.unpin(key)
      return index.root(key) as RootRow
    },
    addBytesSync(bytes, options) {
      checkOwner(options.hold)
      const blocks = new Map<string, Uint8Array>()
      const added = addBytesSync(bytes, (cid, block) => void blocks.set(blockKey(cid), block), cidOfSync)
      const fresh = [...blocks].filter(([key]) => index.blockSize(key) === undefined)
      checkRoom(fresh.reduce((n, [, b]) => n + b.byteLength, 0))
      files.writeSync(fresh.map(([key, b]) => ({ key, bytes: b })))
      const key = blockKey(added.cid)
      const at = now()
      const existing = index.root(key)
      const row: RootRow = existing ?? { cid: key, name: options.name ?? null, kind: 'file', size: added.size, dagSize: added.dagSize, blocks: blocks.size, pinned: false, pinnedAt: null, addedAt: at }
      used += index.putHeldRoot(
        row,
        [...blocks].map(([cid, b]) => ({ cid, size: b.byteLength })),
        options.hold,
        at,
      )
      return added.cid
    },
    readBytesSync(root) {
      const top = getBlockSync(root)
      if (top === undefined) return undefined
      const node = decodeNode(root, top)
      if (node.kind !== 'file') throw new WrongKindError(root.toString(), 'file', node.kind)
      const out = new Uint8Array(node.fileSize)
      let at = 0
      // Depth first, in link order: a file's bytes are its own data then its children's.
      const walk = (n: ReturnType<typeof decodeNode>): boolean => {
        if (n.kind !== 'file') throw new InvalidDagError(n.cid.toString(), `a link of file ${root} is a ${n.kind}`)
        if (n.data !== undefined && n.data.byteLength > 0) {
          if (at + n.data.byteLength > out.byteLength) throw new InvalidDagError(root.toString(), `holds more than its ${out.byteLength} bytes`)
          out.set(n.data, at)
          at += n.data.byteLength
        }
        for (const link of n.links) {
          const bytes = getBlockSync(link.Hash)
          if (bytes === undefined || !walk(decodeNode(link.Hash, bytes))) return false
        }
        return true
      }
      if (!walk(node)) return undefined
      if (at !== out.byteLength) throw new InvalidDagError(root.toString(), `holds ${at} bytes, its root says ${out.byteLength}`)
      return out
    },
    hold(root, owner) {
      checkOwner(owner)
      const key = blockKey(root)
      if (index.root(key) === undefined) throw new UnknownRootError(key)
      index.hold(key, owner)
    },
    release: (root, owner) => index.release(blockKey(root), owner),
    held: (owner) => index.held(owner),
    blockSize: (key) => index.blockSize(key),
    refs: (cid) => index.refs(blockKey(cid)),
    holding() {
      const keys = new Set<string>()
      let released = false
      const hold = (cid: CID): void => {
        const key = blockKey(cid)
        if (released || keys.has(key)) return
        keys.add(key)
        holdKey(key)
      }
      return {
        has: async (cid) => {
          const here = await blockstore.has(cid)
          if (here) hold(cid)
          return here
        },
        get: async (cid) => {
          const bytes = await blockstore.get(cid)
          if (bytes !== undefined) hold(cid)
          return bytes
        },
        put: async (cid, bytes) => {
          hold(cid)
          await putBlock(cid, bytes)
        },
        release() {
          if (released) return
          released = true
          for (const key of keys) releaseKey(key)
          keys.clear()
        },
      }
    },
    missing: (root, limit) => missingBlocks(blockstore, root, limit),
    gc() {
      let removedBlocks = 0
      let freedBytes = 0
      for (const { cid, size } of index.unreferenced()) {
        if (active.has(cid)) continue
        files.remove(cid)
        index.dropBlock(cid)
        used -= size
        removedBlocks++
        freedBytes += size
      }
      // Files the index never recorded (a crash between rename and insert) are not blocks of this store.
      for (const key of files.keys()) {
        if (index.blockSize(key) === undefined && !active.has(key)) files.remove(key)
      }
      index.dropRootsWithoutBlock()
      return { removedBlocks, freedBytes }
    },
    checkRoom,
    usage() {
      const roots = index.roots()
      return { usedBytes: used, maxBytes: init.maxBytes ?? null, blocks: index.blockCount(), roots: roots.length, pinned: roots.filter((r) => r.pinned).length }
    },
    close: () => index.close(),
  }
  return store
}

/** @throws TypeError unless the owner is 1 to 32 of `[a-z0-9-]` */
function checkOwner(owner: string): void {
  if (typeof owner !== 'string' || !/^[a-z0-9-]{1,32}$/.test(owner)) throw new TypeError(`owner must be 1 to 32 characters of [a-z0-9-], got ${JSON.stringify(owner)}`)
}

function sha256Sync(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** A block's CIDv1 under `code`, hashed synchronously. */
function cidOfSync(block: Uint8Array, code: number): CID {
  return CID.createV1(code, createDigest(sha256.code, sha256Sync(block)))
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** The store's folder in a node's data directory. */
export function storeDir(dataDir: string): string {
  return join(dataDir, 'store')
}
