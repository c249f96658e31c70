// Starts Weft nodes as child processes on 127.0.0.1: the local fabric behind `weft demo` and the multi-process tests.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ApiClient } from '@weft/api-client'
import { createNodeApiClient } from '@weft/api-client/node'

/** A compiled file beside this module, also when this module runs from its TypeScript source (tests): then from dist/. */
function builtSibling(file: string): URL {
  const here = import.meta.url.endsWith('.ts') ? import.meta.url.replace('/src/', '/dist/') : import.meta.url
  return new URL(file, here)
}

const BIN = fileURLToPath(builtSibling('./bin.js'))

export interface LocalNodeInit {
  readonly dataDir: string
  /** Extra `weft node start` arguments (labels, bootstrap, ad timing…). */
  readonly args?: readonly string[]
  /** Listen on TCP and WebSockets on 127.0.0.1 (default true; false leaves `--listen` to args). */
  readonly loopback?: boolean
  /** Where the child's stdout/stderr go: 'inherit', 'ignore', or a callback per line. Default 'ignore'. */
  readonly output?: 'inherit' | 'ignore' | ((line: string) => void)
  readonly startTimeoutMs?: number
  /** Node.js options for the child (e.g. `--cpu-prof` in benchmarks). */
  readonly execArgv?: readonly string[]
}

/** A node running in a child process. */
export interface LocalNode {
  readonly peerId: string
  readonly dataDir: string
  readonly process: ChildProcess
  readonly api: ApiClient
  /** Its listen addresses, each ending in /p2p/<peer id>. */
  readonly addrs: string[]
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>
  /** SIGKILL: a crash, no clean shutdown. */
  kill(): Promise<void>
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/**
 * Spawns `weft node start` and resolves once its control API answers.
 * @throws Error with the child's last output when it exits or does not come up in time
 */
export async function startLocalNode(init: LocalNodeInit): Promise<LocalNode> {
  mkdirSync(init.dataDir, { recursive: true })
  const listen = init.loopback === false ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws']
  const output = init.output ?? 'ignore'
  const child = spawn(process.execPath, [...(init.execArgv ?? []), BIN, 'node', 'start', '--data-dir', init.dataDir, ...listen, ...(init.args ?? [])], {
    stdio: ['ignore', output === 'inherit' ? 'inherit' : 'pipe', output === 'inherit' ? 'inherit' : 'pipe'],
  })
  const tail: string[] = []
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.length === 0) continue
      tail.push(line)
      if (tail.length > 30) tail.shift()
      if (typeof output === 'function') output(line)
    }
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)

  const deadline = Date.now() + (init.startTimeoutMs ?? 30_000)
  const runningFile = join(init.dataDir, 'node.json')
  let api: ApiClient | undefined
  // The child writes node.json once its API listens; poll the file (a child process emits no event we can await).
  while (api === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`node on ${init.dataDir} exited with ${child.exitCode ?? child.signalCode}:\n${tail.join('\n')}`)
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`node on ${init.dataDir} did not start in time:\n${tail.join('\n')}`)
    }
    if (existsSync(runningFile)) {
      const record = JSON.parse(readFileSync(runningFile, 'utf8')) as { pid: number }
      if (record.pid === child.pid) api = createNodeApiClient({ dataDir: init.dataDir })
    }
    if (api === undefined) await new Promise((r) => setTimeout(r, 50))
  }
  const view = await api.node()
  return {
    peerId: view.peerId,
    dataDir: init.dataDir,
    process: child,
    api,
    addrs: view.addrs,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const code = await waitForExit(child)
      clearTimeout(timer)
      return code
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await waitForExit(child)
    },
  }
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
