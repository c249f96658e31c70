// Measures the ML engines this node offers (a one-second matmul probe per engine, in a worker thread) for its ad.
import { Worker } from 'node:worker_threads'
import { create } from '@bufbuild/protobuf'
import type { MatmulProbeResult } from '@weft/runtime-tfjs'
import { type RuntimeOffer, RuntimeOfferSchema } from '@weft/protocol'

/** A compiled file beside this module, also when this module runs from its TypeScript source (tests): then from dist/. */
function builtSibling(file: string): URL {
  const here = import.meta.url.endsWith('.ts') ? import.meta.url.replace('/src/', '/dist/') : import.meta.url
  return new URL(file, here)
}

type ProbeMessage = { ok: true; result: MatmulProbeResult } | { ok: false; message: string }

/**
 * Runs the tfjs probe in a worker thread; resolves with the offers to advertise.
 * @throws Error when the engine cannot run at all, or `signal` aborts (the worker is terminated)
 */
export async function probeRuntimes(signal: AbortSignal): Promise<RuntimeOffer[]> {
  const worker = new Worker(builtSibling('./runtime-probe-worker.js'))
  try {
    const message = await new Promise<ProbeMessage>((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new Error('probe aborted'))
      if (signal.aborted) return onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      worker.once('message', resolve)
      worker.once('error', reject)
      worker.once('exit', (code) => reject(new Error(`runtime probe worker exited with code ${code}`)))
    })
    if (!message.ok) throw new Error(`tfjs engine probe failed: ${message.message}`)
    const { backend, gflops } = message.result
    return [create(RuntimeOfferSchema, { name: 'tfjs', backend, device: 'cpu', matmulGflops: Math.round(gflops * 10) / 10 })]
  } finally {
    await worker.terminate()
  }
}
