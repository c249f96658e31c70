// Block files on disk: `blocks/<shard>/<cid>` (shard: the CID's next-to-last two characters, as IPFS's flatfs),
// written crash-safe (a temporary file in `tmp/`, fsync, rename, fsync of the folder), 0600 files in 0700 folders.
// Writes and reads go through the thread pool (node:fs/promises), so a node keeps serving and receiving while a block
// is synced to disk; the synchronous writes (the FL store's, whose contract is synchronous) sync each folder once.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'

/** The files of one store directory. */
export class BlockFiles {
  readonly #blocks: string
  readonly #tmp: string
  #seq = 0

  /** Creates the folders and clears temporary files a crash left behind (never complete blocks). */
  constructor(dir: string) {
    this.#blocks = join(dir, 'blocks')
    this.#tmp = join(dir, 'tmp')
    mkdirSync(this.#blocks, { recursive: true, mode: 0o700 })
    rmSync(this.#tmp, { recursive: true, force: true })
    mkdirSync(this.#tmp, { recursive: true, mode: 0o700 })
  }

  path(key: string): string {
    return join(this.#blocks, key.slice(-3, -1), key)
  }

  /** The block's shard folder. */
  #shard(key: string): string {
    return join(this.#blocks, key.slice(-3, -1))
  }

  /** A fresh temporary file name (never a block's). */
  #tmpName(): string {
    return join(this.#tmp, `${process.pid}-${this.#seq++}.tmp`)
  }

  /** Writes a block so that its final name only ever holds all of its bytes. */
  async write(key: string, bytes: Uint8Array): Promise<void> {
    const shard = this.#shard(key)
    await mkdir(shard, { recursive: true, mode: 0o700 })
    const tmp = this.#tmpName()
    const file = await open(tmp, 'w', 0o600)
    try {
      let at = 0
      while (at < bytes.byteLength) at += (await file.write(bytes, at, bytes.byteLength - at)).bytesWritten
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(tmp, this.path(key))
    const dir = await open(shard, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  }

  /**
   * Writes blocks as `write` does, synchronously: each file written to a temporary name, synced and renamed, then
   * each folder that received one synced once. When it returns, every block is durable under its final name.
   */
  writeSync(blocks: Iterable<{ key: string; bytes: Uint8Array }>): void {
    const shards = new Set<string>()
    for (const { key, bytes } of blocks) {
      const shard = this.#shard(key)
      if (!shards.has(shard)) {
        mkdirSync(shard, { recursive: true, mode: 0o700 })
        shards.add(shard)
      }
      const tmp = this.#tmpName()
      const fd = openSync(tmp, 'w', 0o600)
      try {
        let at = 0
        while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, this.path(key))
    }
    for (const shard of shards) {
      const fd = openSync(shard, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
  }

  /** The file's bytes, read synchronously, or `undefined` when it is not there. */
  readSync(key: string): Uint8Array | undefined {
    try {
      return readFileSync(this.path(key))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** The file's bytes, or `undefined` when it is not there. */
  async read(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.path(key))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  remove(key: string): void {
    rmSync(this.path(key), { force: true })
  }

  /** Every block file's key (for gc's sweep of files the index does not know). */
  *keys(): Generator<string> {
    for (const shard of readdirSync(this.#blocks)) {
      let names: string[]
      try {
        names = readdirSync(join(this.#blocks, shard))
      } catch {
        continue
      }
      yield* names
    }
  }
}
