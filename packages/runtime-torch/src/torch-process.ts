// The supervised PyTorch worker process: started on demand, restarted after a crash, spoken to in frames.
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TorchTaskError, TorchUnavailableError, TorchWorkerClosedError, TorchWorkerCrashedError } from './errors.js'
import { decodeFrameBody, encodeFrame, type Frame, type FrameHeader, FrameReader, type OutBuffer } from './frames.js'

/** Where the worker computes: `auto` is CUDA when torch sees a GPU, else the CPU. */
export type TorchDevice = 'auto' | 'cpu' | 'cuda'

/** Options of the worker process. */
export interface TorchProcessInit {
  /**
   * Python interpreters to try, in order; the first that imports torch and numpy is used.
   * Default: `$WEFT_TORCH_PYTHON`, then `python3`, then `/usr/bin/python3` (where Debian's python3-torch lives).
   */
  readonly python?: string | readonly string[]
  readonly device?: TorchDevice
  /** Intra-op threads of the CPU device; 0 (default) keeps torch's own choice (the number of cores). */
  readonly threads?: number
  /** How long one start may take, imports included. Default 120 s. */
  readonly startTimeoutMs?: number
  /** Where to report restarts and the worker's standard error. Default: nowhere. */
  readonly log?: (message: string) => void
}

/** What the worker reported at start. */
export interface TorchWorkerInfo {
  readonly python: string
  readonly pythonVersion: string
  readonly torch: string
  readonly numpy: string
  /** `cpu` or `cuda`. */
  readonly device: 'cpu' | 'cuda'
  /** The GPU's name, or the CPU model. */
  readonly deviceName: string
  /** GPU memory in bytes; 0 on the CPU. */
  readonly deviceMemory: number
  readonly threads: number
  /** The BLAS torch was built against, as torch reports it. */
  readonly blas: string
  readonly pid: number
}

/**
 * glibc malloc settings the worker starts with, unless the environment sets them. With glibc's defaults a fresh
 * process serves every allocation over 128 KiB with mmap and unmaps it on free, so each training step page-faults
 * its activations and gradients in again: measured here, the CNNs trained 2-3× slower. Up to 64 MiB now comes from
 * the heap, which is trimmed only past 256 MiB free; larger blocks (cached data sets) are still mapped and returned.
 */
export const TORCH_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: String(64 * 2 ** 20),
  MALLOC_TRIM_THRESHOLD_: String(256 * 2 ** 20),
})

/** The worker script shipped with this package. */
export const WORKER_SCRIPT = fileURLToPath(new URL('../python/weft_torch_worker.py', import.meta.url))

const STDERR_TAIL = 4096

interface Pending {
  resolve(frame: Frame): void
  reject(err: Error): void
}

interface Live {
  readonly child: ChildProcess
  readonly info: TorchWorkerInfo
  readonly generation: number
  readonly pending: Map<number, Pending>
  exited: boolean
}

/** The default interpreters to try. */
export function defaultPythonCandidates(): string[] {
  const env = process.env['WEFT_TORCH_PYTHON']
  return [...new Set([...(env === undefined || env === '' ? [] : [env]), 'python3', '/usr/bin/python3'])]
}

/**
 * One PyTorch worker process at a time, restarted when it dies. Requests are answered in order.
 * A request running or queued when the process dies rejects with `TorchWorkerCrashedError` (with the exit
 * status and the tail of its standard error), and a fresh process starts at once (`generation` grows); requests
 * wait for it.
 */
export class TorchProcess {
  readonly #init: TorchProcessInit
  readonly #candidates: string[]
  #live: Live | undefined
  #starting: Promise<Live> | undefined
  #generation = 0
  #nextId = 1
  #closed = false
  #restarts = 0

  constructor(init: TorchProcessInit = {}) {
    this.#init = init
    const p = init.python
    this.#candidates = p === undefined ? defaultPythonCandidates() : typeof p === 'string' ? [p] : [...p]
    if (this.#candidates.length === 0) throw new TypeError('init.python must name at least one interpreter')
    const threads = init.threads ?? 0
    if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`init.threads must be an integer ≥ 0, got ${threads}`)
  }

  /** Number of the running process: 1 for the first, one more after each restart; 0 before the first start. */
  get generation(): number {
    return this.#generation
  }

  /** Times the process was restarted after dying. */
  get restarts(): number {
    return this.#restarts
  }

  /** True while a worker process runs (false before the first start, after a crash until the next request, after close). */
  get running(): boolean {
    return this.#live !== undefined && !this.#live.exited && !this.#closed
  }

  /** What the running worker reported, if one runs. */
  get info(): TorchWorkerInfo | undefined {
    return this.#live?.info
  }

  /**
   * Starts the worker if none runs; resolves with what it reported.
   * @throws TorchUnavailableError when no candidate interpreter can import torch and numpy
   */
  async start(): Promise<TorchWorkerInfo> {
    return (await this.#ensure()).info
  }

  /**
   * Sends one request and waits for its answer.
   * @throws TorchTaskError when the worker reports a failure; TorchWorkerCrashedError when it died meanwhile
   */
  async request(header: FrameHeader, buffers: readonly OutBuffer[] = []): Promise<Frame & { generation: number }> {
    const live = await this.#ensure()
    const frame = await this.#send(live, header, buffers)
    return { ...frame, generation: live.generation }
  }

  /** Asks the worker to exit and waits for it (kills it after 2 s). No request is accepted afterwards. */
  async close(): Promise<void> {
    this.#closed = true
    const live = this.#live ?? (await this.#starting?.catch(() => undefined))
    if (live === undefined || live.exited) return
    const exited = new Promise<void>((resolve) => live.child.once('exit', () => resolve()))
    live.child.stdin?.end()
    const timer = setTimeout(() => live.child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }

  async #ensure(): Promise<Live> {
    if (this.#closed) throw new TorchWorkerClosedError('the PyTorch worker is closed')
    if (this.#live !== undefined && !this.#live.exited) return this.#live
    this.#starting ??= this.#startAny().finally(() => {
      this.#starting = undefined
    })
    return this.#starting
  }

  async #startAny(): Promise<Live> {
    const reasons: string[] = []
    for (const python of this.#candidates) {
      try {
        const live = await this.#spawn(python, this.#generation + 1)
        this.#generation = live.generation
        // A restart goes straight to the interpreter that worked.
        this.#candidates.splice(this.#candidates.indexOf(python), 1)
        this.#candidates.unshift(python)
        if (live.generation > 1) {
          this.#restarts++
          this.#init.log?.(`weft/runtime-torch: PyTorch worker restarted (pid ${live.info.pid}, generation ${live.generation})`)
        }
        this.#live = live
        return live
      } catch (err) {
        reasons.push(`${python}: ${(err as Error).message}`)
      }
    }
    throw new TorchUnavailableError(`no Python with torch and numpy found (tried ${reasons.join('; ')})`)
  }

  #spawn(python: string, generation: number): Promise<Live> {
    const child = spawn(python, ['-u', WORKER_SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...TORCH_MALLOC_ENV, ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    })
    const pending = new Map<number, Pending>()
    const reader = new FrameReader()
    /** The tail of the worker's standard error, for the reason of a crash. */
    let stderr = ''
    let first: Pending | undefined
    const ready = new Promise<Frame>((resolve, reject) => {
      first = { resolve, reject }
    })
    const state: { live: Live | undefined } = { live: undefined }
    const fail = (why: string): void => {
      const tail = stderr.trim().split('\n').slice(-6).join(' | ')
      const err = new TorchWorkerCrashedError(`${why}${tail === '' ? '' : `; stderr: ${tail}`}`)
      first?.reject(err)
      first = undefined
      for (const p of pending.values()) p.reject(err)
      pending.clear()
    }
    const dispatch = (frame: Frame): void => {
      const id = frame.header['id']
      if (id === 0 && first !== undefined) {
        first.resolve(frame)
        first = undefined
        return
      }
      const p = typeof id === 'number' ? pending.get(id) : undefined
      if (p === undefined) return
      pending.delete(id as number)
      p.resolve(frame)
    }
    child.stdout!.on('data', (chunk: Buffer) => {
      // Frames before a malformed one are answered; the stream is out of step after it, so the worker goes.
      try {
        for (const body of reader.push(chunk)) dispatch(decodeFrameBody(body))
      } catch (err) {
        child.kill('SIGKILL')
        fail(`bad frame from the PyTorch worker: ${(err as Error).message}`)
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8')
      stderr = (stderr + text).slice(-STDERR_TAIL)
      if (this.#init.log !== undefined) for (const line of text.split('\n')) if (line.trim() !== '') this.#init.log(`weft/runtime-torch worker: ${line}`)
    })
    child.stdin!.on('error', () => {})
    child.on('error', (err) => {
      if (state.live !== undefined) state.live.exited = true
      fail(`could not run ${python}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : err.message}`)
    })
    child.on('exit', (code, signal) => {
      const died = state.live !== undefined && !state.live.exited && !this.#closed
      if (state.live !== undefined) state.live.exited = true
      fail(
        this.#closed
          ? 'the PyTorch worker was closed'
          : `the PyTorch worker (pid ${child.pid}) died: ${signal !== null ? `signal ${signal}` : `exit code ${code}`}`,
      )
      // A worker that was serving died: start its replacement now, so that the next task does not wait for it.
      if (died && this.#live === state.live) {
        this.#init.log?.(`weft/runtime-torch: PyTorch worker (pid ${child.pid}) died (${signal ?? `exit code ${code}`}); restarting it`)
        this.#ensure().catch((err: Error) => this.#init.log?.(`weft/runtime-torch: the PyTorch worker could not be restarted: ${err.message}`))
      }
    })
    const timeoutMs = this.#init.startTimeoutMs ?? 120_000
    return (async () => {
      let timer: NodeJS.Timeout | undefined
      try {
        const hello0 = await Promise.race([
          ready,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
          }),
        ])
        if (hello0.header['ok'] !== true) {
          const e = hello0.header['error'] as { name?: string; message?: string } | undefined
          throw new Error(`${e?.message ?? 'the worker did not start'}`)
        }
        const live: Live = {
          child,
          info: undefined as unknown as TorchWorkerInfo,
          generation,
          pending,
          exited: false,
        }
        state.live = live
        const hello = await this.#send(live, {
          op: 'hello',
          device: this.#init.device ?? 'auto',
          threads: this.#init.threads ?? 0,
        })
        const h = hello.header
        ;(live as { info: TorchWorkerInfo }).info = Object.freeze({
          python,
          pythonVersion: String(h['python']),
          torch: String(h['torch']),
          numpy: String(h['numpy']),
          device: h['device'] === 'cuda' ? 'cuda' : 'cpu',
          deviceName: String(h['deviceName']),
          deviceMemory: Number(h['deviceMemory']),
          threads: Number(h['threads']),
          blas: String(h['blas'] ?? ''),
          pid: Number(h['pid']),
        })
        return live
      } catch (err) {
        child.kill('SIGKILL')
        throw err
      } finally {
        clearTimeout(timer)
      }
    })()
  }

  #send(live: Live, header: FrameHeader, buffers: readonly OutBuffer[] = []): Promise<Frame> {
    if (live.exited) return Promise.reject(new TorchWorkerCrashedError('the PyTorch worker is not running'))
    const id = this.#nextId++
    const chunks = encodeFrame({ ...header, id }, buffers)
    return new Promise<Frame>((resolve, reject) => {
      live.pending.set(id, {
        resolve: (frame) => {
          if (frame.header['ok'] === true) {
            resolve(frame)
            return
          }
          const e = (frame.header['error'] ?? {}) as { name?: string; message?: string }
          reject(new TorchTaskError(`${e.name ?? 'Error'}: ${e.message ?? 'request failed'}`, e.name ?? 'Error'))
        },
        reject,
      })
      const stdin = live.child.stdin!
      for (const c of chunks) stdin.write(c)
    })
  }
}

/** The outcome of `probeTorch`. */
export type TorchProbe = { readonly ok: true; readonly info: TorchWorkerInfo } | { readonly ok: false; readonly reason: string }

/**
 * Whether a PyTorch worker can start here (an interpreter with torch and numpy, the device asked for): starts one,
 * reads what it reports and stops it. Takes a few seconds (importing torch). Never throws.
 */
export async function probeTorch(init: TorchProcessInit = {}): Promise<TorchProbe> {
  let proc: TorchProcess | undefined
  try {
    proc = new TorchProcess(init)
    return { ok: true, info: await proc.start() }
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  } finally {
    await proc?.close()
  }
}
