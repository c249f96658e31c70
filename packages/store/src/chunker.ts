// Cuts a byte stream into fixed-size chunks (the last one shorter; an empty stream gives one empty chunk), as
// ipfs-unixfs-importer's fixed-size chunker does, copying each input byte at most once.

/**
 * @param source - the bytes, in pieces of any size
 * @param chunkSize - bytes per chunk (a positive safe integer)
 * @throws RangeError for a bad chunkSize
 */
export async function* fixedSizeChunks(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, chunkSize: number): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`)
  let buffer = new Uint8Array(chunkSize)
  let filled = 0
  let emitted = false
  for await (const piece of source) {
    let offset = 0
    while (offset < piece.byteLength) {
      const take = Math.min(chunkSize - filled, piece.byteLength - offset)
      buffer.set(piece.subarray(offset, offset + take), filled)
      filled += take
      offset += take
      if (filled === chunkSize) {
        yield buffer
        emitted = true
        buffer = new Uint8Array(chunkSize)
        filled = 0
      }
    }
  }
  if (!emitted || filled > 0) yield buffer.slice(0, filled)
}
