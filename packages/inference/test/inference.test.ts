// Decentralized inference on real mesh nodes (loopback) with the tfjs-wasm engine: a model split over three servers
// generates exactly the tokens one engine does alone; a server killed mid-generation is replaced by replay with the
// same tokens; a peer cannot reach another's session; bad requests get the reason.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { askSpans, chooseSpan, createSpanServer, rebalancedSpan, generate, InferenceSession, planRoute, type SessionEvent, type SpanServer, sampleToken } from '@weft/inference'
import { generatePsk, RpcError } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { LM_CLOSE, LM_FORWARD, LM_INFO, WireErrorCode } from '@weft/protocol'
import { initTransformerWeights, mulberry32, type NamedTensor, parseTransformerConfig, spanWeights, type TransformerSpan } from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CONFIG = parseTransformerConfig({ vocabSize: 64, hiddenSize: 32, intermediateSize: 64, numLayers: 3, numHeads: 4, numKvHeads: 2, maxPositions: 96 })
const MODEL = 'bafk-test-model'
const PROMPT = Int32Array.from([5, 17, 42, 8, 33, 2])
const psk = generatePsk()

const startNode = async (): Promise<MeshNode> => createMeshNode({ privateKey: await generateKeyPair('Ed25519'), psk, network: 'loopback' })

/** Weights scaled up from the 0.02 init so greedy decoding does not settle on one token. */
function modelWeights(): Map<string, NamedTensor> {
  const all = initTransformerWeights(CONFIG, 11)
  for (const [name, t] of all) if (!name.includes('norm')) for (let i = 0; i < t.data.length; i++) t.data[i] = (t.data[i] as number) * 6
  return all
}

let engine: TfjsRuntime
const weights = modelWeights()
const nodes: MeshNode[] = []
const servers = new Map<string, SpanServer>()
let client: MeshNode
let stranger: MeshNode

/** Starts a node serving one span of the model. */
async function serveSpan(blocks: readonly [number, number]): Promise<MeshNode> {
  const node = await startNode()
  const span: TransformerSpan = { embed: blocks[0] === 0, blocks, head: blocks[1] === CONFIG.numLayers }
  const server = createSpanServer({ rpc: node.rpc }, { maxSessionsPerPeer: 2 })
  server.serve({ model: MODEL, engine: `tfjs/${engine.backend}`, span: await engine.loadTransformer(CONFIG, span, spanWeights(CONFIG, span, weights)) })
  await server.start()
  servers.set(node.peerId, server)
  nodes.push(node)
  return node
}

beforeAll(async () => {
  engine = await tfjsRuntime({ backend: 'wasm' })
  // Blocks [1, 2) twice: one of them is killed mid-generation.
  for (const blocks of [[0, 1], [1, 2], [1, 2], [2, 3]] as const) await serveSpan(blocks)
  client = await startNode()
  stranger = await startNode()
  for (const n of nodes) {
    await client.dial(n.addresses()[0] as string)
    await stranger.dial(n.addresses()[0] as string)
  }
}, 60_000)

afterAll(async () => {
  for (const s of servers.values()) await s.stop()
  await Promise.all([...nodes, client, stranger].map((n) => n?.stop()))
  await engine?.dispose()
})

/** Greedy tokens from the whole model in one engine, no mesh: what every route must give. */
async function alone(n: number): Promise<number[]> {
  const whole: TransformerSpan = { embed: true, blocks: [0, 3], head: true }
  const model = await engine.loadTransformer(CONFIG, whole, spanWeights(CONFIG, whole, weights))
  const s = model.openSession('alone')
  const out: number[] = []
  let logits = await s.forward({ tokens: PROMPT })
  for (let i = 0; i < n; i++) {
    const token = sampleToken(logits.subarray(logits.length - CONFIG.vocabSize), {}, mulberry32(0))
    out.push(token)
    logits = await s.forward({ tokens: Int32Array.of(token) })
  }
  model.dispose()
  return out
}

const components = () => ({ rpc: client.rpc, offers: () => askSpans(client.rpc, nodes.map((n) => n.peerId), { model: MODEL, timeoutMs: 2_000 }) })

describe('inference over the mesh', () => {
  it('greedy decoding through three servers gives the single-engine tokens', async () => {
    const expected = await alone(12)
    expect(new Set(expected).size).toBeGreaterThan(2)
    const events: SessionEvent[] = []
    const session = await InferenceSession.open(components(), { model: MODEL, config: CONFIG, onEvent: (e) => events.push(e) })
    expect(session.route.map((h) => [h.start, h.end])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ])
    const tokens: number[] = []
    for await (const t of generate(session, PROMPT, { maxNewTokens: 12 })) tokens.push(t)
    expect(tokens).toEqual(expected)
    expect(session.length).toBe(PROMPT.length + 11)
    expect(events.map((e) => e.type)).toEqual(['routed'])
    await session.close()
    for (const s of servers.values()) expect(s.sessions).toBe(0)
  })

  it('concurrent sessions on the same servers are stepped in batches, each with the tokens it would get alone', async () => {
    const expected = await alone(10)
    const before = [...servers.values()].map((s) => ({ ...s.batching }))
    const run = async () => {
      const session = await InferenceSession.open(components(), { model: MODEL, config: CONFIG })
      const tokens: number[] = []
      try {
        for await (const t of generate(session, PROMPT, { maxNewTokens: 10 })) tokens.push(t)
      } finally {
        await session.close()
      }
      return tokens
    }
    // Two at once: these servers take two sessions per peer.
    const results = await Promise.all([run(), run()])
    for (const r of results) expect(r).toEqual(expected)
    const after = [...servers.values()].map((s) => s.batching)
    const batches = after.reduce((n, s, i) => n + s.batches - (before[i]?.batches ?? 0), 0)
    const steps = after.reduce((n, s, i) => n + s.steps - (before[i]?.steps ?? 0), 0)
    // 2 sessions × 10 steps × 3 hops = 60 steps: in fewer batches than steps.
    expect(steps).toBe(60)
    expect(batches).toBeLessThan(steps)
  })

  it('a server killed mid-generation is replaced by replay: same tokens, no error, the events say so', async () => {
    const expected = await alone(16)
    const events: SessionEvent[] = []
    const session = await InferenceSession.open(components(), { model: MODEL, config: CONFIG, onEvent: (e) => events.push(e) })
    const victimId = session.route[1]?.peer as string
    const victim = nodes.find((n) => n.peerId === victimId) as MeshNode
    const tokens: number[] = []
    for await (const t of generate(session, PROMPT, { maxNewTokens: 16 })) {
      tokens.push(t)
      if (tokens.length === 6) {
        await servers.get(victimId)?.stop()
        await victim.stop()
      }
    }
    expect(tokens).toEqual(expected)
    const failed = events.find((e) => e.type === 'server-failed')
    expect(failed).toMatchObject({ hop: { peer: victimId, start: 1, end: 2 } })
    const rerouted = events.find((e) => e.type === 'rerouted')
    // The prompt and the five tokens fed back before the kill were replayed to the replacement.
    expect(rerouted).toMatchObject({ replaced: { peer: victimId }, by: [{ start: 1, end: 2 }], replayedPositions: PROMPT.length + 5 })
    expect(rerouted?.type === 'rerouted' && rerouted.by[0]?.peer).not.toBe(victimId)
    expect(session.route[1]?.peer).not.toBe(victimId)
    await session.close()
    nodes.splice(nodes.indexOf(victim), 1)
    servers.delete(victimId)
  })

  it('a peer cannot step into or close another peer’s session', async () => {
    const session = await InferenceSession.open(components(), { model: MODEL, config: CONFIG, sessionId: 'mine' })
    await session.forward(PROMPT)
    const first = session.route[0]?.peer as string
    const intrude = stranger.rpc.call(first, LM_FORWARD, {
      sessionId: 'mine',
      model: MODEL,
      start: 0,
      end: 1,
      position: PROMPT.length,
      input: { case: 'tokens', value: new Uint8Array(4) },
      count: 1,
    })
    await expect(intrude).rejects.toMatchObject({ code: WireErrorCode.NOT_FOUND, message: expect.stringMatching(/session mine is not held here/) })
    expect((await stranger.rpc.call(first, LM_CLOSE, { sessionId: 'mine' })).closed).toBe(false)
    // The owner's session is untouched: it goes on from where it was.
    expect((await session.forward(Int32Array.of(1))).length).toBe(CONFIG.vocabSize)
    expect(session.length).toBe(PROMPT.length + 1)
    await session.close()
  })

  it('a server of a closed mesh refuses a peer that is not a member, on every call', async () => {
    const node = await startNode()
    const span: TransformerSpan = { embed: true, blocks: [0, 1], head: false }
    const guarded = createSpanServer({ rpc: node.rpc, authorize: (peer) => (peer === client.peerId ? undefined : `${peer} has no valid certificate`) })
    guarded.serve({ model: MODEL, engine: 'tfjs', span: await engine.loadTransformer(CONFIG, span, spanWeights(CONFIG, span, weights)) })
    await guarded.start()
    try {
      await stranger.dial(node.addresses()[0] as string)
      await client.dial(node.addresses()[0] as string)
      const step = { sessionId: 'x', model: MODEL, start: 0, end: 1, position: 0, count: 1, input: { case: 'tokens' as const, value: new Uint8Array(4) } }
      const unauthorized = { code: WireErrorCode.UNAUTHORIZED, message: expect.stringMatching(/has no valid certificate/) }
      await expect(stranger.rpc.call(node.peerId, LM_INFO, {})).rejects.toMatchObject(unauthorized)
      await expect(stranger.rpc.call(node.peerId, LM_FORWARD, step)).rejects.toMatchObject(unauthorized)
      await expect(stranger.rpc.call(node.peerId, LM_CLOSE, { sessionId: 'x' })).rejects.toMatchObject(unauthorized)
      expect(guarded.sessions).toBe(0)
      // A member is served.
      expect((await client.rpc.call(node.peerId, LM_FORWARD, step)).length).toBe(1)
      expect(guarded.sessions).toBe(1)
    } finally {
      await guarded.stop()
      await node.stop()
    }
  })

  it('answers malformed or over-limit requests with the reason', async () => {
    const peer = nodes[0]?.peerId as string
    const base = { sessionId: 'bad', model: MODEL, start: 0, end: 1, position: 0, count: 2 }
    const refused = async (req: object, code: WireErrorCode, why: RegExp) => {
      const err = await stranger.rpc.call(peer, LM_FORWARD, req).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(RpcError)
      expect(err).toMatchObject({ code, message: expect.stringMatching(why) })
    }
    await refused({ ...base, input: { case: 'tokens', value: new Uint8Array(7) } }, WireErrorCode.BAD_REQUEST, /7 bytes of tokens are not 2 int32 ids/)
    await refused({ ...base, input: { case: 'hidden', value: new Uint8Array(256) } }, WireErrorCode.BAD_REQUEST, /send token ids, not hidden states/)
    await refused({ ...base, count: 1, input: { case: 'tokens', value: Uint8Array.of(64, 0, 0, 0) } }, WireErrorCode.BAD_REQUEST, /token id 64 is outside the vocabulary of 64/)
    await refused({ ...base, end: 2, input: { case: 'tokens', value: new Uint8Array(8) } }, WireErrorCode.NOT_FOUND, /does not serve blocks \[0, 2\)/)
    await refused({ ...base, maxTokens: 97, input: { case: 'tokens', value: new Uint8Array(8) } }, WireErrorCode.BAD_REQUEST, /max_tokens 97 is over the model's 96 positions/)
    await refused({ ...base, input: {} }, WireErrorCode.BAD_REQUEST, /no input/)
    // Two sessions per peer on these servers: the third is refused, and closing one makes room.
    for (const id of ['s1', 's2']) await stranger.rpc.call(peer, LM_FORWARD, { ...base, sessionId: id, count: 1, input: { case: 'tokens', value: new Uint8Array(4) } })
    await refused({ ...base, sessionId: 's3', count: 1, input: { case: 'tokens', value: new Uint8Array(4) } }, WireErrorCode.RESOURCE_EXHAUSTED, /you hold 2 sessions here/)
    // A position past what the session holds is a conflict, not a silent gap in the cache.
    await refused({ ...base, sessionId: 's1', position: 5, count: 1, input: { case: 'tokens', value: new Uint8Array(4) } }, WireErrorCode.CONFLICT, /position 5 is past the 1 positions/)
    expect((await stranger.rpc.call(peer, LM_CLOSE, { sessionId: 's1' })).closed).toBe(true)
    await stranger.rpc.call(peer, LM_FORWARD, { ...base, sessionId: 's3', count: 1, input: { case: 'tokens', value: new Uint8Array(4) } })
    const info = await stranger.rpc.call(peer, LM_INFO, {})
    expect(info.spans).toMatchObject([{ model: MODEL, start: 0, end: 1, engine: expect.stringMatching(/^tfjs\//), sessions: 2 }])
    expect(JSON.parse(info.spans[0]?.configJson ?? '{}')).toEqual(CONFIG)
    for (const id of ['s2', 's3']) await stranger.rpc.call(peer, LM_CLOSE, { sessionId: id })
  })
})

describe('route planning and sampling', () => {
  const offer = (peer: string, start: number, end: number, ms = 1) => ({ peer, start, end, secondsPerToken: ms / 1000, freeTokens: 100 })

  it('takes the cheapest chain of spans by round trips plus compute, and leaves out excluded peers', () => {
    const offers = [offer('a', 0, 2, 4), offer('b', 0, 1), offer('c', 1, 2), offer('d', 2, 3)]
    const rtt = (p: string) => ({ a: 1, b: 1, c: 1, d: 1 })[p] ?? 1
    // a: 1 + 4 = 5 against b then c: 2 + 2 = 4.
    expect(planRoute(offers, 0, 3, { rttMs: rtt })?.map((h) => h.peer)).toEqual(['b', 'c', 'd'])
    expect(planRoute(offers, 0, 3, { rttMs: (p) => (p === 'c' ? 10 : 1) })?.map((h) => h.peer)).toEqual(['a', 'd'])
    expect(planRoute(offers, 0, 3, { rttMs: rtt }, { exclude: new Set(['c']) })?.map((h) => h.peer)).toEqual(['a', 'd'])
    expect(planRoute(offers, 0, 3, { rttMs: rtt }, { exclude: new Set(['d']) })).toBeUndefined()
    expect(planRoute([offer('x', 0, 3)], 0, 3, { rttMs: rtt }, { needTokens: 101 })).toBeUndefined()
  })

  it('takes the span where the swarm is weakest for a new server (--blocks auto)', () => {
    // Blocks 0-1 have two servers, block 2 one slow one, block 3 none.
    const offers = [offer('a', 0, 2), offer('b', 0, 2), offer('c', 2, 3, 50)]
    expect(chooseSpan(offers, 4, 1)).toEqual([3, 4])
    expect(chooseSpan(offers, 4, 2)).toEqual([2, 4])
    expect(chooseSpan([...offers, offer('d', 3, 4)], 4, 1)).toEqual([2, 3])
    expect(chooseSpan([], 4, 4)).toEqual([0, 4])
    expect(() => chooseSpan(offers, 4, 5)).toThrow(/count must be an integer in \[1, 4\]/)
  })

  it('moves a server where it raises the swarm’s weakest block, and stays when that gains nothing', () => {
    const mine = { start: 0, end: 2, secondsPerToken: 0.001 }
    // Blocks 2-3 have no server while 0-1 have two: move there.
    expect(rebalancedSpan([offer('a', 0, 2)], mine, 4)).toEqual([2, 4])
    // Balanced (one server a block): stay.
    expect(rebalancedSpan([offer('a', 2, 4)], mine, 4)).toBeUndefined()
    // One block each way uncovered: moving to block 1 leaves one uncovered block instead of two.
    expect(rebalancedSpan([offer('a', 0, 1)], { start: 0, end: 1, secondsPerToken: 0.001 }, 3)).toEqual([1, 2])
    // Within the margin: a slightly slower block elsewhere is not worth the move.
    expect(rebalancedSpan([offer('a', 0, 2, 1), offer('b', 2, 4, 1.1)], { start: 0, end: 2, secondsPerToken: 0.1 }, 4)).toBeUndefined()
  })

  it('samples greedily at temperature 0, from the nucleus otherwise, the same for the same seed', () => {
    const logits = Float32Array.from([0.1, 3, 2.9, -1, 0])
    expect(sampleToken(logits, {}, mulberry32(1))).toBe(1)
    const draw = (seed: number, topP: number) => Array.from({ length: 200 }, ((rng) => () => sampleToken(logits, { temperature: 1, topP }, rng))(mulberry32(seed)))
    expect(draw(3, 1)).toEqual(draw(3, 1))
    expect(new Set(draw(3, 1)).size).toBeGreaterThan(2)
    // Tokens 1 and 2 hold about 0.9 of the probability: top_p 0.8 keeps only them.
    expect(new Set(draw(4, 0.8))).toEqual(new Set([1, 2]))
    expect(() => sampleToken(logits, { topP: 0 }, mulberry32(1))).toThrow(/top_p must be in \(0, 1\]/)
  })
})
