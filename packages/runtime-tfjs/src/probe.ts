// Throughput probe: how many GFLOP/s of float32 matrix multiply this engine sustains here (for resource ads).
import * as tf from '@tensorflow/tfjs-core'
import { type BackendName, startBackend } from './backend.js'

export interface MatmulProbeInit {
  /** Backend to measure (default 'wasm'; falls back to cpu like the engine does). */
  readonly backend?: BackendName
  /** Measure for about this long (default 1000 ms). */
  readonly durationMs?: number
  /** Square matrix size (default 256: the size of a wide dense layer's batch product). */
  readonly size?: number
}

export interface MatmulProbeResult {
  readonly backend: BackendName
  readonly gflops: number
  readonly iterations: number
  readonly seconds: number
  readonly fallbackReason?: string
}

/**
 * Multiplies two `size`×`size` float32 matrices repeatedly for `durationMs` (after one warm-up) and reports the
 * sustained rate. Blocks the thread it runs on: call it from a worker.
 */
export async function measureMatmulGflops(init: MatmulProbeInit = {}): Promise<MatmulProbeResult> {
  const size = init.size ?? 256
  const durationMs = init.durationMs ?? 1000
  if (!Number.isInteger(size) || size < 8 || size > 4096) throw new RangeError(`size must be an integer in [8, 4096], got ${size}`)
  if (!(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`)
  const started = await startBackend(init.backend ?? 'wasm')
  const a = tf.randomUniform([size, size], -1, 1, 'float32', 1)
  const b = tf.randomUniform([size, size], -1, 1, 'float32', 2)
  try {
    tf.tidy(() => tf.matMul(a, b)).dataSync()
    let iterations = 0
    const t0 = performance.now()
    while (performance.now() - t0 < durationMs) {
      const c = tf.matMul(a, b)
      c.dataSync()
      c.dispose()
      iterations++
    }
    const seconds = (performance.now() - t0) / 1000
    return {
      backend: started.backend,
      gflops: (2 * size ** 3 * iterations) / seconds / 1e9,
      iterations,
      seconds,
      ...(started.fallbackReason !== undefined ? { fallbackReason: started.fallbackReason } : {}),
    }
  } finally {
    a.dispose()
    b.dispose()
  }
}
