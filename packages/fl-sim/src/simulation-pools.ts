// The engine pools a simulation's virtual clients train on: tfjs-wasm worker threads, torch worker processes, or
// both (a mixed federation, even clients on torch and odd ones on tfjs).
import type { TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { createTorchPool, type TorchDevice } from '@weft/runtime-torch'

/** Which engine the virtual clients of a simulation train on. */
export interface SimulationPoolsInit {
  /** `mixed`: even clients on torch, odd ones on tfjs-wasm (a mixed federation). */
  readonly engine: 'tfjs' | 'torch' | 'mixed'
  /** Engine workers in all (tfjs threads, torch processes; mixed: torch takes the larger half). */
  readonly workers: number
  /** Intra-op threads per torch worker. Default 1. */
  readonly torchThreads?: number
  readonly torchDevice?: TorchDevice
}

/** The pools of a simulation: `main` evaluates, `clients` is `SimulationInit.clientPools`. */
export interface SimulationPools {
  readonly main: TrainingPool
  readonly clients: readonly TrainingPool[]
  /** What the clients train on, in words. */
  readonly label: string
  close(): Promise<void>
}

/**
 * Starts the engine pools of a simulation.
 * @throws TorchUnavailableError for torch or mixed without a Python that has torch and numpy
 */
export async function createSimulationPools(init: SimulationPoolsInit): Promise<SimulationPools> {
  const { engine, workers } = init
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`init.workers must be a positive integer, got ${workers}`)
  if (engine === 'tfjs') {
    const main = createWorkerPool({ size: workers })
    return { main, clients: [main], label: `tfjs-wasm (${workers} thread(s))`, close: () => main.close() }
  }
  const torchWorkers = engine === 'mixed' ? Math.max(1, Math.ceil(workers / 2)) : workers
  const torch = await createTorchPool({ size: torchWorkers, device: init.torchDevice ?? 'auto', threads: init.torchThreads ?? 1 })
  const info = torch.runtimes[0]!.info
  const torchLabel = `torch ${info.torch} on ${info.device === 'cuda' ? info.deviceName : 'cpu'} (${torchWorkers} process(es) × ${info.threads} thread(s))`
  if (engine === 'torch') return { main: torch, clients: [torch], label: torchLabel, close: () => torch.close() }
  const tfjsWorkers = Math.max(1, workers - torchWorkers)
  const tfjs = createWorkerPool({ size: tfjsWorkers })
  return {
    main: torch,
    clients: [torch, tfjs],
    label: `a mixed federation: even clients on ${torchLabel}, odd clients on tfjs-wasm (${tfjsWorkers} thread(s))`,
    close: async () => {
      await Promise.all([torch.close(), tfjs.close()])
    },
  }
}
