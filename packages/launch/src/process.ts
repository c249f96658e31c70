// Child processes on this host: a group of Weft nodes as N `weft node start` processes, each the leader of its own
// process group (so that cancel also ends what a node spawned, e.g. PyTorch workers), for local fabrics and tests.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LaunchError, type Launched, type Launcher, type LaunchRequest, type LaunchStatus } from './launcher.js'

/** Options of {@link processLauncher}. */
export interface ProcessLauncherInit {
  /** The weft command as absolute words, e.g. `[process.execPath, '/opt/weft/packages/cli/dist/bin.js']` (default `['weft']`). */
  readonly weftCommand?: readonly string[]
  /** Where node data directories (`<workDir>/<name>-<id>/node-<i>`) and their logs (`node-<i>.log`) go (default $TMPDIR/weft-process). */
  readonly workDir?: string
  /** How long `cancel` waits after SIGTERM before SIGKILL (default 10 s). */
  readonly killAfterMs?: number
}

interface Group {
  readonly children: ChildProcess[]
  readonly exits: (number | null)[]
  cancelled: boolean
}

const NAME = /^[a-z0-9-]{1,40}$/

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0)
    return true
  } catch {
    return false
  }
}

class ProcessLauncher implements Launcher {
  readonly kind = 'process'
  readonly #weft: readonly string[]
  readonly #workDir: string
  readonly #killAfterMs: number
  readonly #groups = new Map<string, Group>()
  #next = 0

  constructor(init: ProcessLauncherInit) {
    this.#weft = init.weftCommand ?? ['weft']
    if (this.#weft.length === 0) throw new TypeError('weftCommand must name a command')
    this.#workDir = init.workDir ?? join(tmpdir(), 'weft-process')
    this.#killAfterMs = init.killAfterMs ?? 10_000
  }

  async launch(request: LaunchRequest): Promise<Launched> {
    if (!NAME.test(request.name)) throw new TypeError(`name must be [a-z0-9-], 1 to 40 characters; got '${request.name}'`)
    if (!Number.isSafeInteger(request.nodes) || request.nodes <= 0) throw new RangeError(`nodes must be a positive integer, got ${request.nodes}`)
    const id = `${request.name}-${process.pid}-${++this.#next}`
    const base = join(this.#workDir, id)
    mkdirSync(base, { recursive: true })
    const [command, ...prefix] = this.#weft as [string, ...string[]]
    const group: Group = { children: [], exits: [], cancelled: false }
    for (let i = 0; i < request.nodes; i++) {
      const log = createWriteStream(join(base, `node-${i}.log`))
      const args = [...prefix, 'node', 'start', ...request.nodeArgs, '--data-dir', join(base, `node-${i}`), '--label', `process.group=${id}`, '--label', `process.task=${i}`]
      const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(request.env ?? {}) } })
      child.stdout?.pipe(log)
      child.stderr?.pipe(log)
      group.exits.push(null)
      child.once('exit', (code) => {
        group.exits[i] = code ?? -1
      })
      const started = await new Promise<Error | null>((resolve) => {
        child.once('spawn', () => resolve(null))
        child.once('error', resolve)
      })
      if (started !== null) {
        this.#groups.set(id, group)
        await this.cancel(id).catch(() => undefined)
        throw new LaunchError(`cannot start ${command}: ${started.message}`, { cause: started })
      }
      group.children.push(child)
    }
    this.#groups.set(id, group)
    return { id, launcher: this.kind }
  }

  async status(id: string): Promise<LaunchStatus> {
    const group = this.#groups.get(id)
    if (group === undefined) throw new LaunchError(`this launcher started no group ${id}`)
    const running = group.exits.filter((e) => e === null).length
    const failed = group.exits.filter((e) => e !== null && e !== 0).length
    const state = running > 0 ? 'running' : group.cancelled ? 'cancelled' : failed > 0 ? 'failed' : 'done'
    return { id, state, running, detail: `${running} running, ${group.exits.length - running} exited${failed > 0 ? ` (${failed} with a non-zero status)` : ''}` }
  }

  /** SIGTERM to every node's process group, SIGKILL after `killAfterMs`; resolves once every group is gone. */
  async cancel(id: string): Promise<void> {
    const group = this.#groups.get(id)
    if (group === undefined) throw new LaunchError(`this launcher started no group ${id}`)
    group.cancelled = true
    const pids = group.children.map((c) => c.pid).filter((p): p is number => p !== undefined)
    const signal = (sig: NodeJS.Signals) => {
      for (const pid of pids) {
        try {
          process.kill(-pid, sig)
        } catch {
          // Gone already.
        }
      }
    }
    signal('SIGTERM')
    const killAt = Date.now() + this.#killAfterMs
    let killed = false
    while (pids.some(groupAlive)) {
      if (!killed && Date.now() > killAt) {
        signal('SIGKILL')
        killed = true
      }
      if (killed && Date.now() > killAt + 5_000) throw new LaunchError(`process groups of ${id} survive SIGKILL: ${pids.filter(groupAlive).join(', ')}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** A launcher that runs each node as a child process of this one, in its own process group. */
export function processLauncher(init: ProcessLauncherInit = {}): Launcher {
  return new ProcessLauncher(init)
}

export { ProcessLauncher }
