// A faster MaxPoolGrad for wasm: one typed-array pass over wasm memory instead of the backend's per-element loop.
import {
  backend_util,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core'
import type { WasmBackendLike } from './wasm-kernel-call.js'

interface HeapBackend extends WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo
  typedArrayFromHeap(t: TensorInfo): Float32Array
}

/**
 * dx[window argmax] += dy for every pooling window (NHWC, any size, stride and padding, dilation 1). The argmax
 * is the first maximum in row-major window order, as in tfjs's cpu backend. Per output pixel the window is
 * scanned channel-block by channel-block, so memory is read sequentially.
 */
const maxPoolGradWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as HeapBackend
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo }
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  )
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info
  const { filterHeight, filterWidth } = info
  const { top, left } = info.padInfo
  const out = b.makeOutput([...input.shape], 'float32')
  // Views after the allocation: growing wasm memory detaches older views.
  const x = b.typedArrayFromHeap(input)
  const g = b.typedArrayFromHeap(dy)
  const dx = b.typedArrayFromHeap(out)
  dx.fill(0)
  const pairs = filterHeight === 2 && filterWidth === 2
  const maxVal = new Float32Array(c)
  const maxPos = new Int32Array(c)
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - top
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - left
        const gBase = ((n * outHeight + oh) * outWidth + ow) * c
        if (pairs && h0 >= 0 && h0 + 1 < inHeight && w0 >= 0 && w0 + 1 < inWidth) {
          // A 2×2 window inside the image (LeNet's and the McMahan CNN's pools): four reads per channel, no
          // scratch arrays; ~2× faster than the general scan below.
          const p00 = ((n * inHeight + h0) * inWidth + w0) * c
          const p10 = p00 + inWidth * c
          for (let k = 0; k < c; k++) {
            let pos = p00 + k
            let best = x[pos]!
            let v = x[p00 + c + k]!
            if (v > best) {
              best = v
              pos = p00 + c + k
            }
            v = x[p10 + k]!
            if (v > best) {
              best = v
              pos = p10 + k
            }
            if (x[p10 + c + k]! > best) pos = p10 + c + k
            dx[pos] = dx[pos]! + g[gBase + k]!
          }
          continue
        }
        maxVal.fill(Number.NEGATIVE_INFINITY)
        maxPos.fill(-1)
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = h0 + kh
          if (ih < 0 || ih >= inHeight) continue
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = w0 + kw
            if (iw < 0 || iw >= inWidth) continue
            const base = ((n * inHeight + ih) * inWidth + iw) * c
            for (let k = 0; k < c; k++) {
              const v = x[base + k]!
              if (v > maxVal[k]! || maxPos[k] === -1) {
                maxVal[k] = v
                maxPos[k] = base + k
              }
            }
          }
        }
        for (let k = 0; k < c; k++) {
          const p = maxPos[k]!
          if (p >= 0) dx[p] = dx[p]! + g[gBase + k]!
        }
      }
    }
  }
  return out
}

/** Kernel registration replacing tfjs-backend-wasm's `MaxPoolGrad`. */
export const maxPoolGradWasmConfig: KernelConfig = Object.freeze({
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGradWasm,
})
