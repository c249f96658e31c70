// Worker thread body of the runtime probe: measures the tfjs engine off the node's main thread.
import { parentPort } from 'node:worker_threads'
import { measureMatmulGflops } from '@weft/runtime-tfjs'

try {
  parentPort?.postMessage({ ok: true, result: await measureMatmulGflops({ backend: 'wasm', durationMs: 1000 }) })
} catch (err) {
  parentPort?.postMessage({ ok: false, message: (err as Error).message })
}
