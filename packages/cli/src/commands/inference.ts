// `weft serve` (this node serves a span of a language model to the mesh) and `weft generate` (a completion routed
// through the mesh's servers, streamed as it is decided), both through the node's API. A checkpoint named by a file
// is added to the node's block store first (announced, so other nodes can fetch it by its CID).
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type { ApiClient } from '@weft/api-client'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { type ApiOptions, addNodeOptions, apiClientFrom, nodeArgs } from './fl.js'
import { addPlacementOptions, type PlacementOptions, submitPlaced, wantsPlacement } from './placement-options.js'

interface ServeOptions extends ApiOptions, PlacementOptions {
  blocks: readonly [number, number] | 'auto' | undefined
  count?: number
  runtime: 'tfjs' | 'torch'
  json?: boolean
}

interface GenerateOptions extends ApiOptions {
  model: string
  maxTokens: number
  temperature: number
  topP: number
  seed?: number
  stop?: string[]
  json?: boolean
}

function blocksOption(v: string): readonly [number, number] | 'auto' {
  if (v === 'auto') return 'auto'
  const m = /^(\d+)-(\d+)$/.exec(v)
  if (m === null) throw new InvalidArgumentError(`--blocks must be START-END (END exclusive, e.g. 0-2) or auto, got "${v}"`)
  const [start, end] = [Number(m[1]), Number(m[2])]
  if (end <= start) throw new InvalidArgumentError(`--blocks ${v}: END must be above START`)
  return [start, end]
}

const number =
  (name: string, min: number) =>
  (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number ≥ ${min}, got "${v}"`)
    return n
  }

/** A model named by CID, or a checkpoint file added to the node's store (and announced) for its CID. */
async function modelCid(api: ApiClient, model: string): Promise<string> {
  const file = await stat(model).catch(() => undefined)
  if (file === undefined || !file.isFile()) return model
  const body = Readable.toWeb(createReadStream(model)) as unknown as ReadableStream<Uint8Array>
  const root = await api.storeAddFile(body, { name: model, size: file.size, announce: true })
  process.stderr.write(`added ${model} to the node's store: ${root.cid}\n`)
  return root.cid
}

/** Registers `weft serve` and `weft generate`. */
export function registerInferenceCommands(program: Command): void {
  addPlacementOptions(
    addNodeOptions(
      program
        .command('serve')
        .description("serve a span of a language model's blocks to the mesh from this node (a checkpoint file, or its CID); with --place, a job places its servers on the mesh")
        .argument('<model>', 'a checkpoint file written by `weft lm train`, or its CID in the store')
        .option('--blocks <range>', 'blocks START-END (END exclusive), or auto: where the mesh has least throughput (default: every block)', blocksOption)
        .option('--count <n>', 'with --blocks auto: how many blocks', number('--count', 1))
        .addOption(new Option('--runtime <engine>', 'engine').choices(['tfjs', 'torch']).default('tfjs'))
        .option('--json', 'print the served span as JSON (with --place: the job view)'),
    ),
    { place: true, replicas: true },
  ).action(async (model: string, opts: ServeOptions) => {
    const place = wantsPlacement(opts)
    const api = apiClientFrom(opts)
    const cid = await modelCid(api, model)
    const request = {
      model: cid,
      ...(opts.blocks === undefined ? {} : { blocks: opts.blocks }),
      ...(opts.count === undefined ? {} : { count: opts.count }),
      engine: opts.runtime,
    }
    if (place) {
      await submitPlaced(api, 'serve', request, opts, nodeArgs(opts))
      return
    }
    const served = await api.serveModel(request)
    if (opts.json === true) process.stdout.write(`${JSON.stringify(served)}\n`)
    else process.stdout.write(`serving blocks ${served.start}-${served.end} of ${served.model} on ${served.engine}\n`)
  })
  addNodeOptions(
    program
      .command('generate')
      .description('generate text with a language model served on the mesh, streamed as it is decided')
      .argument('<prompt>', 'the text to continue')
      .requiredOption('--model <cid>', "the model's CID (or its checkpoint file, added to the store)")
      .option('--max-tokens <n>', 'tokens to generate', number('--max-tokens', 1), 100)
      .option('--temperature <t>', '0: greedy', number('--temperature', 0), 0.8)
      .option('--top-p <p>', 'nucleus sampling mass', number('--top-p', 0), 0.95)
      .option('--seed <n>', 'sampling seed (default: random)', number('--seed', 0))
      .option('--stop <text...>', 'stop at any of these strings')
      .option('--json', 'print one JSON object with the text, usage and route instead of streaming'),
  ).action(async (prompt: string, opts: GenerateOptions) => {
    const api = apiClientFrom(opts)
    const model = await modelCid(api, opts.model)
    const pieces: string[] = []
    const stream = opts.json !== true
    if (stream) process.stdout.write(prompt)
    const t0 = performance.now()
    const last = await api.complete(
      {
        model,
        prompt,
        max_tokens: opts.maxTokens,
        temperature: opts.temperature,
        top_p: opts.topP,
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
        ...(opts.stop === undefined ? {} : { stop: opts.stop }),
      },
      (text) => {
        pieces.push(text)
        if (stream) process.stdout.write(text)
      },
    )
    const seconds = (performance.now() - t0) / 1000
    const tokens = last.usage?.completion_tokens ?? 0
    const route = last.weft?.route ?? []
    if (!stream) {
      process.stdout.write(`${JSON.stringify({ model, text: pieces.join(''), finishReason: last.choices[0]?.finish_reason, usage: last.usage, seconds, route, events: last.weft?.events ?? [] })}\n`)
      return
    }
    process.stdout.write('\n')
    const hops = route.map((h) => `${h.peer.slice(-8)}[${h.start}-${h.end}]`).join(' → ')
    process.stderr.write(`${tokens} tokens in ${seconds.toFixed(2)} s (${(tokens / seconds).toFixed(1)} tokens/s) via ${hops}\n`)
    for (const e of last.weft?.events ?? []) process.stderr.write(`  ${e.type}: ${JSON.stringify(e)}\n`)
  })
}
