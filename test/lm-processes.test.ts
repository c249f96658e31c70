// Decentralized inference across node processes, driven as a user would: `weft serve` puts the shipped King James
// checkpoint into a node's store and serves a span of it, other nodes serve theirs after fetching it by CID, and
// `weft generate --temperature 0` through 1, 2 and 3 spans prints exactly what `weft lm generate` (one engine, no mesh)
// does; the same on torch and on a path mixing both engines; a span's server SIGKILLed mid-stream is replaced by
// replay with the same text.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { torchAvailable } from '../packages/runtime-torch/test/available.js'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const PROMPT = 'And God said'
const TOKENS = '40'

const root = mkdtempSync(join(tmpdir(), 'weft-lm-processes-'))
const nodes: LocalNode[] = []
let gateway: LocalNode
let model: string

const weft = async (node: LocalNode, ...args: string[]): Promise<string> => (await run(process.execPath, [BIN, ...args, '--api', node.api.url], { maxBuffer: 8 * 1024 * 1024 })).stdout
/** What one engine alone continues the prompt with (greedy). */
const alone = async (runtime: 'tfjs' | 'torch'): Promise<string> =>
  JSON.parse((await run(process.execPath, [BIN, 'lm', 'generate', KJV_LM_PATH, PROMPT, '--temperature', '0', '--max-tokens', TOKENS, '--runtime', runtime, '--json'])).stdout).text
/** What the mesh gives through the spans `served` (each `[node, start-end, engine]`), served for this call only. */
async function through(served: readonly [LocalNode, string, 'tfjs' | 'torch'][]): Promise<{ text: string; route: { start: number; end: number }[] }> {
  for (const [node, blocks, engine] of served) await weft(node, 'serve', model, '--blocks', blocks, '--runtime', engine)
  try {
    const out = JSON.parse(await weft(gateway, 'generate', PROMPT, '--model', model, '--temperature', '0', '--max-tokens', TOKENS, '--json'))
    return { text: out.text, route: out.route }
  } finally {
    for (const [node, blocks] of served) {
      const [start, end] = blocks.split('-').map(Number)
      await fetch(`${node.api.url}/v1/inference/unserve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, start, end }) })
    }
  }
}

beforeAll(async () => {
  const common = ['--no-probe', '--log-level', 'warn', '--ad-interval', '1000', '--ad-ttl', '10000']
  gateway = await startLocalNode({ dataDir: join(root, 'gateway'), args: common, startTimeoutMs: 120_000 })
  const bootstrap = gateway.addrs[0] as string
  for (let i = 0; i < 4; i++) nodes.push(await startLocalNode({ dataDir: join(root, `server-${i}`), args: [...common, '--bootstrap', bootstrap], startTimeoutMs: 120_000 }))
  await waitUntil(async () => (await gateway.api.peers('alive')).length >= 4, 60_000, 'the gateway to see four servers')
  // `weft serve <file>` adds the checkpoint to the node's store and prints the span it serves.
  const served = JSON.parse(await weft(nodes[0] as LocalNode, 'serve', KJV_LM_PATH, '--blocks', '0-4', '--json'))
  model = served.model
  expect(served).toMatchObject({ start: 0, end: 4, engine: 'tfjs/wasm' })
  await fetch(`${(nodes[0] as LocalNode).api.url}/v1/inference/unserve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, start: 0, end: 4 }) })
}, 240_000)

afterAll(async () => {
  await Promise.all([gateway, ...nodes].map((n) => n?.stop()))
  rmSync(root, { recursive: true, force: true })
})

describe('inference across node processes', () => {
  it('greedy text through 1, 2 and 3 spans on tfjs is what one engine gives alone', async () => {
    const [a, b, c] = nodes as [LocalNode, LocalNode, LocalNode]
    const expected = await alone('tfjs')
    expect(expected.length).toBeGreaterThan(20)
    expect(await through([[a, '0-4', 'tfjs']])).toMatchObject({ text: expected, route: [{ start: 0, end: 4 }] })
    expect(await through([[a, '0-2', 'tfjs'], [b, '2-4', 'tfjs']])).toMatchObject({ text: expected, route: [{ start: 0 }, { start: 2 }] })
    expect(await through([[a, '0-2', 'tfjs'], [b, '2-3', 'tfjs'], [c, '3-4', 'tfjs']])).toMatchObject({ text: expected, route: [{ start: 0 }, { start: 2 }, { start: 3 }] })
  }, 240_000)

  it.skipIf(!torchAvailable)('the same on torch, and on a path mixing the engines', async () => {
    const [a, b, c] = nodes as [LocalNode, LocalNode, LocalNode]
    const expected = await alone('torch')
    expect(expected).toBe(await alone('tfjs'))
    expect((await through([[a, '0-2', 'torch'], [b, '2-3', 'torch'], [c, '3-4', 'torch']])).text).toBe(expected)
    expect((await through([[a, '0-2', 'tfjs'], [b, '2-3', 'torch'], [c, '3-4', 'tfjs']])).text).toBe(expected)
  }, 240_000)

  it('a server SIGKILLed mid-stream is replaced by replay: the same text, the events name the re-route', async () => {
    const [a, b, c, d] = nodes as [LocalNode, LocalNode, LocalNode, LocalNode]
    const expected = await alone('tfjs')
    for (const [node, blocks] of [[a, '0-2'], [b, '2-3'], [c, '2-3'], [d, '3-4']] as const) await weft(node, 'serve', model, '--blocks', blocks)
    const pieces: string[] = []
    let killed: LocalNode | undefined
    const last = await gateway.api.complete({ model, prompt: PROMPT, max_tokens: Number(TOKENS), temperature: 0 }, (text) => {
      pieces.push(text)
      if (pieces.length === 5 && killed === undefined) {
        killed = b
        void (async () => {
          // Whichever server of blocks 2-3 holds the session is killed.
          const busy = (await b.api.inference()).serving.some((s) => s.sessions > 0) ? b : c
          killed = busy
          await busy.kill()
        })()
      }
    })
    expect(pieces.join('')).toBe(expected)
    const events = last.weft?.events ?? []
    expect(events.map((e) => e.type)).toEqual(['server-failed', 'rerouted'])
    expect(last.weft?.route.map((h) => h.peer)).not.toContain(killed?.peerId)
  }, 240_000)
})
