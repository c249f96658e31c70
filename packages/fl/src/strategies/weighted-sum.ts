// Streaming weighted sum of float32 deltas in float64: the hot path of every mean-type strategy.
//
// Precision: the sum is kept in float64, so its rounding error stays near 1e-16 (relative) however many
// updates are folded, and the only float32 rounding is the strategy's final one. A float32 running mean
// would save memory traffic but drifts by ~n·2^-24 over n updates and depends on the arrival order.
//
// Speed: V8 does not vectorize, and a plain JS loop takes 3-10× the time of copying the same bytes
// (measured in benchmarks/fl-aggregation.mjs). Large models therefore go through a 178-byte WebAssembly
// SIMD kernel (f32x4 → two f64x2 multiply-adds per step): each delta is copied into wasm memory in 256 KiB
// chunks that stay in L2, and the kernel folds the chunk into the float64 sum there. Small models, and
// hosts without WebAssembly SIMD (or whose CSP forbids compiling it), use the plain loop, with identical
// results up to float64 rounding.

/** A float64 accumulator of `weight × delta` over float32 deltas of one length. */
export interface WeightedSum {
  /** Adds `weight × delta`; keeps no reference to `delta`. `delta.length` must be the accumulator's. */
  add(delta: Float32Array, weight: number): void
  /** The running sum (valid until `release`). */
  readonly sum: Float64Array
  /** Hands the memory back for the next round's accumulator; neither `sum` nor `add` may be used after. */
  release(): void
}

/** Below this many parameters the plain loop is as fast as setting up wasm memory. */
const WASM_MIN_LENGTH = 4096
/** Floats per chunk copied into wasm memory: 256 KiB, small enough to stay in L2 while the kernel reads it. */
const CHUNK = 65536
/** Largest wasm memory this module asks for (2 GiB); larger models use the plain loop. */
const WASM_MAX_BYTES = 2 ** 31
const WASM_PAGE = 65536

/**
 * Idle wasm accumulators kept for the next round. Fresh wasm memory is expensive on first touch (about 70 ms
 * for the 13 MB of a 1.7M-parameter model on a 2-core VM, more than the whole aggregation), zeroing a used
 * one costs well under a millisecond. At most POOL_SIZE are kept, POOL_MAX_BYTES in all.
 */
const pool: WasmSum[] = []
const POOL_SIZE = 2
const POOL_MAX_BYTES = 2 ** 30

/**
 * Creates an accumulator of `length` float64 zeros.
 * @param length parameter count (positive integer, checked by the caller)
 */
export function weightedSum(length: number): WeightedSum {
  const bytes = length * 8 + CHUNK * 4
  if (length >= WASM_MIN_LENGTH && bytes <= WASM_MAX_BYTES) {
    const reused = pool.findIndex((w) => w.length === length)
    if (reused >= 0) {
      const w = pool.splice(reused, 1)[0]!
      w.sum.fill(0)
      return w.handle()
    }
    const kernel = simdKernel()
    if (kernel !== undefined) return new WasmSum(kernel, length).handle()
  }
  return plainWeightedSum(length)
}

function plainWeightedSum(length: number): WeightedSum {
  const sum = new Float64Array(length)
  return {
    sum,
    add(delta, weight) {
      for (let i = 0; i < length; i++) sum[i] = sum[i]! + weight * delta[i]!
    },
    release() {},
  }
}

/** A float64 sum in wasm memory, with a staging area for one chunk of float32 delta. */
class WasmSum {
  readonly length: number
  readonly sum: Float64Array
  readonly bytes: number
  readonly #staging: Float32Array
  readonly #stagingByte: number
  readonly #axpy: Axpy

  constructor(kernel: SimdKernel, length: number) {
    this.length = length
    this.#stagingByte = length * 8
    this.bytes = this.#stagingByte + CHUNK * 4
    const { memory, axpy } = kernel.instantiate(Math.ceil(this.bytes / WASM_PAGE))
    this.#axpy = axpy
    this.sum = new Float64Array(memory.buffer, 0, length)
    this.#staging = new Float32Array(memory.buffer, this.#stagingByte, CHUNK)
  }

  add(delta: Float32Array, weight: number): void {
    const { length, sum } = this
    const vectorEnd = length - (length % 4)
    for (let start = 0; start < vectorEnd; start += CHUNK) {
      const end = Math.min(vectorEnd, start + CHUNK)
      this.#staging.set(delta.subarray(start, end))
      this.#axpy(start * 8, this.#stagingByte, end - start, weight)
    }
    for (let i = vectorEnd; i < length; i++) sum[i] = sum[i]! + weight * delta[i]!
  }

  /** A single-use handle: `release` returns the memory to the pool once, and the handle refuses use after. */
  handle(): WeightedSum {
    let live = true
    return {
      sum: this.sum,
      add: (delta, weight) => {
        if (!live) throw new Error('weighted sum used after release')
        this.add(delta, weight)
      },
      release: () => {
        if (!live) return
        live = false
        if (pool.length >= POOL_SIZE) pool.shift()
        if (pool.reduce((b, w) => b + w.bytes, this.bytes) <= POOL_MAX_BYTES) pool.push(this)
      },
    }
  }
}

// --- The WebAssembly kernel --------------------------------------------------------------------------
// The tsconfig carries no DOM lib, so the few WebAssembly members used here are typed locally.

interface WasmMemory {
  readonly buffer: ArrayBuffer
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> }
  Memory: new (descriptor: { initial: number }) => WasmMemory
}
/** `axpy(accByte, srcByte, n, w)`: acc[k] += w · src[k] for k < n (n a multiple of 4), acc float64, src float32. */
type Axpy = (accByte: number, srcByte: number, n: number, w: number) => void
interface SimdKernel {
  instantiate(pages: number): { memory: WasmMemory; axpy: Axpy }
}

let kernelCache: SimdKernel | null | undefined

/** The compiled kernel, or undefined where WebAssembly SIMD is unavailable. Compiled once, on first use. */
function simdKernel(): SimdKernel | undefined {
  if (kernelCache === undefined) kernelCache = compileKernel()
  return kernelCache ?? undefined
}

function compileKernel(): SimdKernel | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly
  if (wasm === undefined) return null
  try {
    const bytes = kernelModuleBytes()
    if (!wasm.validate(bytes)) return null
    const module = new wasm.Module(bytes)
    return {
      instantiate(pages) {
        const memory = new wasm.Memory({ initial: pages })
        const { exports } = new wasm.Instance(module, { e: { m: memory } })
        return { memory, axpy: exports['axpy'] as Axpy }
      },
    }
  } catch {
    return null // e.g. a Content-Security-Policy without 'wasm-unsafe-eval'
  }
}

// Opcodes (WebAssembly core spec 2.0, with the fixed-width SIMD proposal).
const I32 = 0x7f
const F64 = 0x7c
const V128 = 0x7b
const BLOCK = 0x02
const LOOP = 0x03
const BR_IF = 0x0d
const END = 0x0b
const VOID = 0x40
const LOCAL_GET = 0x20
const LOCAL_SET = 0x21
const LOCAL_TEE = 0x22
const I32_CONST = 0x41
const I32_LT_U = 0x49
const I32_GE_U = 0x4f
const I32_ADD = 0x6a
const I32_SHL = 0x74
const SIMD = 0xfd
// SIMD sub-opcodes, LEB128-encoded after the 0xfd prefix.
const V128_LOAD = [SIMD, 0x00]
const V128_STORE = [SIMD, 0x0b]
const I8X16_SHUFFLE = [SIMD, 0x0d]
const F64X2_SPLAT = [SIMD, 0x14]
const F64X2_PROMOTE_LOW_F32X4 = [SIMD, 0x5f]
const F64X2_ADD = [SIMD, 0xf0, 0x01]
const F64X2_MUL = [SIMD, 0xf2, 0x01]
/** memarg: alignment exponent, then byte offset. */
const mem = (align: number, offset: number) => [align, offset]

/**
 * The module, assembled by hand (no toolchain dependency). Its text format:
 *
 *   (module
 *     (import "e" "m" (memory 1))
 *     (func (export "axpy") (param $acc i32) (param $src i32) (param $n i32) (param $w f64)
 *       (local $end i32) (local $wv v128) (local $x v128)
 *       (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
 *       (local.set $wv (f64x2.splat (local.get $w)))
 *       (block (br_if 0 (i32.ge_u (local.get $src) (local.get $end)))
 *         (loop
 *           (local.set $x (v128.load align=4 (local.get $src)))                     ;; 4 float32
 *           (v128.store offset=0 (local.get $acc) (f64x2.add (v128.load offset=0 (local.get $acc))
 *             (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x)) (local.get $wv))))
 *           (v128.store offset=16 (local.get $acc) (f64x2.add (v128.load offset=16 (local.get $acc))
 *             (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8..15 0..7 (local.get $x) (local.get $x)))
 *               (local.get $wv))))
 *           (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
 *           (br_if 0 (i32.lt_u (local.tee $src (i32.add (local.get $src) (i32.const 16))) (local.get $end))))))
 */
function kernelModuleBytes(): Uint8Array {
  const [acc, src, n, w, end, wv, x] = [0, 1, 2, 3, 4, 5, 6]
  const get = (i: number) => [LOCAL_GET, i]
  const accumulate = (offset: number, lanes: number[]) => [
    ...get(acc),
    ...get(acc),
    ...V128_LOAD,
    ...mem(3, offset),
    ...lanes,
    ...F64X2_PROMOTE_LOW_F32X4,
    ...get(wv),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...V128_STORE,
    ...mem(3, offset),
  ]
  const body = [
    ...[2, 1, I32, 2, V128], // locals: 2 groups, 1 × i32 then 2 × v128
    ...get(src), ...get(n), I32_CONST, 2, I32_SHL, I32_ADD, LOCAL_SET, end,
    ...get(w), ...F64X2_SPLAT, LOCAL_SET, wv,
    BLOCK, VOID,
    ...get(src), ...get(end), I32_GE_U, BR_IF, 0,
    LOOP, VOID,
    ...get(src), ...V128_LOAD, ...mem(2, 0), LOCAL_SET, x,
    ...accumulate(0, get(x)),
    ...accumulate(16, [...get(x), ...get(x), ...I8X16_SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]),
    ...get(acc), I32_CONST, 32, I32_ADD, LOCAL_SET, acc,
    ...get(src), I32_CONST, 16, I32_ADD, LOCAL_TEE, src, ...get(end), I32_LT_U, BR_IF, 0,
    END, END, END,
  ]
  const utf8 = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))]
  const section = (id: number, ...items: number[][]) => {
    const content = [...uleb(items.length), ...items.flat()]
    return [id, ...uleb(content.length), ...content]
  }
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, [0x60, 4, I32, I32, I32, F64, 0]), // type 0: (i32 i32 i32 f64) -> ()
    ...section(2, [...utf8('e'), ...utf8('m'), 0x02, 0x00, 1]), // import memory e.m, min 1 page
    ...section(3, [0]), // function 0 has type 0
    ...section(7, [...utf8('axpy'), 0x00, 0]), // export function 0 as "axpy"
    ...section(10, [...uleb(body.length), ...body]), // code
  ])
}

function uleb(value: number): number[] {
  const out: number[] = []
  let v = value
  do {
    const byte = v & 0x7f
    v >>>= 7
    out.push(v === 0 ? byte : byte | 0x80)
  } while (v !== 0)
  return out
}

/**
 * `global + scale · sum` as a new float32 array (one rounding per parameter).
 * @param global the round's base model
 * @param sum a float64 weighted sum of deltas, as long as `global`
 * @param scale e.g. serverLr / Σ weights
 */
export function addScaled(global: Float32Array, sum: Float64Array, scale: number): Float32Array {
  const n = global.length
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = global[i]! + scale * sum[i]!
  return out
}
