// Registers the kernels Weft adds to the tfjs wasm backend: the missing Conv2DBackpropFilter, and faster
// replacements for Conv2DBackpropInput (stride 1) and MaxPoolGrad, which tfjs-backend-wasm 4.22 has but computes
// with slow per-element loops.
import { getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core'
import { conv2DBackpropFilterWasmConfig } from './conv2d-backprop-filter.js'
import { conv2DBackpropInputWasmConfig } from './conv2d-backprop-input.js'
import { maxPoolGradWasmConfig } from './max-pool-grad.js'

let registered = false

/** Registers Weft's wasm kernels once per thread; returns the names it (re)registered. */
export function registerWeftWasmKernels(): string[] {
  if (registered) return []
  registered = true
  const added: string[] = []
  if (getKernel(conv2DBackpropFilterWasmConfig.kernelName, 'wasm') === undefined) {
    registerKernel(conv2DBackpropFilterWasmConfig)
    added.push(conv2DBackpropFilterWasmConfig.kernelName)
  }
  const input = getKernel('Conv2DBackpropInput', 'wasm')
  if (input !== undefined) {
    unregisterKernel('Conv2DBackpropInput', 'wasm')
    registerKernel(conv2DBackpropInputWasmConfig(input))
    added.push('Conv2DBackpropInput')
  }
  if (getKernel('MaxPoolGrad', 'wasm') !== undefined) unregisterKernel('MaxPoolGrad', 'wasm')
  registerKernel(maxPoolGradWasmConfig)
  added.push('MaxPoolGrad')
  return added
}
