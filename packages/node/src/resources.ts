// Measures what this machine offers (CPU, memory, load) for the node's resource ad.
import { cpus, freemem, loadavg, totalmem } from 'node:os'

/** A snapshot of the host's resources. */
export interface HostResources {
  readonly cpu: { readonly model: string; readonly cores: number; readonly load1: number; readonly load5: number; readonly load15: number }
  readonly memory: { readonly totalBytes: number; readonly freeBytes: number }
}

/** Reads the host's CPU model and count, load averages and memory, now. */
export function readHostResources(): HostResources {
  const list = cpus()
  const [load1 = 0, load5 = 0, load15 = 0] = loadavg()
  return {
    cpu: { model: list[0]?.model.trim() ?? 'unknown', cores: list.length, load1, load5, load15 },
    memory: { totalBytes: totalmem(), freeBytes: freemem() },
  }
}
