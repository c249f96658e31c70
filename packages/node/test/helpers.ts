// Test helpers: in-process nodes on 127.0.0.1 with fast ad timing and a log that tests can read.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NodeConfigInput, parseNodeConfig, startWeftNode, type WeftNode, type WeftNodeComponents } from '@weft/node'
import { pino } from 'pino'

export interface TestNode extends WeftNode {
  /** Every log record the node wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>
}

const dirs: string[] = []

/** Starts a node in this process with its own temp data directory. */
export async function startTestNode(overrides: Partial<NodeConfigInput> = {}, components: Partial<WeftNodeComponents> = {}): Promise<TestNode> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'weft-node-'))
  dirs.push(dataDir)
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
  const config = parseNodeConfig({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    // Ads every 300 ms; a TTL well above that so a loaded CI machine's gossip delays do not expire them.
    ads: { intervalMs: 300, ttlMs: 5000 },
    runtime: { probe: false },
    ...overrides,
    // In-process test meshes are open unless a test closes them: any peer may invite and submit.
    fl: { coordinators: ['*'], submitters: ['*'], ...(overrides.fl as object | undefined) },
    jobs: { from: ['*'], ...(overrides.jobs as object | undefined) },
    dataDir,
  })
  const node = await startWeftNode(config, { logger, ...components })
  return Object.assign(node, { logs })
}

/** Removes the temp data directories made by startTestNode. */
export function removeTestDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** Resolves when `check()` holds, re-checking on every ad the node accepts or drops (and every 100 ms). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
