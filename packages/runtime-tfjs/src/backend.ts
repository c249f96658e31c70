// Starts a tfjs backend once per thread: wasm (SIMD on; threads only where asked for and the page is cross-origin
// isolated) with Weft's kernels, WebGPU where the platform has an adapter (a browser; loaded only when asked for), or
// cpu as the last fallback.
import '@tensorflow/tfjs-backend-cpu'
import * as tf from '@tensorflow/tfjs-core'
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { registerWeftGradients } from './gradients.js'
import { registerWeftWasmKernels } from './kernels/register.js'

registerWeftGradients()
// Production mode: no debug checks, and no console hint about tfjs-node on first cpu use.
tf.enableProdMode()

export type BackendName = 'wasm' | 'cpu' | 'webgpu'

/** Outcome of starting a backend. */
export interface BackendStart {
  readonly backend: BackendName
  /** Why the backend asked for was not used. */
  readonly fallbackReason?: string
  /** Threads of the wasm kernels (absent: 1). */
  readonly threads?: number
}

/** Where the wasm backend finds its binaries, and whether it may use threads. */
export interface WasmOptions {
  /**
   * URLs of the three binaries by file name (`tfjs-backend-wasm.wasm`, `tfjs-backend-wasm-simd.wasm`,
   * `tfjs-backend-wasm-threaded-simd.wasm`), or one URL prefix. Required in a browser (nothing is fetched from a
   * CDN); in Node the installed package's files are used.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>
  /**
   * Threads for the wasm kernels (a browser page that is cross-origin isolated only; Node's tfjs 4.22 cannot start
   * its blob: workers). 1 or absent: one thread.
   */
  readonly threads?: number
}

let wasmStart: Promise<string | undefined> | undefined

// A specifier in a variable: bundlers leave the import alone, and only Node ever runs it.
const NODE_MODULE = 'node:module'
const NODE_PATH = 'node:path'

/** Points the wasm backend at its .wasm files: the URLs given, or in Node the installed package's dist directory. */
async function configureWasmPaths(options: WasmOptions): Promise<void> {
  if (options.wasmPaths !== undefined) {
    setWasmPaths(options.wasmPaths as string | { [file: string]: string })
    return
  }
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string'
  if (!isNode) return
  const { createRequire } = (await import(/* @vite-ignore */ NODE_MODULE)) as typeof import('node:module')
  const { dirname } = (await import(/* @vite-ignore */ NODE_PATH)) as typeof import('node:path')
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'))
  // File paths, not URLs: without platform fetch the emscripten loader reads them with fs in Node.
  setWasmPaths(`${dir}/`)
}

/** Starts wasm; resolves to undefined on success, or the reason it failed. */
function startWasm(options: WasmOptions): Promise<string | undefined> {
  wasmStart ??= (async () => {
    try {
      registerWeftWasmKernels()
      await configureWasmPaths(options)
      const threads = options.threads ?? 1
      const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
      if (threads > 1 && isolated) setThreadsCount(threads)
      else tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false)
      const ok = await tf.setBackend('wasm')
      return ok ? undefined : 'tf.setBackend("wasm") returned false'
    } catch (err) {
      return (err as Error).message ?? String(err)
    }
  })()
  return wasmStart
}

let webgpuStart: Promise<string | undefined> | undefined

/** Starts WebGPU; resolves to undefined on success, or the reason it failed (no navigator.gpu, no adapter). */
function startWebgpu(): Promise<string | undefined> {
  webgpuStart ??= (async () => {
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu
    if (gpu === undefined) return 'this platform has no WebGPU (no navigator.gpu)'
    try {
      if ((await gpu.requestAdapter()) === null) return 'WebGPU has no adapter here'
      // Loaded only when asked for (a bundler makes it a chunk of its own; Node never gets here: it has no navigator.gpu).
      await import('@tensorflow/tfjs-backend-webgpu')
      const ok = await tf.setBackend('webgpu')
      return ok ? undefined : 'tf.setBackend("webgpu") returned false'
    } catch (err) {
      return (err as Error).message ?? String(err)
    }
  })()
  return webgpuStart
}

/**
 * Makes `preferred` the active tfjs backend, falling back (and saying why) from WebGPU to wasm and from wasm to cpu.
 * @param preferred 'wasm' (default), 'webgpu' or 'cpu'.
 * @param options where the wasm binaries are and the threads wanted (the first start in a thread decides)
 */
export async function startBackend(preferred: BackendName = 'wasm', options: WasmOptions = {}): Promise<BackendStart> {
  if (preferred === 'webgpu') {
    const reason = await startWebgpu()
    if (reason === undefined) return { backend: 'webgpu' }
    const fallback = await startBackend('wasm', options)
    return { ...fallback, fallbackReason: `webgpu backend unavailable: ${reason}${fallback.fallbackReason === undefined ? '' : `; ${fallback.fallbackReason}`}` }
  }
  if (preferred === 'wasm') {
    const reason = await startWasm(options)
    if (reason === undefined) {
      const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? getThreadsCount() : 1
      return threads > 1 ? { backend: 'wasm', threads } : { backend: 'wasm' }
    }
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
