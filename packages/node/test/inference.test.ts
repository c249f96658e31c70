// Decentralized inference on in-process nodes: a checkpoint put in one node's store is served in three spans by
// three nodes (two fetch it by CID), a fourth node answers OpenAI's API through them with the tokens one engine gives
// alone, the official `openai` client streams from it, a server stopped mid-stream is replaced by replay, and bad
// requests get OpenAI-shaped errors.
import { createApiClient } from '@weft/api-client'
import { continueText } from '@weft/inference'
import { encodeLmCheckpoint, trainBpe } from '@weft/lm'
import { initTransformerWeights, parseTransformerConfig } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const TEXT = 'In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. '
const tokenizer = trainBpe(TEXT.repeat(20), { vocabSize: 320 })
const CONFIG = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 32, intermediateSize: 96, numLayers: 3, numHeads: 4, numKvHeads: 2, maxPositions: 128, tieEmbeddings: true })
/** Random weights, scaled so greedy decoding wanders over the vocabulary rather than repeating one token. */
const weights = initTransformerWeights(CONFIG, 5)
for (const [name, t] of weights) if (!name.includes('norm')) for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) * 6
const CHECKPOINT = encodeLmCheckpoint({ config: CONFIG, weights, tokenizer, info: {} })
const PROMPT = 'And God said'

const nodes: TestNode[] = []
let client: TestNode
let model: string

const api = (n: TestNode) => createApiClient({ url: n.apiUrl, timeoutMs: 60_000 })
const post = (n: TestNode, path: string, body: unknown) => fetch(`${n.apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** Greedy text from the whole model in one engine: what every route must give. */
async function alone(maxTokens: number): Promise<string> {
  const engine = await tfjsRuntime({ backend: 'wasm' })
  const span = await engine.loadTransformer(CONFIG, { embed: true, blocks: [0, 3], head: true }, weights)
  const out = await continueText(span, tokenizer, PROMPT, { maxTokens, temperature: 0, topP: 1, seed: 0 })
  await engine.dispose()
  return out.text
}

beforeAll(async () => {
  const first = await startTestNode()
  nodes.push(first)
  const bootstrap = [first.addrs[0] as string]
  for (let i = 0; i < 3; i++) nodes.push(await startTestNode({ bootstrap }))
  client = await startTestNode({ bootstrap })
  await until(() => client.peers.list().filter((p) => p.status === 'alive' && p.connected).length === 4, 30_000, 'the client to see four servers')
  model = (await api(first).storeAddFile(new Blob([CHECKPOINT]), { name: 'lm.safetensors', announce: true })).cid
  // Blocks [1, 2) twice: one of its servers is stopped mid-stream.
  const spans: [number, number][] = [
    [0, 1],
    [1, 2],
    [1, 2],
    [2, 3],
  ]
  for (const [i, blocks] of spans.entries()) await api(nodes[i] as TestNode).serveModel({ model, blocks })
}, 120_000)

afterAll(async () => {
  await Promise.all([...nodes, client].map((n) => n?.stop()))
  removeTestDirs()
})

describe('inference through the node API', () => {
  it('lists the model; a completion through three servers gives the single-engine greedy text', async () => {
    const models = (await (await fetch(`${client.apiUrl}/v1/models`)).json()) as { data: { id: string; servers: number; blocks: number }[] }
    expect(models.data).toEqual([{ id: model, object: 'model', created: 0, owned_by: 'weft', servers: 4, blocks: 3 }])
    const res = await post(client, '/v1/completions', { model, prompt: PROMPT, max_tokens: 20, temperature: 0 })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { choices: { text: string; finish_reason: string }[]; usage: { completion_tokens: number }; weft: { route: { peer: string; start: number }[] } }
    expect(body.choices[0]).toMatchObject({ text: await alone(20), finish_reason: 'length' })
    expect(body.usage.completion_tokens).toBe(20)
    expect(body.weft.route.map((h) => h.start)).toEqual([0, 1, 2])
    expect(body.weft.route.every((h) => h.peer !== client.peerId)).toBe(true)
    // The servers announce their spans in their signed ads (gossip and DHT, valid as long as the ad).
    const announced = () => client.peers.list().flatMap((p) => p.ad.lmSpans.filter((s) => s.model === model).map((s) => `${s.start}-${s.end}/${s.numLayers}`))
    await until(() => announced().length === 4, 20_000, 'four spans in the ads')
    expect(announced().sort()).toEqual(['0-1/3', '1-2/3', '1-2/3', '2-3/3'])
  })

  it('streams a chat completion and a completion to the official openai client', async () => {
    const openai = new OpenAI({ baseURL: `${client.apiUrl}/v1`, apiKey: 'unused-on-loopback' })
    const chat = await openai.chat.completions.create({ model, messages: [{ role: 'user', content: PROMPT }], max_tokens: 12, temperature: 0, stream: true })
    const parts: string[] = []
    let finish: string | null | undefined
    for await (const chunk of chat) {
      parts.push(chunk.choices[0]?.delta?.content ?? '')
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(parts.join('').length).toBeGreaterThan(0)
    expect(parts.filter((p) => p !== '').length).toBeGreaterThan(1)
    expect(finish).toBe('length')
    const completion = await openai.completions.create({ model, prompt: PROMPT, max_tokens: 15, temperature: 0, stream: true })
    let text = ''
    for await (const chunk of completion) text += chunk.choices[0]?.text ?? ''
    expect(text).toBe(await alone(15))
  })

  it('a server stopped mid-stream is replaced by replay: the same text, and the events say so', async () => {
    const expected = await alone(40)
    const standby = [nodes[1] as TestNode, nodes[2] as TestNode]
    let stopped: TestNode | undefined
    const pieces: string[] = []
    const last = await api(client).complete({ model, prompt: PROMPT, max_tokens: 40, temperature: 0 }, (text) => {
      pieces.push(text)
      if (pieces.length === 3 && stopped === undefined) {
        // The server of blocks [1, 2) this session runs on holds its session now.
        stopped = standby.find((n) => n.inference?.local().some((s) => s.sessions > 0))
        void stopped?.stop()
      }
    })
    expect(stopped).toBeDefined()
    expect(pieces.join('')).toBe(expected)
    const types = (last.weft?.events ?? []).map((e) => e.type)
    expect(types).toContain('server-failed')
    expect(types).toContain('rerouted')
    expect(last.weft?.route[1]?.peer).not.toBe(stopped?.peerId)
    nodes.splice(nodes.indexOf(stopped as TestNode), 1)
  })

  it('answers bad requests with OpenAI-shaped errors', async () => {
    const error = async (res: Response) => ({ status: res.status, ...((await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } }).error })
    expect(await error(await post(client, '/v1/completions', { model, prompt: PROMPT, max_tokens: 200 }))).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      code: 'context_length_exceeded',
      message: expect.stringMatching(/context is 128 tokens; the prompt has \d+ and max_tokens asks for 200 more/),
    })
    expect(await error(await post(client, '/v1/completions', { model: 'not a cid', prompt: PROMPT }))).toMatchObject({ status: 400, param: 'model', message: expect.stringMatching(/model must be a checkpoint's CID/) })
    expect(await error(await post(client, '/v1/chat/completions', { model, messages: [] }))).toMatchObject({ status: 400, param: 'messages' })
    expect(await error(await post(client, '/v1/completions', { model, prompt: PROMPT, temperature: 5 }))).toMatchObject({ status: 400, param: 'temperature' })
    expect(await error(await post(client, '/v1/completions', { model, prompt: PROMPT, n: 2 }))).toMatchObject({ status: 400, param: 'n' })
    const bad = await fetch(`${client.apiUrl}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })
    expect(await error(bad)).toMatchObject({ status: 400, message: 'the body must be JSON' })
    expect(await error(await post(nodes[0] as TestNode, '/v1/inference/serve', { model, blocks: [2, 7] }))).toMatchObject({ status: 400, param: 'blocks', message: expect.stringMatching(/blocks \[2, 7\) are not a range within the model's 3 blocks/) })
  })
})
