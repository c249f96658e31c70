// What the node measures about itself over time: CPU, memory and Weft protocol traffic, sampled on a timer into a
// bounded history that the dashboard charts, plus per-peer traffic counters.
import { cpus, freemem, totalmem } from 'node:os'
import type { TelemetrySample, TrafficView } from './views.js'

/** Counts Weft protocol bytes per peer and in all. */
export class TrafficMeter {
  #in = 0
  #out = 0
  readonly #peers = new Map<string, { in: number; out: number }>()

  record(direction: 'in' | 'out', bytes: number, peer: string | undefined): void {
    if (direction === 'in') this.#in += bytes
    else this.#out += bytes
    if (peer === undefined) return
    let counts = this.#peers.get(peer)
    if (counts === undefined) {
      counts = { in: 0, out: 0 }
      this.#peers.set(peer, counts)
    }
    counts[direction] += bytes
  }

  total(): TrafficView {
    return { inBytes: this.#in, outBytes: this.#out }
  }

  of(peer: string): TrafficView {
    const counts = this.#peers.get(peer)
    return { inBytes: counts?.in ?? 0, outBytes: counts?.out ?? 0 }
  }
}

/** Busy and total CPU time of the host, summed over its cores (ms). */
function hostCpuTimes(list = cpus()): { busy: number; total: number } {
  let busy = 0
  let total = 0
  for (const cpu of list) {
    const t = cpu.times
    const all = t.user + t.nice + t.sys + t.idle + t.irq
    total += all
    busy += all - t.idle
  }
  return { busy, total }
}

export interface TelemetryInit {
  readonly intervalMs: number
  /** How many samples to keep (the oldest go first). */
  readonly capacity: number
  readonly now: () => number
  readonly traffic: TrafficMeter
  readonly connections: () => number
  readonly peersAlive: () => number
}

export type SampleListener = (sample: TelemetrySample) => void

/** Samples the node's resource use every `intervalMs` and keeps the last `capacity` samples. */
export class Telemetry {
  readonly intervalMs: number
  readonly #init: TelemetryInit
  readonly #samples: TelemetrySample[] = []
  readonly #listeners = new Set<SampleListener>()
  #timer: NodeJS.Timeout | undefined
  #lastHost = hostCpuTimes()
  #lastProcess = process.cpuUsage()
  #lastAt: number

  constructor(init: TelemetryInit) {
    this.#init = init
    this.intervalMs = init.intervalMs
    this.#lastAt = init.now()
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sample(), this.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#listeners.clear()
  }

  /** Takes a sample now (the timer calls this), stores it and tells the listeners. */
  sample(): TelemetrySample {
    const at = this.#init.now()
    const cores = cpus()
    const host = hostCpuTimes(cores)
    const proc = process.cpuUsage()
    const elapsedMs = Math.max(1, at - this.#lastAt)
    const hostTotal = host.total - this.#lastHost.total
    const processMs = (proc.user - this.#lastProcess.user + proc.system - this.#lastProcess.system) / 1000
    const previous = this.#samples.at(-1)
    const traffic = this.#init.traffic.total()
    const memory = process.memoryUsage()
    const total = totalmem()
    const sample: TelemetrySample = {
      at,
      cpu: {
        host: hostTotal > 0 ? clamp01((host.busy - this.#lastHost.busy) / hostTotal) : 0,
        process: clamp01(processMs / (elapsedMs * Math.max(1, cores.length))),
      },
      memory: { totalBytes: total, usedBytes: total - freemem(), rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      net: {
        inBytes: traffic.inBytes,
        outBytes: traffic.outBytes,
        inRate: ((traffic.inBytes - (previous?.net.inBytes ?? 0)) * 1000) / elapsedMs,
        outRate: ((traffic.outBytes - (previous?.net.outBytes ?? 0)) * 1000) / elapsedMs,
      },
      connections: this.#init.connections(),
      peersAlive: this.#init.peersAlive(),
    }
    this.#lastHost = host
    this.#lastProcess = proc
    this.#lastAt = at
    this.#samples.push(sample)
    if (this.#samples.length > this.#init.capacity) this.#samples.shift()
    for (const listener of this.#listeners) listener(sample)
    return sample
  }

  /** The newest sample, if any was taken. */
  latest(): TelemetrySample | undefined {
    return this.#samples.at(-1)
  }

  /** Samples taken after `since` (epoch ms), oldest first. */
  since(since: number): TelemetrySample[] {
    return this.#samples.filter((s) => s.at > since)
  }

  onSample(listener: SampleListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0
}
