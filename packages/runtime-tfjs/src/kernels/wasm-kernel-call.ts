// Calls registered wasm kernels directly from inside another kernel, with explicit disposal of intermediates.
import { getKernel, type KernelBackend, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core'

/** The parts of the wasm backend a kernel needs (the backend class itself is not exported as a type we rely on). */
export interface WasmBackendLike extends KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean
}

/**
 * Runs kernel `name` registered for `wasm` on `inputs`.
 * @throws Error when the kernel is not registered.
 */
export function callWasmKernel(
  backend: WasmBackendLike,
  name: string,
  inputs: Record<string, TensorInfo> | TensorInfo[],
  attrs: Record<string, unknown>,
): TensorInfo {
  const kernel = getKernel(name, 'wasm')
  if (kernel === undefined) throw new Error(`kernel ${name} is not registered for the wasm backend`)
  const out = kernel.kernelFunc({
    inputs: inputs as unknown as Record<string, TensorInfo>,
    backend,
    attrs: attrs as unknown as NamedAttrMap,
  })
  if (Array.isArray(out)) throw new Error(`kernel ${name} returned several outputs`)
  return out
}

/** Releases an intermediate produced by `callWasmKernel`. */
export function release(backend: WasmBackendLike, t: TensorInfo): void {
  backend.disposeData(t.dataId)
}
