// A whole file of the block store in memory, for artifacts read at once (models, checkpoints).
import type { CID } from '@weft/store'
import type { DiskStore } from '@weft/store/node'

/**
 * The bytes of a complete file root whose size its stat gave (the caller checks kind and size against its own bound
 * first); every block is verified as the store reads it.
 * @throws Error when the file holds more bytes than `size`
 */
export async function readStoredFile(store: DiskStore, root: CID, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size)
  let at = 0
  for await (const chunk of store.cat(root)) {
    if (at + chunk.byteLength > out.byteLength) throw new Error(`${root} holds more bytes than its ${size}`)
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}
