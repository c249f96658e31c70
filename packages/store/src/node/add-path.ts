// Adds a local file, or a directory tree, to a disk store: each file streamed in, each directory built over its
// entries bottom-up, only the top root pinned.
import { createReadStream, lstatSync, readdirSync } from 'node:fs'
import { basename, join } from 'node:path'
import { CID } from 'multiformats/cid'
import type { AddOptions, DiskStore, RootRow } from './disk-store.js'

/**
 * @param path - a regular file, or with `recursive` a directory (symbolic links and other special files are skipped)
 * @throws Error for a directory without `recursive`; the store's errors
 */
export async function addPath(store: DiskStore, path: string, options: AddOptions & { recursive?: boolean } = {}): Promise<RootRow> {
  const stat = lstatSync(path)
  const name = options.name ?? basename(path)
  if (stat.isFile()) return store.addFile(createReadStream(path), { ...options, name })
  if (!stat.isDirectory()) throw new Error(`${path} is neither a regular file nor a directory`)
  if (options.recursive !== true) throw new Error(`${path} is a directory: add it with recursive (weft store put --recursive)`)
  const entries: { name: string; cid: CID }[] = []
  for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile() && !entry.isDirectory()) continue
    const child = await addPath(store, join(path, entry.name), { recursive: true, pin: false, name: entry.name })
    entries.push({ name: entry.name, cid: CID.parse(child.cid) })
  }
  return store.addDirectory(entries, { ...options, name })
}
