// Reads IDX files from disk, gzip-compressed or raw (detected by the gzip magic bytes 1f 8b).
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { IdxFormatError } from '../errors.js'
import { type IdxArray, type IdxExpectation, parseIdx } from '../idx.js'

const gunzipAsync = promisify(gunzip)

/** True when `bytes` start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
}

/**
 * The IDX bytes of a file: decompressed when the file is gzip, as read otherwise.
 * @throws IdxFormatError naming the file when the gzip stream is corrupt or truncated; fs errors as they are
 */
export async function readIdxBytes(path: string): Promise<Uint8Array> {
  return decodeIdxBytes(await readFile(path), path)
}

/**
 * The IDX bytes of a file's raw content: decompressed when it is gzip, as given otherwise.
 * @param raw the file's bytes
 * @param path the file, for error messages
 * @throws IdxFormatError naming the file when the gzip stream is corrupt or truncated
 */
export async function decodeIdxBytes(raw: Uint8Array, path: string): Promise<Uint8Array> {
  if (!isGzip(raw)) return raw
  try {
    return await gunzipAsync(raw)
  } catch (err) {
    throw new IdxFormatError(path, `corrupt or truncated gzip data (${(err as Error).message})`, { cause: err })
  }
}

/**
 * Reads and parses an IDX file (gzip or raw).
 * @param path the file
 * @param expect optional dtype and dims the caller requires
 * @throws IdxFormatError naming the file and the problem; fs errors (e.g. ENOENT) as they are
 */
export async function readIdxFile(path: string, expect: IdxExpectation = {}): Promise<IdxArray> {
  return parseIdx(await readIdxBytes(path), path, expect)
}
