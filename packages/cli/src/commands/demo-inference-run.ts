// What `weft demo inference` runs: the shipped King James language model served in spans by node processes on
// 127.0.0.1 (blocks 0-2, 2-3 twice, 3-4), a fifth node answering OpenAI's API through them; a few prompts are
// generated and streamed, and one server is stopped mid-generation to show the re-route and replay.
import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { formatDuration } from '../format.js'
import { type LocalNode, startLocalNode, waitUntil } from '../local-fabric.js'

export interface DemoInferenceOptions {
  port?: number
  dir?: string
  keep?: boolean
  exit?: boolean
  runtime: 'tfjs' | 'torch' | 'auto' | 'mixed'
}

const PROMPTS = ['And God said', 'The LORD is my shepherd', 'In the beginning was the Word']
const SPANS: readonly (readonly [number, number])[] = [
  [0, 2],
  [2, 3],
  [2, 3],
  [3, 4],
]

/** Runs `weft demo inference`. */
export async function runDemoInference(opts: DemoInferenceOptions): Promise<void> {
  const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'weft-demo-inference-'))
  const nodes: LocalNode[] = []
  let stopping = false
  const stopAll = async () => {
    if (stopping) return
    stopping = true
    process.stderr.write(`stopping the ${nodes.length} node processes…\n`)
    await Promise.all(nodes.map((n) => n.stop()))
    if (opts.keep !== true && opts.dir === undefined) rmSync(root, { recursive: true, force: true })
  }
  const onSignal = (code: number) => () => void stopAll().then(() => process.exit(code))
  process.once('SIGINT', onSignal(130))
  process.once('SIGTERM', onSignal(143))
  const engine = opts.runtime === 'torch' ? 'torch' : 'tfjs'
  try {
    const common = ['--log-level', 'warn', '--no-probe']
    const start = async (name: string, args: readonly string[]): Promise<LocalNode> => {
      const node = await startLocalNode({ dataDir: join(root, name), args: [...common, ...args], startTimeoutMs: 120_000 })
      nodes.push(node)
      return node
    }
    process.stderr.write(`starting 5 nodes under ${root}: 4 serve spans of the shipped King James model, 1 answers the API\n`)
    const gateway = await start('gateway', opts.port === undefined ? [] : ['--api-port', String(opts.port)])
    const bootstrap = gateway.addrs.find((a) => a.includes('/tcp/') && !a.includes('/ws')) as string
    const servers = await Promise.all(SPANS.map((_, i) => start(`server-${i}`, ['--bootstrap', bootstrap])))
    await waitUntil(async () => (await gateway.api.peers('alive')).length >= servers.length, 60_000, 'the gateway to see every server')

    const bytes = await readFile(KJV_LM_PATH)
    const model = (await servers[0]?.api.storeAddFile(new Blob([bytes]), { name: 'kjv-lm.safetensors', announce: true }))?.cid as string
    process.stderr.write(`the checkpoint (${(bytes.length / 2 ** 20).toFixed(1)} MiB) is in server-0's store as ${model}; the others fetch it by CID\n`)
    for (const [i, blocks] of SPANS.entries()) {
      const served = await servers[i]?.api.serveModel({ model, blocks, engine })
      process.stderr.write(`  server-${i} ${servers[i]?.peerId.slice(-8)} serves blocks ${served?.start}-${served?.end} on ${served?.engine}\n`)
    }

    for (const [k, prompt] of PROMPTS.entries()) {
      const failover = k === PROMPTS.length - 1
      process.stdout.write(`\n${prompt}`)
      const t0 = performance.now()
      let pieces = 0
      let stopped: string | undefined
      const last = await gateway.api.complete({ model, prompt, max_tokens: 60, temperature: 0.8, top_p: 0.95, seed: k + 1 }, (text) => {
        process.stdout.write(text)
        pieces++
        // The last prompt loses a server of blocks 2-3 after its 10th piece of text.
        if (failover && pieces === 10 && stopped === undefined) {
          stopped = 'pending'
          void stopBusyServer(servers.slice(1, 3)).then((name) => {
            stopped = name
          })
        }
      })
      const seconds = (performance.now() - t0) / 1000
      const tokens = last.usage?.completion_tokens ?? 0
      const route = (last.weft?.route ?? []).map((h) => `${h.peer.slice(-8)}[${h.start}-${h.end}]`).join(' → ')
      process.stdout.write('\n')
      process.stderr.write(`  ${tokens} tokens in ${formatDuration(seconds * 1000)} (${(tokens / seconds).toFixed(1)} tokens/s) via ${route}\n`)
      for (const e of last.weft?.events ?? []) {
        if (e.type === 'server-failed') process.stderr.write(`  a server failed mid-generation (${stopped ?? 'stopped'}): ${JSON.stringify(e)}\n`)
        if (e.type === 'rerouted') process.stderr.write(`  re-routed by replay, the generation went on: ${JSON.stringify(e)}\n`)
      }
    }
    const url = gateway.api.url
    process.stderr.write(`\nOpenAI-compatible API: ${url}/v1 (model ${model})\n`)
    process.stderr.write(`  curl ${url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"${model}","messages":[{"role":"user","content":"And God said"}],"stream":true}'\n`)
    if (opts.exit === true) {
      await stopAll()
      return
    }
    process.stderr.write('the fabric keeps running; Ctrl-C stops it\n')
    await new Promise(() => {})
  } catch (err) {
    await stopAll()
    throw err
  }
}

/** Stops whichever server holds a session now (the one the generation runs on). */
async function stopBusyServer(candidates: readonly LocalNode[]): Promise<string> {
  for (const n of candidates) {
    const view = await n.api.inference().catch(() => undefined)
    if (view?.serving.some((s) => s.sessions > 0)) {
      await n.kill()
      return `killed ${n.peerId.slice(-8)}`
    }
  }
  return 'none was busy'
}
