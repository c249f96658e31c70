// Block files on disk: `blocks/<shard>/<cid>` (shard: the CID's next-to-last two characters, as IPFS's flatfs),
// written crash-safe (a temporary file in `tmp/`, fsync, rename, fsync of the folder), 0600 files in 0700 folders.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
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
  write(key: string, bytes: Uint8Array): void {
    const shard = join(this.#blocks, key.slice(-3, -1))
    mkdirSync(shard, { recursive: true, mode: 0o700 })
    const tmp = join(this.#tmp, `${process.pid}-${this.#seq++}.tmp`)
    const fd = openSync(tmp, 'w', 0o600)
    try {
      let at = 0
      while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path(key))
    const dirFd = openSync(shard, 'r')
    try {
      fsyncSync(dirFd)
    } finally {
      closeSync(dirFd)
    }
  }

  /** The file's bytes, or `undefined` when it is not there. */
  read(key: string): Uint8Array | undefined {
    try {
      return readFileSync(this.path(key))
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
