// The ML engines of a node: tfjs-wasm worker threads everywhere, PyTorch worker processes where Python has torch.
// Jobs name the engine they need (`clients.eligibility.runtime`); otherwise the node's preferred engine trains.
import { create } from '@bufbuild/protobuf'
import { type Accelerator, AcceleratorSchema, type RuntimeOffer, RuntimeOfferSchema } from '@weft/protocol'
import type { TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { createInThreadPool } from '@weft/runtime-tfjs'
import { createTorchPool, type TorchPool, type TorchWorkerInfo } from '@weft/runtime-torch'
import type { Logger } from 'pino'
import type { NodeConfig } from './config.js'

/** Engine names a node can run. */
export type EngineName = 'tfjs' | 'torch'

/** The engines of a running node. */
export interface NodeEngines {
  /** What the configuration asked for (`runtime.engine`). */
  readonly requested: 'tfjs' | 'torch' | 'auto'
  /** The engine that trains when a job names none. */
  readonly preferred: EngineName
  /** Why torch is not in use although it was asked for (missing Python, torch or numpy, bad device, ...). */
  readonly fallbackReason: string | undefined
  /** What the first PyTorch worker reports (its current process: the pid changes when it is restarted), when torch runs. */
  readonly torch: TorchWorkerInfo | undefined
  /** Times PyTorch workers were restarted after dying. */
  readonly torchRestarts: number
  /** Engines this node offers, preferred first. */
  readonly available: readonly EngineName[]
  /** Whether this node offers `engine` (any name, e.g. one a job spec asks for). */
  has(engine: string): boolean
  /**
   * The pool of `engine` (default: the preferred one), started on first use for tfjs.
   * @throws Error when this node does not have that engine
   */
  pool(engine?: string): TrainingPool
  /** Offers for the resource ad, without throughput figures (the probe adds them). */
  offers(): RuntimeOffer[]
  /** GPUs in use by an engine, for the resource ad. */
  accelerators(): Accelerator[]
  /** The torch engine's matmul throughput, GFLOP/s, or undefined without torch. */
  measureTorch(): Promise<number | undefined>
  close(): Promise<void>
}

/** Injected replacements (tests). */
export interface EnginesComponents {
  readonly startTorch?: typeof createTorchPool
}

/**
 * Starts the engines the configuration asks for. With `runtime.engine: torch` or `auto`, a PyTorch worker starts
 * now (a few seconds: importing torch); when it cannot, the node logs why and falls back to tfjs-wasm.
 */
export async function startEngines(config: NodeConfig, logger: Logger, components: EnginesComponents = {}): Promise<NodeEngines> {
  const log = logger.child({ component: 'engines' })
  const requested = config.runtime.engine
  let torchPool: TorchPool | undefined
  let fallbackReason: string | undefined
  if (requested !== 'tfjs') {
    const t = config.runtime.torch
    try {
      torchPool = await (components.startTorch ?? createTorchPool)({
        size: config.fl.workers,
        device: t.device,
        threads: t.threads,
        ...(t.python === undefined ? {} : { python: t.python }),
        log: (m) => log.debug(m),
      })
      const info = torchPool.runtimes[0]!.info
      log.info(
        { torch: info.torch, device: info.device, deviceName: info.deviceName, threads: info.threads, python: info.python, workers: torchPool.size },
        'PyTorch engine started',
      )
    } catch (err) {
      fallbackReason = (err as Error).message
      const level = requested === 'torch' ? 'warn' : 'info'
      log[level]({ reason: fallbackReason }, `the torch runtime is unavailable; falling back to tfjs-wasm`)
    }
  }
  let tfjsPool: TrainingPool | undefined
  const preferred: EngineName = torchPool === undefined ? 'tfjs' : 'torch'
  const available: EngineName[] = torchPool === undefined ? ['tfjs'] : ['torch', 'tfjs']
  const torchInfo = torchPool?.runtimes[0]?.info
  return {
    requested,
    preferred,
    fallbackReason,
    get torch() {
      return torchPool?.runtimes[0]?.info
    },
    get torchRestarts() {
      return torchPool?.runtimes.reduce((n, r) => n + r.restarts, 0) ?? 0
    },
    available,
    has: (engine) => (available as readonly string[]).includes(engine),
    pool(engine = preferred) {
      if (engine === 'torch') {
        if (torchPool === undefined) throw new Error(`this node has no torch runtime${fallbackReason === undefined ? '' : ` (${fallbackReason})`}`)
        return torchPool
      }
      if (engine === 'tfjs') {
        tfjsPool ??= config.lowMemory ? createInThreadPool() : createWorkerPool({ size: config.fl.workers })
        return tfjsPool
      }
      throw new Error(`this node has no ${engine} runtime (it has ${available.join(', ')})`)
    },
    offers() {
      const out: RuntimeOffer[] = []
      if (torchInfo !== undefined) {
        out.push(
          create(RuntimeOfferSchema, {
            name: 'torch',
            backend: torchInfo.device,
            device: torchInfo.device === 'cuda' ? torchInfo.deviceName : 'cpu',
            deviceMemoryBytes: BigInt(torchInfo.deviceMemory),
          }),
        )
      }
      out.push(create(RuntimeOfferSchema, { name: 'tfjs', backend: 'wasm', device: 'cpu' }))
      return out
    },
    accelerators() {
      if (torchInfo?.device !== 'cuda') return []
      return [create(AcceleratorSchema, { kind: 'cuda', name: torchInfo.deviceName, memoryBytes: BigInt(torchInfo.deviceMemory) })]
    },
    async measureTorch() {
      if (torchPool === undefined) return undefined
      return (await torchPool.runtimes[0]!.measureMatmulGflops({ durationMs: 1000 })).gflops
    },
    async close() {
      await Promise.all([tfjsPool?.close(), torchPool?.close()])
    },
  }
}
