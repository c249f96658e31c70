// Starts a tfjs backend once per thread: wasm (SIMD on, threads off) with Weft's kernels, or cpu as fallback.
import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { registerWeftGradients } from './gradients.js'
import { registerWeftWasmKernels } from './kernels/register.js'

registerWeftGradients()
// Production mode: no debug checks, and no console hint about tfjs-node on first cpu use.
tf.enableProdMode()

export type BackendName = 'wasm' | 'cpu'

/** Outcome of starting a backend. */
export interface BackendStart {
  readonly backend: BackendName
  /** Why wasm was not used when it was asked for. */
  readonly fallbackReason?: string
}

let wasmStart: Promise<string | undefined> | undefined

/** Points the wasm backend at its .wasm files: in Node, the installed package's dist directory. */
async function configureWasmPaths(): Promise<void> {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string'
  if (!isNode) return
  const { createRequire } = await import('node:module')
  const { dirname } = await import('node:path')
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'))
  // File paths, not URLs: without platform fetch the emscripten loader reads them with fs in Node.
  setWasmPaths(`${dir}/`)
}

/** Starts wasm; resolves to undefined on success, or the reason it failed. */
function startWasm(): Promise<string | undefined> {
  wasmStart ??= (async () => {
    try {
      registerWeftWasmKernels()
      await configureWasmPaths()
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false)
      const ok = await tf.setBackend('wasm')
      return ok ? undefined : 'tf.setBackend("wasm") returned false'
    } catch (err) {
      return (err as Error).message ?? String(err)
    }
  })()
  return wasmStart
}

/**
 * Makes `preferred` the active tfjs backend, falling back to cpu (and saying why) when wasm cannot start.
 * @param preferred 'wasm' (default) or 'cpu'.
 */
export async function startBackend(preferred: BackendName = 'wasm'): Promise<BackendStart> {
  if (preferred === 'wasm') {
    const reason = await startWasm()
    if (reason === undefined) return { backend: 'wasm' }
    await tf.setBackend('cpu')
    return { backend: 'cpu', fallbackReason: `wasm backend unavailable: ${reason}` }
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the tfjs cpu backend failed to start')
  return { backend: 'cpu' }
}

/**
 * Switches the (process-global) tfjs engine to `backend` if another one is active. Synchronous once the backend
 * has started: tfjs switches before its first await when the backend is already initialized.
 */
export function useBackend(backend: BackendName): void {
  if (tf.getBackend() !== backend) void tf.setBackend(backend)
}
