// IDX format parser (LeCun's MNIST container): validates the header and data length, then views or decodes the data.
import { IdxFormatError } from './errors.js'

/** IDX element types by their code in the magic number. */
export const IDX_DTYPES = Object.freeze({
  8: 'uint8', // 0x08
  9: 'int8', // 0x09
  11: 'int16', // 0x0b
  12: 'int32', // 0x0c
  13: 'float32', // 0x0d
  14: 'float64', // 0x0e
} as const)

export type IdxDtype = (typeof IDX_DTYPES)[keyof typeof IDX_DTYPES]

interface IdxDataByDtype {
  uint8: Uint8Array
  int8: Int8Array
  int16: Int16Array
  int32: Int32Array
  float32: Float32Array
  float64: Float64Array
}

/** A parsed IDX file. For uint8 and int8 the data is a view of the input bytes; other types are decoded copies. */
export type IdxArray = {
  [D in IdxDtype]: { readonly dtype: D; readonly dims: readonly number[]; readonly data: IdxDataByDtype[D] }
}[IdxDtype]

/** What the caller expects; a mismatch is an `IdxFormatError`. `null` in `dims` accepts any size there. */
export interface IdxExpectation {
  readonly dtype?: IdxDtype
  readonly dims?: readonly (number | null)[]
}

const BYTES: Record<IdxDtype, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 }

/**
 * Parses an (uncompressed) IDX file.
 * @param bytes the whole file
 * @param source the file name, used in error messages
 * @param expect optional dtype and dims the caller requires
 * @returns dtype, dims and data
 * @throws IdxFormatError naming `source` and the problem (expected vs got) for a bad magic number, unknown dtype,
 *   short header, dims other than expected, or a data length that does not match the dims
 */
export function parseIdx(bytes: Uint8Array, source: string, expect: IdxExpectation = {}): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array')
  if (typeof source !== 'string') throw new TypeError('source must be a string')
  if (bytes.length < 4) throw new IdxFormatError(source, `file is ${bytes.length} bytes, shorter than the 4-byte IDX magic number`)
  const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magic = view.getUint32(0)
  const code = bytes[2] as number
  const ndims = bytes[3] as number
  const dtype = (IDX_DTYPES as Record<number, IdxDtype | undefined>)[code]
  if (bytes[0] !== 0 || bytes[1] !== 0 || dtype === undefined || ndims === 0) {
    throw new IdxFormatError(
      source,
      `bad IDX magic number: expected 0x0000TTDD (TT a dtype code in 08,09,0b,0c,0d,0e; DD >= 1 dims), got ${hex(magic)}`,
    )
  }
  const header = 4 + 4 * ndims
  if (bytes.length < header) throw new IdxFormatError(source, `truncated header: expected ${header} bytes for ${ndims} dims, got ${bytes.length}`)
  const dims: number[] = []
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i))
  if (expect.dtype !== undefined && expect.dtype !== dtype) throw new IdxFormatError(source, `wrong dtype: expected ${expect.dtype}, got ${dtype}`)
  if (expect.dims !== undefined) {
    const ok = expect.dims.length === dims.length && expect.dims.every((d, i) => d === null || d === dims[i])
    if (!ok) {
      const want = `[${expect.dims.map((d) => (d === null ? '*' : String(d))).join(', ')}]`
      throw new IdxFormatError(source, `wrong dims: expected ${want}, got [${dims.join(', ')}]`)
    }
  }
  const count = dims.reduce((a, b) => a * b, 1)
  const want = count * BYTES[dtype]
  const got = bytes.length - header
  if (got !== want) {
    const what = got < want ? 'truncated data' : 'trailing bytes after the data'
    throw new IdxFormatError(source, `${what}: dims [${dims.join(', ')}] of ${dtype} need ${want} data bytes, got ${got}`)
  }
  const body = bytes.subarray(header)
  const frozenDims = Object.freeze(dims)
  switch (dtype) {
    case 'uint8':
      return { dtype, dims: frozenDims, data: body }
    case 'int8':
      return { dtype, dims: frozenDims, data: new Int8Array(body.buffer, body.byteOffset, body.length) }
    case 'int16':
      return { dtype, dims: frozenDims, data: Int16Array.from({ length: count }, (_, i) => view.getInt16(header + 2 * i)) }
    case 'int32':
      return { dtype, dims: frozenDims, data: Int32Array.from({ length: count }, (_, i) => view.getInt32(header + 4 * i)) }
    case 'float32':
      return { dtype, dims: frozenDims, data: Float32Array.from({ length: count }, (_, i) => view.getFloat32(header + 4 * i)) }
    case 'float64':
      return { dtype, dims: frozenDims, data: Float64Array.from({ length: count }, (_, i) => view.getFloat64(header + 8 * i)) }
    default: {
      const never: never = dtype
      throw new IdxFormatError(source, `unsupported dtype ${String(never)}`)
    }
  }
}

/**
 * Encodes an IDX file (big-endian), the inverse of `parseIdx`; used to write fixtures and small data sets.
 * @throws RangeError if `data.length` is not the product of `dims`
 */
export function encodeIdx(array: IdxArray): Uint8Array {
  const count = array.dims.reduce((a, b) => a * b, 1)
  if (array.data.length !== count) throw new RangeError(`array.data has ${array.data.length} values, dims [${array.dims.join(', ')}] need ${count}`)
  const code = Number(Object.entries(IDX_DTYPES).find(([, d]) => d === array.dtype)?.[0])
  const header = 4 + 4 * array.dims.length
  const out = new Uint8Array(header + count * BYTES[array.dtype])
  const view = new DataView(out.buffer)
  out[2] = code
  out[3] = array.dims.length
  for (const [i, d] of array.dims.entries()) view.setUint32(4 + 4 * i, d)
  for (let i = 0; i < count; i++) {
    const v = array.data[i] as number
    const at = header + i * BYTES[array.dtype]
    switch (array.dtype) {
      case 'uint8':
        view.setUint8(at, v)
        break
      case 'int8':
        view.setInt8(at, v)
        break
      case 'int16':
        view.setInt16(at, v)
        break
      case 'int32':
        view.setInt32(at, v)
        break
      case 'float32':
        view.setFloat32(at, v)
        break
      case 'float64':
        view.setFloat64(at, v)
        break
    }
  }
  return out
}
