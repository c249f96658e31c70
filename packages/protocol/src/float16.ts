// IEEE 754 binary16 conversion helpers (round to nearest, ties to even; NaN and infinities preserved).

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** The binary16 bit pattern nearest to `value`. */
export function toFloat16Bits(value: number): number {
  f32[0] = value
  const x = u32[0] as number
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) {
    return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0)
  }
  const e = exp - 127 + 15
  if (e >= 0x1f) {
    return sign | 0x7c00
  }
  if (e <= 0) {
    if (e < -11) {
      return sign
    }
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) {
      half++
    }
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) {
    half++ // a carry into the exponent is correct rounding (up to infinity)
  }
  return sign | half
}

/** The number a binary16 bit pattern stands for. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const e = (bits >>> 10) & 0x1f
  const m = bits & 0x3ff
  if (e === 0) {
    return sign * m * 2 ** -24
  }
  if (e === 0x1f) {
    return m !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY
  }
  return sign * (1 + m / 1024) * 2 ** (e - 15)
}

/** Convert float32 values to binary16 bit patterns (the `float16` dtype's storage). */
export function float32ToFloat16(values: Float32Array | readonly number[]): Uint16Array {
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) {
    out[i] = toFloat16Bits(values[i] as number)
  }
  return out
}

/** Convert binary16 bit patterns to float32 values (exact: every binary16 value is a float32 value). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) {
    out[i] = fromFloat16Bits(bits[i] as number)
  }
  return out
}
