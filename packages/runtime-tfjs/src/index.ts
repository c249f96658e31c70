// Public API of @weft/runtime-tfjs (hand-written list of exports).
export { type BackendName, type BackendStart, startBackend, type WasmOptions } from './backend.js'
export { conv2DBackpropFilterWasmConfig } from './kernels/conv2d-backprop-filter.js'
export { registerWeftWasmKernels } from './kernels/register.js'
export { SessionClosedError } from './errors.js'
export { createInThreadPool, type InThreadPoolInit } from './in-thread-pool.js'
export { type TfjsRuntime, type TfjsRuntimeComponents, type TfjsRuntimeInit, type TrainingStep, tfjsRuntime } from './tfjs-runtime.js'
export { type MatmulProbeInit, type MatmulProbeResult, measureMatmulGflops } from './probe.js'
