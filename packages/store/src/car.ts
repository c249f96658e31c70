// CAR v1 files (the IPLD content archive that IPFS tools read and write) from and into a block store.
import { CarBlockIterator } from '@ipld/car/iterator'
import { CarWriter } from '@ipld/car/writer'
import type { CID } from 'multiformats/cid'
import type { BlockSink, BlockSource } from './blockstore.js'
import { checkCid } from './cid.js'
import { blockKey, walkDag } from './dag-reader.js'
import { BlocksMissingError, InvalidCarError } from './errors.js'

/** The media type of a CAR file. */
export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car'

/**
 * A CAR v1 of the DAGs under `roots`, each block once, depth-first from the first root. Check that the DAGs are
 * complete first (`missingBlocks`): a block found missing while streaming ends the stream with BlocksMissingError.
 * @returns the CAR's bytes, as the consumer reads them (backpressure: blocks are read as the bytes are taken)
 */
export async function* exportCar(source: BlockSource, roots: readonly CID[]): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([...roots])
  const seen = new Set<string>()
  let failure: unknown
  const feeding = (async () => {
    try {
      for (const root of roots) {
        for await (const { cid, bytes } of walkDag(source, root)) {
          if (bytes === undefined) throw new BlocksMissingError(root.toString(), [cid.toString()])
          if (seen.has(blockKey(cid))) continue
          seen.add(blockKey(cid))
          await writer.put({ cid, bytes })
        }
      }
    } catch (err) {
      failure = err
    } finally {
      await writer.close()
    }
  })()
  for await (const chunk of out) yield chunk
  await feeding
  if (failure !== undefined) throw failure
}

/** What an import stored. */
export interface CarImport {
  readonly roots: readonly CID[]
  /** Blocks read from the CAR (each verified and stored). */
  readonly blocks: number
  /** Bytes of those blocks. */
  readonly bytes: number
}

/**
 * Reads a CAR (v1 or v2) and puts every block into `sink`, which verifies each against its CID.
 * @param onBlock - called after each stored block (progress)
 * @throws InvalidCarError for a malformed CAR or one without roots; the sink's errors (BlockMismatchError, a
 *   full quota) as they come: blocks stored before stay stored
 */
export async function importCar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: BlockSink,
  onBlock?: (cid: CID, bytes: number) => void,
): Promise<CarImport> {
  let reader: CarBlockIterator
  try {
    reader = await CarBlockIterator.fromIterable(asAsync(source))
  } catch (err) {
    throw new InvalidCarError(`not a CAR file: ${(err as Error).message}`, { cause: err })
  }
  const roots = await reader.getRoots()
  if (roots.length === 0) throw new InvalidCarError('the CAR names no root')
  for (const root of roots) checkCid(root, `the CAR's root ${root}`)
  let blocks = 0
  let bytes = 0
  const iterator = reader[Symbol.asyncIterator]()
  for (;;) {
    let next: IteratorResult<{ cid: CID; bytes: Uint8Array }>
    try {
      next = await iterator.next()
    } catch (err) {
      throw new InvalidCarError(`the CAR is malformed after ${blocks} blocks: ${(err as Error).message}`, { cause: err })
    }
    if (next.done === true) break
    await sink.put(next.value.cid, next.value.bytes)
    blocks++
    bytes += next.value.bytes.byteLength
    onBlock?.(next.value.cid, next.value.bytes.byteLength)
  }
  return { roots, blocks, bytes }
}

async function* asAsync(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) yield chunk
}
