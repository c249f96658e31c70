// Model artifacts: spec, parameter list and float32 weights in one self-describing binary, named by its SHA-256.
//
// Layout (all integers little-endian):
//   0  8 bytes  magic "WEFTMDL\0"
//   8  u32      format version (1)
//  12  u32      header length H in bytes
//  16  H bytes  UTF-8 JSON header {spec, params: [{name, shape}], dtype: "float32", count}
//      0-3      zero bytes so the weights start at a multiple of 4
//      4·count  raw little-endian float32 weights, in `params` order
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  ArtifactHeaderError,
  ArtifactMagicError,
  ArtifactShapeError,
  ArtifactTruncatedError,
  ArtifactVersionError,
} from './errors.js'
import { type ModelSpec, parseModelSpec } from './model-spec.js'
import { checkParams } from './params.js'
import { type ParamInfo, paramInfo, shapeSize } from './registry.js'

export const ARTIFACT_MAGIC: Uint8Array = new Uint8Array([0x57, 0x45, 0x46, 0x54, 0x4d, 0x44, 0x4c, 0x00])
export const ARTIFACT_VERSION = 1
const FIXED = 16
const MAX_HEADER = 1 << 20

/** A model with its weights. */
export interface ModelArtifact {
  readonly spec: ModelSpec
  readonly params: readonly ParamInfo[]
  readonly weights: Float32Array
}

/** An artifact as read back, with its content id. */
export interface DecodedArtifact extends ModelArtifact {
  /** SHA-256 of the artifact bytes, lower-case hex. */
  readonly id: string
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Content id of artifact bytes: SHA-256, hex. */
export function artifactId(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes))
}

/**
 * Serializes a model.
 * @returns the bytes and their content id.
 * @throws ArtifactShapeError when `params` does not match what `spec` implies; ParamsLengthError /
 *   NonFiniteParamError when `weights` does not fit.
 */
export function encodeModelArtifact(artifact: ModelArtifact): { bytes: Uint8Array; id: string } {
  const spec = parseModelSpec(artifact.spec)
  checkShapes(spec, artifact.params)
  checkParams(artifact.weights, artifact.params)
  const header = new TextEncoder().encode(
    JSON.stringify({
      spec,
      params: artifact.params.map((p) => ({ name: p.name, shape: p.shape })),
      dtype: 'float32',
      count: artifact.weights.length,
    }),
  )
  const start = align4(FIXED + header.length)
  const bytes = new Uint8Array(start + artifact.weights.length * 4)
  const view = new DataView(bytes.buffer)
  bytes.set(ARTIFACT_MAGIC, 0)
  view.setUint32(8, ARTIFACT_VERSION, true)
  view.setUint32(12, header.length, true)
  bytes.set(header, FIXED)
  if (littleEndian) {
    bytes.set(new Uint8Array(artifact.weights.buffer, artifact.weights.byteOffset, artifact.weights.byteLength), start)
  } else {
    for (let i = 0; i < artifact.weights.length; i++) view.setFloat32(start + 4 * i, artifact.weights[i]!, true)
  }
  return { bytes, id: artifactId(bytes) }
}

/**
 * Parses artifact bytes, checking magic, version, sizes, shapes and finiteness.
 * @throws ArtifactMagicError, ArtifactVersionError, ArtifactTruncatedError, ArtifactHeaderError,
 *   ArtifactShapeError, each naming what was wrong; NonFiniteParamError for NaN/Infinity weights.
 */
export function decodeModelArtifact(bytes: Uint8Array): DecodedArtifact {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array')
  if (bytes.length < FIXED) throw new ArtifactTruncatedError(`artifact is ${bytes.length} bytes; the fixed header alone is ${FIXED}`)
  for (let i = 0; i < ARTIFACT_MAGIC.length; i++) {
    if (bytes[i] !== ARTIFACT_MAGIC[i]) throw new ArtifactMagicError('not a Weft model artifact: bad magic (expected "WEFTMDL\\0")')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(8, true)
  if (version !== ARTIFACT_VERSION) {
    throw new ArtifactVersionError(`artifact format version ${version} is not supported (expected ${ARTIFACT_VERSION})`)
  }
  const headerLength = view.getUint32(12, true)
  if (headerLength > MAX_HEADER) throw new ArtifactHeaderError(`artifact header length ${headerLength} exceeds ${MAX_HEADER}`)
  if (bytes.length < FIXED + headerLength) {
    throw new ArtifactTruncatedError(`artifact is ${bytes.length} bytes; its header ends at byte ${FIXED + headerLength}`)
  }
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(FIXED, FIXED + headerLength)))
  } catch (cause) {
    throw new ArtifactHeaderError('artifact header is not valid UTF-8 JSON', { cause })
  }
  if (typeof header !== 'object' || header === null) throw new ArtifactHeaderError('artifact header must be a JSON object')
  const h = header as Record<string, unknown>
  if (h['dtype'] !== 'float32') throw new ArtifactHeaderError(`artifact dtype ${JSON.stringify(h['dtype'])} is not supported (expected "float32")`)
  let spec: ModelSpec
  try {
    spec = parseModelSpec(h['spec'])
  } catch (cause) {
    throw new ArtifactHeaderError(`artifact spec is invalid: ${(cause as Error).message}`, { cause })
  }
  const params = parseParamList(h['params'])
  checkShapes(spec, params)
  const count = params.reduce((n, p) => n + shapeSize(p.shape), 0)
  if (h['count'] !== count) throw new ArtifactHeaderError(`artifact header count ${JSON.stringify(h['count'])} does not match its params (${count})`)
  const start = align4(FIXED + headerLength)
  const expectedLength = start + 4 * count
  if (bytes.length !== expectedLength) {
    throw new ArtifactTruncatedError(`artifact is ${bytes.length} bytes; ${count} float32 weights need exactly ${expectedLength}`)
  }
  const weights = new Float32Array(count)
  for (let i = 0; i < count; i++) weights[i] = view.getFloat32(start + 4 * i, true)
  checkParams(weights, params)
  return { spec, params, weights, id: artifactId(bytes) }
}

function parseParamList(v: unknown): ParamInfo[] {
  if (!Array.isArray(v)) throw new ArtifactHeaderError('artifact header params must be an array')
  return v.map((p, i) => {
    const o = p as Record<string, unknown> | null
    const shape = o?.['shape']
    if (
      typeof o?.['name'] !== 'string' ||
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0)
    ) {
      throw new ArtifactHeaderError(`artifact header params[${i}] must be {name: string, shape: positive integers}`)
    }
    return { name: o['name'] as string, shape: shape as number[] }
  })
}

function checkShapes(spec: ModelSpec, params: readonly ParamInfo[]): void {
  const expected = paramInfo(spec)
  if (params.length !== expected.length) {
    throw new ArtifactShapeError(`${spec.architecture} has ${expected.length} parameter tensors; artifact lists ${params.length}`)
  }
  expected.forEach((e, i) => {
    const p = params[i]!
    if (p.name !== e.name || p.shape.length !== e.shape.length || p.shape.some((d, j) => d !== e.shape[j])) {
      throw new ArtifactShapeError(
        `parameter ${i} is ${p.name} ${JSON.stringify(p.shape)}; ${spec.architecture} expects ${e.name} ${JSON.stringify(e.shape)}`,
      )
    }
  })
}

function align4(n: number): number {
  return (n + 3) & ~3
}
