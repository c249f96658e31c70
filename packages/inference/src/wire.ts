// Tensors as the "lm" service carries them: little-endian int32 token ids and float32 values, copied out of (and
// into) their own buffers so a view over a larger frame never leaks the rest of it.
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Float32 values as little-endian bytes. */
export function floatsToBytes(values: Float32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength))
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true)
  return out
}

/** Little-endian bytes as float32 values. @throws RangeError when the length is not a multiple of 4 */
export function bytesToFloats(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes are not float32 values`)
  const out = new Float32Array(bytes.length / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/** Token ids as little-endian int32 bytes. */
export function tokensToBytes(tokens: Int32Array): Uint8Array {
  const out = new Uint8Array(tokens.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < tokens.length; i++) view.setInt32(i * 4, tokens[i] as number, true)
  return out
}

/** Little-endian int32 bytes as token ids. @throws RangeError when the length is not a multiple of 4 */
export function bytesToTokens(bytes: Uint8Array): Int32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes are not int32 token ids`)
  const out = new Int32Array(bytes.length / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true)
  return out
}
