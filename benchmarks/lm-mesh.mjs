// Decentralized inference on loopback (issue 17): one generation session through 1, 2 and 3 spans served by node
// processes, against the same model run whole in this process (same engine, tfjs-wasm); the per-hop overhead above the
// spans' compute; the time to recover from a server killed mid-generation; 8 concurrent sessions against 1.
// The model is the shipped King James checkpoint (@weft/model-kjv-lm). Greedy decoding, so every route must give the
// single-engine tokens (checked).
// Usage: npx tsc -b, then node benchmarks/lm-mesh.mjs [--tokens 64] [--runs 3]
import '@weft/mesh/shim'
import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { askSpans, InferenceSession } from '@weft/inference'
import { decodeLmCheckpoint } from '@weft/lm'
import { createMeshNode } from '@weft/mesh/node'
import { KJV_LM_PATH } from '@weft/model-kjv-lm'
import { tfjsRuntime } from '@weft/runtime-tfjs'

const { values: args } = parseArgs({ options: { tokens: { type: 'string', default: '64' }, runs: { type: 'string', default: '3' } } })
const TOKENS = Number(args.tokens)
const RUNS = Number(args.runs)
const PROMPT = 'And God said'

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const argmax = (row) => {
  let best = 0
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i
  return best
}

const bytes = await readFile(KJV_LM_PATH)
const ckpt = decodeLmCheckpoint(bytes)
const { config, tokenizer } = ckpt
const prompt = Int32Array.from(tokenizer.encode(PROMPT))
const L = config.numLayers

/** Greedy tokens and per-token step times (ms) of one session: `step(ids)` returns the last position's logits. */
async function decode(step) {
  const out = []
  const stepMs = []
  let logits = await step(prompt)
  for (let i = 0; i < TOKENS; i++) {
    const token = argmax(logits)
    out.push(token)
    const t = performance.now()
    logits = await step(Int32Array.of(token))
    stepMs.push(performance.now() - t)
  }
  return { tokens: out, stepMs }
}

// The baseline: the whole model in this process.
const engine = await tfjsRuntime({ backend: 'wasm' })
const whole = await engine.loadTransformer(config, { embed: true, blocks: [0, L], head: true }, ckpt.weights)
const localRuns = []
let reference
for (let r = 0; r < RUNS; r++) {
  const s = whole.openSession(`local-${r}`)
  const res = await decode(async (ids) => {
    const logits = await s.forward({ tokens: ids })
    return logits.subarray(logits.length - config.vocabSize)
  })
  s.close()
  reference ??= res.tokens
  localRuns.push(median(res.stepMs))
}
const localMs = median(localRuns)
console.log(`model: ${L} blocks × ${config.hiddenSize}, vocab ${config.vocabSize}; ${TOKENS} greedy tokens after "${PROMPT}"; median of ${RUNS} runs; Node ${process.version}`)
console.log(`local (whole model, this process, tfjs-wasm): p50 ${localMs.toFixed(2)} ms/token, ${(1000 / localMs).toFixed(1)} tokens/s`)

const { startLocalNode } = await import('@weft/cli')
const root = mkdtempSync(join(tmpdir(), 'weft-lm-mesh-'))
const servers = []
const client = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), network: 'loopback' })
const summary = { localMsPerToken: localMs, routes: [], tokens: TOKENS }
try {
  const start = async (name) => {
    const node = await startLocalNode({ dataDir: join(root, name), args: ['--no-probe', '--log-level', 'warn', ...(servers.length > 0 ? ['--bootstrap', servers[0].addrs[0]] : [])], startTimeoutMs: 120_000 })
    servers.push(node)
    await client.dial(node.addrs[0])
    return node
  }
  const layouts = {
    1: [[0, L]],
    2: [
      [0, L / 2],
      [L / 2, L],
    ],
    3: [
      [0, L / 2],
      [L / 2, L - 1],
      [L - 1, L],
    ],
  }
  // Five servers: the three layouts' spans, each on its own process (one spare of [L/2, L-1) for the kill).
  const plan = [[0, L], [0, L / 2], [L / 2, L], [L / 2, L - 1], [L / 2, L - 1], [L - 1, L]]
  for (let i = 0; i < plan.length; i++) await start(`server-${i}`)
  const model = (await servers[0].api.storeAddFile(new Blob([bytes]), { announce: true })).cid
  for (const [i, blocks] of plan.entries()) await servers[i].api.serveModel({ model, blocks })
  const all = await askSpans(client.rpc, servers.map((s) => s.peerId), { model })
  const offersFor = (layout) => all.filter((o) => layout.some(([a, b]) => o.start === a && o.end === b))

  const session = (layout, extra = {}) => InferenceSession.open({ rpc: client.rpc, offers: async () => offersFor(layout) }, { model, config, maxTokens: prompt.length + TOKENS + 1, ...extra })
  for (const k of [1, 2, 3]) {
    const layout = layouts[k]
    const runs = []
    let agree = true
    for (let r = 0; r < RUNS; r++) {
      const s = await session(layout)
      const res = await decode((ids) => s.forward(ids))
      await s.close()
      agree &&= res.tokens.every((t, i) => t === reference[i])
      runs.push(median(res.stepMs))
    }
    const p50 = median(runs)
    const perHop = (p50 - localMs) / k
    summary.routes.push({ spans: k, msPerToken: p50, tokensPerSecond: 1000 / p50, perHopOverheadMs: perHop, sameTokens: agree })
    console.log(
      `${k} span(s) on loopback: p50 ${p50.toFixed(2)} ms/token, ${(1000 / p50).toFixed(1)} tokens/s (${(localMs / p50).toFixed(2)}× local); ` +
        `per-hop overhead ${perHop.toFixed(2)} ms above compute (goal ≤ 2); same tokens as local: ${agree}`,
    )
  }

  // 8 concurrent sessions against 1, on the 3-span route.
  const timeSessions = async (n) => {
    const t = performance.now()
    const sessions = await Promise.all(Array.from({ length: n }, () => session(layouts[3])))
    const results = await Promise.all(sessions.map((s) => decode((ids) => s.forward(ids))))
    const seconds = (performance.now() - t) / 1000
    await Promise.all(sessions.map((s) => s.close()))
    return { tokensPerSecond: (n * TOKENS) / seconds, agree: results.every((r) => r.tokens.every((x, i) => x === reference[i])) }
  }
  const one = await timeSessions(1)
  const eight = await timeSessions(8)
  summary.concurrency = { one: one.tokensPerSecond, eight: eight.tokensPerSecond, ratio: eight.tokensPerSecond / one.tokensPerSecond, sameTokens: eight.agree }
  console.log(`8 concurrent sessions on 3 spans: ${eight.tokensPerSecond.toFixed(1)} tokens/s in all against ${one.tokensPerSecond.toFixed(1)} for 1 (${summary.concurrency.ratio.toFixed(2)}×); same tokens: ${eight.agree}`)

  // A server of the middle span killed (SIGKILL) half-way: the step that meets it re-routes and replays.
  const events = []
  const s = await session(layouts[3], { onEvent: (e) => events.push({ ...e, at: performance.now() }) })
  const victim = servers.find((n) => n.peerId === s.route[1].peer)
  let killedAt = 0
  const res = await decode(async (ids) => {
    if (killedAt === 0 && s.length >= prompt.length + TOKENS / 2) {
      await victim.kill()
      killedAt = performance.now()
    }
    return s.forward(ids)
  })
  await s.close()
  const rerouted = events.find((e) => e.type === 'rerouted')
  const recoverMs = rerouted === undefined ? Number.NaN : rerouted.at - killedAt
  const slowest = Math.max(...res.stepMs)
  summary.recovery = { recoverMs, slowestStepMs: slowest, replayedPositions: rerouted?.replayedPositions, sameTokens: res.tokens.every((t, i) => t === reference[i]) }
  console.log(
    `server killed after ${TOKENS / 2} tokens: re-routed and replayed ${rerouted?.replayedPositions} positions ${recoverMs.toFixed(0)} ms after the kill; ` +
      `slowest step ${slowest.toFixed(1)} ms against p50 ${median(res.stepMs).toFixed(2)}; same tokens: ${summary.recovery.sameTokens}`,
  )
} finally {
  await client.stop()
  await Promise.all(servers.map((n) => n.stop()))
  rmSync(root, { recursive: true, force: true })
  whole.dispose()
  await engine.dispose()
}
console.log(JSON.stringify(summary))
