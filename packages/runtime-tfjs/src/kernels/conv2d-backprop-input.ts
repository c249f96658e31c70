// A faster Conv2DBackpropInput for wasm at stride 1: a forward XNNPACK convolution with the flipped filter.
import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core'
import { callWasmKernel, release, type WasmBackendLike } from './wasm-kernel-call.js'

/**
 * Wraps tfjs-backend-wasm's own Conv2DBackpropInput (a direct loop, ~5x slower than XNNPACK's convolution):
 * for stride 1, dx = conv2d_valid(pad(dy), rot180(W) with in/out channels swapped), padding dy by
 * (fh−1−top, inH−outH+fh−1−(fh−1−top)) rows and likewise columns. Other strides use the original kernel.
 */
export function conv2DBackpropInputWasmConfig(original: KernelConfig): KernelConfig {
  const fallback = original.kernelFunc
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args
    const b = backend as WasmBackendLike
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo }
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs
    if (dataFormat !== 'NHWC') return fallback(args)
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    )
    if (info.strideHeight !== 1 || info.strideWidth !== 1) return fallback(args)
    const { filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight, outWidth } = info
    const pt = fh - 1 - info.padInfo.top
    const pl = fw - 1 - info.padInfo.left
    const pb = inHeight - outHeight + fh - 1 - pt
    const pr = inWidth - outWidth + fw - 1 - pl
    if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return fallback(args)
    const owned: TensorInfo[] = []
    try {
      const flipped = callWasmKernel(b, 'Reverse', { x: filter }, { dims: [0, 1] })
      owned.push(flipped)
      const swapped = callWasmKernel(b, 'Transpose', { x: flipped }, { perm: [0, 1, 3, 2] })
      owned.push(swapped)
      let padded = dy
      if (pt + pb + pl + pr > 0) {
        padded = callWasmKernel(
          b,
          'PadV2',
          { x: dy },
          {
            paddings: [
              [0, 0],
              [pt, pb],
              [pl, pr],
              [0, 0],
            ],
            constantValue: 0,
          },
        )
        owned.push(padded)
      }
      return callWasmKernel(
        b,
        'Conv2D',
        { x: padded, filter: swapped },
        { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1, dimRoundingMode },
      )
    } finally {
      for (const t of owned) release(b, t)
    }
  }
  const config: KernelConfig = { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc }
  if (original.setupFunc !== undefined) config.setupFunc = original.setupFunc
  return Object.freeze(config)
}
