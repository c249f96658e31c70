// Weft's Conv2DBackpropFilter for the tfjs wasm backend (which lacks it): im2col blocks built with typed-array
// row copies in wasm memory, each multiplied on XNNPACK.
import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core'
import { callWasmKernel, release, type WasmBackendLike } from './wasm-kernel-call.js'

interface HeapBackend extends WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo
  typedArrayFromHeap(t: TensorInfo): Float32Array
}

/**
 * dW[fh, fw, ci, co] = Σ_{n, oh, ow} x[n, oh·sh + fh − top, ow·sw + fw − left, ci] · dy[n, oh, ow, co].
 *
 * im2col by filter tap: for each of the fh·fw taps, the column block of the im2col matrix, [M, ci] with
 * M = n·outH·outW, is written straight into wasm memory with one typed-array copy per output row (zeros where
 * the tap falls into padding), then dyᵀ [co, M] × block [M, ci] runs on XNNPACK (long inner axis M: full speed).
 * The fh·fw products [co, ci] are stacked and transposed to HWIO. This computes the im2col product dyᵀ·X_col
 * block by block, never materializing all of X_col and avoiding the wasm matMul's slow transposed-operand path.
 */
const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as HeapBackend
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo }
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs
  if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter on wasm supports NHWC only, got ${dataFormat}`)
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  )
  const { batchSize: n, inHeight, inWidth, inChannels: c, outChannels, outHeight, outWidth } = info
  const { filterHeight, filterWidth, strideHeight: sh, strideWidth: sw } = info
  const { top, left } = info.padInfo
  const m = n * outHeight * outWidth
  const owned: TensorInfo[] = []
  try {
    const dy2 = callWasmKernel(b, 'Reshape', { x: dy }, { shape: [m, outChannels] })
    owned.push(dy2)
    const dyT = callWasmKernel(b, 'Transpose', { x: dy2 }, { perm: [1, 0] })
    owned.push(dyT)
    const parts: TensorInfo[] = []
    for (let fi = 0; fi < filterHeight; fi++) {
      for (let fj = 0; fj < filterWidth; fj++) {
        const block = b.makeOutput([m, c], 'float32')
        owned.push(block)
        // Views taken after the allocation: growing wasm memory detaches older views.
        fillBlock(b.typedArrayFromHeap(x), b.typedArrayFromHeap(block), fi - top, fj - left)
        const part = callWasmKernel(b, 'BatchMatMul', { a: dyT, b: block }, { transposeA: false, transposeB: false })
        owned.push(part)
        parts.push(part)
      }
    }
    const stacked = parts.length === 1 ? parts[0]! : callWasmKernel(b, 'Concat', parts, { axis: 0 })
    if (parts.length !== 1) owned.push(stacked)
    const taps = callWasmKernel(b, 'Reshape', { x: stacked }, { shape: [filterHeight * filterWidth, outChannels, c] })
    owned.push(taps)
    const hwio = callWasmKernel(b, 'Transpose', { x: taps }, { perm: [0, 2, 1] })
    owned.push(hwio)
    return callWasmKernel(b, 'Reshape', { x: hwio }, { shape: [filterHeight, filterWidth, c, outChannels] })
  } finally {
    for (const t of owned) release(b, t)
  }

  /** Writes block[(n, oh, ow), ci] = x[n, oh·sh + di, ow·sw + dj, ci] (0 outside the input). */
  function fillBlock(src: Float32Array, dst: Float32Array, di: number, dj: number): void {
    // Output columns whose input column lies inside the image: ow in [owLo, owHi).
    const owLo = Math.max(0, Math.ceil(-dj / sw))
    const owHi = Math.min(outWidth, Math.floor((inWidth - 1 - dj) / sw) + 1)
    const rowLen = outWidth * c
    for (let bi = 0; bi < n; bi++) {
      for (let oh = 0; oh < outHeight; oh++) {
        const out = (bi * outHeight + oh) * rowLen
        const ih = oh * sh + di
        if (ih < 0 || ih >= inHeight || owHi <= owLo) {
          dst.fill(0, out, out + rowLen)
          continue
        }
        if (owLo > 0) dst.fill(0, out, out + owLo * c)
        if (owHi < outWidth) dst.fill(0, out + owHi * c, out + rowLen)
        const inRow = (bi * inHeight + ih) * inWidth * c
        if (sw === 1) {
          const from = inRow + (owLo + dj) * c
          dst.set(src.subarray(from, from + (owHi - owLo) * c), out + owLo * c)
        } else {
          for (let ow = owLo; ow < owHi; ow++) {
            const from = inRow + (ow * sw + dj) * c
            const to = out + ow * c
            for (let k = 0; k < c; k++) dst[to + k] = src[from + k]!
          }
        }
      }
    }
  }
}

/** Kernel registration for `Conv2DBackpropFilter` on `wasm`. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = Object.freeze({
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWasm,
})
