// CIDs as this store uses them: CIDv1, dag-pb or raw codec, sha2-256; parsing user input and verifying blocks.
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { BlockMismatchError, BlockTooLargeError, InvalidCidError } from './errors.js'
import { MAX_BLOCK_BYTES } from './layout.js'

export { CID }

/** The codecs of the blocks a UnixFS DAG is made of. */
export const DAG_PB_CODE = dagPb.code
export const RAW_CODE = raw.code

/**
 * Parses a CID from user or peer input, and checks it is one this store holds.
 * @param input - a CID string (CIDv1 base32 `bafy…`/`bafk…`, or CIDv0 `Qm…`)
 * @returns the CID (v0 CIDs are kept as given: their blocks are the same dag-pb bytes)
 * @throws InvalidCidError naming what is wrong
 */
export function parseCid(input: string): CID {
  if (typeof input !== 'string' || input.length === 0 || input.length > 200) throw new InvalidCidError(String(input), 'expected a CID string of at most 200 characters')
  let cid: CID
  try {
    cid = CID.parse(input.trim())
  } catch (err) {
    throw new InvalidCidError(input, (err as Error).message, { cause: err })
  }
  checkCid(cid, input)
  return cid
}

/** @throws InvalidCidError when the codec or hash is not one this store holds */
export function checkCid(cid: CID, label = cid.toString()): void {
  if (cid.code !== DAG_PB_CODE && cid.code !== RAW_CODE) throw new InvalidCidError(label, `codec 0x${cid.code.toString(16)} is not dag-pb (0x70) or raw (0x55)`)
  if (cid.multihash.code !== sha256.code) throw new InvalidCidError(label, `hash 0x${cid.multihash.code.toString(16)} is not sha2-256 (0x12)`)
}

/** The CID of `bytes` under `codeC` (raw for leaves, dag-pb for nodes), version 1. */
export async function cidOf(bytes: Uint8Array, code: number): Promise<CID> {
  return CID.createV1(code, await sha256.digest(bytes))
}

/**
 * Checks that `bytes` are the block `cid` names.
 * @throws BlockTooLargeError past MAX_BLOCK_BYTES, BlockMismatchError when the hash differs, InvalidCidError for a
 *   codec or hash this store does not hold
 */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<void> {
  checkCid(cid)
  if (bytes.byteLength > MAX_BLOCK_BYTES) throw new BlockTooLargeError(cid.toString(), bytes.byteLength, MAX_BLOCK_BYTES)
  const digest = await sha256.digest(bytes)
  if (!equalBytes(digest.digest, cid.multihash.digest)) {
    throw new BlockMismatchError(cid.toString(), CID.create(cid.version, cid.code, digest).toString())
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
