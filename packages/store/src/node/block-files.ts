// Block files on disk: `blocks/<shard>/<cid>` (shard: the CID's next-to-last two characters, as IPFS's flatfs),
// written crash-safe (a temporary file in `tmp/`, fsync, rename, fsync of the folder), 0600 files in 0700 folders.
// Writes and reads go through the thread pool (node:fs/promises), so a node keeps serving and receiving while a block
// is synced to disk.
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
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

  /** Writes a block so that its final name only ever holds all of its bytes. */
  async write(key: string, bytes: Uint8Array): Promise<void> {
    const shard = join(this.#blocks, key.slice(-3, -1))
    await mkdir(shard, { recursive: true, mode: 0o700 })
    const tmp = join(this.#tmp, `${process.pid}-${this.#seq++}.tmp`)
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
