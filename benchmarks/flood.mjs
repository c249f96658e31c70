// Hostile flood against one node (issue 15): forged resource ads over gossipsub, then refused update headers over the
// real tensor protocol, each against an idle twin of the same build started in the same run. Reports the attacked
// node's peer table (and its bound), the events written to its job (counted in its SQLite), its CPU time (user + sys)
// and resident memory (peak during the phase, and after it settles) as ratios to the idle twin's, and whether honest
// work went on (an honest client's ads and updates still accepted, rounds completed during the flood).
// Each node is its own `weft node start` process, so CPU and RSS are read from /proc/<pid> of that process alone; a
// child process polls each node's API meanwhile (the slowest answer: how long its event loop stalled), and the header
// phase traces both nodes' RSS and V8 heap every 1,000 headers (whether memory levels off or keeps growing).
// Usage: npm run build, then
//   node benchmarks/flood.mjs [--ads 10000] [--headers 10000] [--bad-every 10] [--concurrency 8] [--settle 10]
//                             [--max-peers N] [--ad-ttl-s 600] [--json] [--keep]
//   --bad-every K: every K-th forged ad carries a signature by a key other than its peer id's (0: none).
//   --max-peers N: the nodes' peers.max (default: the node's default, 10,000).
//   --ad-ttl-s S: how long the forged ads say they are valid (the attacker chooses; default 600).
import '@weft/mesh/shim'
import { execFileSync, fork } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { create, toBinary } from '@bufbuild/protobuf'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import Database from 'better-sqlite3'
import { startLocalNode, waitUntil } from '@weft/cli'
import { createMeshNode } from '@weft/mesh/node'
import { ADS_TOPIC, signAd } from '@weft/node'
import { createTensor, FL_UPDATE, ResourceAdSchema, SignedResourceAdSchema, UpdateMetaSchema } from '@weft/protocol'
import { paramCount, parseModelSpec } from '@weft/runtime'

const { values: args } = parseArgs({
  options: {
    ads: { type: 'string', default: '10000' },
    headers: { type: 'string', default: '10000' },
    'bad-every': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '8' },
    settle: { type: 'string', default: '10' },
    'max-peers': { type: 'string' },
    'ad-ttl-s': { type: 'string', default: '600' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    probe: { type: 'string' },
  },
})
const ADS = Number(args.ads)
const HEADERS = Number(args.headers)
const BAD_EVERY = Number(args['bad-every'])
const CONCURRENCY = Number(args.concurrency)
const SETTLE_MS = Number(args.settle) * 1000
const log = args.json ? (...xs) => console.error(...xs) : (...xs) => console.log(...xs)
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const MiB = (bytes) => (bytes / 2 ** 20).toFixed(1)

// --probe DIR: the latency probe's child process (see latencyProbe).
if (args.probe !== undefined) {
  const { createNodeApiClient } = await import('@weft/api-client/node')
  const client = createNodeApiClient({ dataDir: args.probe })
  let stop = false
  let max = 0
  let calls = 0
  let failures = 0
  process.once('message', () => {
    stop = true
  })
  while (!stop) {
    const t = performance.now()
    try {
      await client.node()
      max = Math.max(max, performance.now() - t)
      calls++
    } catch {
      failures++
    }
    await sleep(250)
  }
  process.send({ maxMs: Math.round(max), calls, failures }, () => process.exit(0))
  await new Promise(() => {})
}

/** CPU seconds (user + sys) and resident memory (now, and the peak since the last reset) of one process, from /proc. */
function procStats(pid) {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK, rss: kb('VmRSS'), hwm: kb('VmHWM') }
}
/** Resets a process's peak RSS (VmHWM) to its current RSS, so that the next peak is the phase's own. */
function resetPeak(pid) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

const model = parseModelSpec({ architecture: 'logreg', inputShape: [28, 28, 1], numClasses: 10 })
const params = paramCount(model)
const root = mkdtempSync(join(tmpdir(), 'weft-bench-flood-'))
const nodes = []
const rogues = []
const result = { ads: ADS, headers: HEADERS, badEvery: BAD_EVERY, phases: {} }
// Short ad timing so that the honest client's fresh ads after a phase are seen within seconds.
/** The last lines each node process wrote (printed when the run fails: a node that died says why). */
const tails = new Map()
const output = (name) => (line) => {
  const t = tails.get(name) ?? []
  t.push(line)
  if (t.length > 40) t.shift()
  tails.set(name, t)
}
const common = ['--ad-interval', '2000', '--ad-ttl', '6000', '--no-probe', '--log-level', 'warn']

/** One measured node (coordinator, no training) with its honest client: the attacked node and its idle twin are alike. */
async function startPair(name) {
  const dir = join(root, name)
  mkdirSync(dir, { recursive: true })
  const peers = args['max-peers'] === undefined ? {} : { peers: { max: Number(args['max-peers']) } }
  writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, ...peers, fl: { participate: false, workers: 1 } }))
  const node = await startLocalNode({ dataDir: dir, startTimeoutMs: 120_000, output: output(name), args: [...common, '--config', join(dir, 'weft.json')] })
  nodes.push(node)
  const cdir = join(root, `${name}-client`)
  mkdirSync(cdir, { recursive: true })
  const dataset = { name: 'fmnist', source: 'fashion-mnist', split: 'train', partition: { scheme: 'iid', clients: 60, part: 0, seed: 1 } }
  writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { workers: 1 }, datasets: [dataset] }))
  const bootstrap = node.addrs.find((a) => !a.includes('/ws'))
  const client = await startLocalNode({
    dataDir: cdir,
    startTimeoutMs: 120_000,
    output: output(`${name}-client`),
    args: [...common, '--config', join(cdir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', node.peerId],
  })
  nodes.push(client)
  await waitUntil(async () => (await node.api.peers('alive')).some((p) => p.peerId === client.peerId && p.ad?.datasets.length > 0), 120_000, `${name}'s client ad`, 250)
  return { name, node, client, pid: node.process.pid, bootstrap }
}

/**
 * Calls a node's API, again when the connection was dropped: a node whose event loop stalls past its HTTP server's
 * keep-alive timeout closes the kept-alive socket as the next request arrives (undici then reports "other side closed").
 */
async function api(node, f) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await f(node.api)
    } catch (err) {
      if (err?.name !== 'NodeNotRunningError' || attempt >= 3 || node.process.exitCode !== null || node.process.signalCode !== null) throw err
    }
  }
}

/**
 * Polls a node's API every 250 ms until stopped, from a child process (this one is busy attacking): the slowest
 * answer shows how long the node's event loop stalled.
 */
function latencyProbe(node) {
  const child = fork(fileURLToPath(import.meta.url), ['--probe', node.dataDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return () =>
    new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('error', reject)
      child.send('stop')
    })
}

/** Runs `body` as one phase: CPU and peak RSS of both nodes from its start to `settle` after it, RSS after settling. */
async function phase(label, attacked, idle, body) {
  const pids = [attacked.pid, idle.pid]
  for (const pid of pids) resetPeak(pid)
  const before = pids.map(procStats)
  const t0 = performance.now()
  const probes = [latencyProbe(attacked.node), latencyProbe(idle.node)]
  const detail = await body()
  const floodSeconds = (performance.now() - t0) / 1000
  const [latA, latI] = await Promise.all(probes.map((p) => p()))
  await sleep(SETTLE_MS)
  const after = pids.map(procStats)
  const [a, i] = after.map((s, k) => ({ cpu: s.cpu - before[k].cpu, peakRss: s.hwm, rss: s.rss }))
  const r = {
    seconds: floodSeconds,
    settleSeconds: SETTLE_MS / 1000,
    attacked: a,
    idle: i,
    ratios: { cpu: a.cpu / i.cpu, peakRss: a.peakRss / i.peakRss, rss: a.rss / i.rss },
    apiLatency: { attacked: latA, idle: latI },
    ...detail,
  }
  result.phases[label] = r
  log(
    `  attacked node: CPU ${a.cpu.toFixed(2)} s, RSS peak ${MiB(a.peakRss)} MiB, after ${SETTLE_MS / 1000} s ${MiB(a.rss)} MiB` +
      `\n  idle twin:     CPU ${i.cpu.toFixed(2)} s, RSS peak ${MiB(i.peakRss)} MiB, after ${SETTLE_MS / 1000} s ${MiB(i.rss)} MiB` +
      `\n  slowest API answer during the phase (polled every 250 ms): attacked ${latA.maxMs} ms, idle twin ${latI.maxMs} ms` +
      `\n  attacked / idle: CPU ${r.ratios.cpu.toFixed(1)}×, RSS peak ${r.ratios.peakRss.toFixed(2)}×, RSS after ${r.ratios.rss.toFixed(2)}× (goal ≤ 2×: ${r.ratios.peakRss <= 2 && r.ratios.rss <= 2 ? 'met' : 'not met'})`,
  )
  return r
}

async function adsOutcomes(node) {
  const text = await api(node, (a) => a.metrics())
  const out = {}
  for (const m of text.matchAll(/^weft_ads_received_total\{outcome="([^"]+)"\} (\d+)/gm)) out[m[1]] = Number(m[2])
  return out
}
/** V8 heap used, V8 heap reserved and memory outside the heap (Buffers), from a node's own /metrics. */
async function heapOf(node) {
  const text = await api(node, (a) => a.metrics())
  const read = (name) => Number(new RegExp(`^weft_nodejs_${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN)
  return { used: read('heap_size_used_bytes'), total: read('heap_size_total_bytes'), external: read('external_memory_bytes') }
}
const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0)

async function rogue(target) {
  const r = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], network: 'loopback' })
  rogues.push(r)
  await r.dial(target)
  return r
}

/** Events of a job in a node's SQLite store, by type, and the highest sequence number written. */
function jobEvents(dataDir, jobId) {
  const db = new Database(join(dataDir, 'fl.db'), { readonly: true, fileMustExist: true })
  try {
    const byType = Object.fromEntries(db.prepare('SELECT type, COUNT(*) AS n FROM fl_events WHERE job_id = ? GROUP BY type').all(jobId).map((r) => [r.type, r.n]))
    const { rows, maxSeq } = db.prepare('SELECT COUNT(*) AS rows, MAX(seq) AS maxSeq FROM fl_events WHERE job_id = ?').get(jobId)
    return { rows, maxSeq, byType }
  } finally {
    db.close()
  }
}

try {
  log(`flood benchmark ${new Date().toISOString()}, ${ADS} forged ads (every ${BAD_EVERY || 'no'}th with a bad signature), ${HEADERS} refused update headers`)
  const [attacked, idle] = [await startPair('attacked'), await startPair('idle')]
  const bound = args['max-peers'] === undefined ? 10_000 : Number(args['max-peers'])
  result.peerTableBound = bound
  await sleep(5_000)
  const base = [attacked.pid, idle.pid].map(procStats)
  result.startRss = { attacked: base[0].rss, idle: base[1].rss }
  log(`started: attacked node RSS ${MiB(base[0].rss)} MiB, idle twin ${MiB(base[1].rss)} MiB (each with one honest client)`)

  // (a) Forged ads: each for a fresh identity, signed by it, and published over gossipsub through one connection as a
  // message authored by that identity (so gossipsub's signature check and Weft's `from` = ad subject check pass).
  log(`\n(a) ${ADS} forged ads through one connection`)
  const adRogue = await rogue(attacked.bootstrap)
  const gs = adRogue.libp2p.services.pubsub
  const adsTopic = adRogue.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema)
  adsTopic.subscribe(() => {})
  await waitUntil(() => gs.getSubscribers(ADS_TOPIC).some((p) => p.toString() === attacked.node.peerId), 30_000, 'the attacked node on the ads topic', 100)
  const ownConfig = gs.publishConfig
  const outcomes0 = await adsOutcomes(attacked.node)
  const seen0 = sum(outcomes0)
  const clientSeen0 = (await api(attacked.node, (a) => a.peer(attacked.client.peerId))).lastSeen
  const otherKey = await generateKeyPair('Ed25519')
  await phase('ads', attacked, idle, async () => {
    const now = Date.now()
    const t0 = performance.now()
    let sent = 0
    for (let i = 0; i < ADS; i++) {
      const key = await generateKeyPair('Ed25519')
      const peerId = peerIdFromPrivateKey(key)
      const ad = create(ResourceAdSchema, {
        peerId: peerId.toString(),
        seq: 1n,
        issuedAtMs: BigInt(now),
        expiresAtMs: BigInt(now + Number(args['ad-ttl-s']) * 1000),
        weftVersion: '0.1.0',
        labels: { flood: String(i) },
      })
      const bad = BAD_EVERY > 0 && i % BAD_EVERY === BAD_EVERY - 1
      const signed = await signAd(ad, bad ? otherKey : key)
      // gossipsub reads its publish config when publish is called: the message is authored and signed by `key`.
      gs.publishConfig = { ...ownConfig, author: peerId, key: publicKeyToProtobuf(key.publicKey), privateKey: key }
      await gs.publish(ADS_TOPIC, signed).then(
        () => sent++,
        () => {},
      )
    }
    gs.publishConfig = ownConfig
    const published = performance.now()
    // Every ad the node judged shows in its counter by outcome; wait until the count stops moving.
    let last = -1
    let still = 0
    for (;;) {
      const seen = sum(await adsOutcomes(attacked.node)) - seen0
      if (seen >= ADS || (seen === last && ++still >= 6)) break
      if (seen !== last) still = 0
      last = seen
      await sleep(500)
    }
    // Outcomes during the phase (the honest client's ads included: a few 'accepted').
    const outcomes = Object.fromEntries(Object.entries(await adsOutcomes(attacked.node)).map(([k, v]) => [k, v - (outcomes0[k] ?? 0)]))
    const peers = await api(attacked.node, (a) => a.peers())
    const alive = peers.filter((p) => p.status === 'alive').length
    // Honest work: the honest client is still in the table, and a fresh ad of it was accepted after the flood.
    await sleep(4_000)
    const clientView = await api(attacked.node, (a) => a.peer(attacked.client.peerId))
    const detail = {
      published: sent,
      publishSeconds: (published - t0) / 1000,
      outcomes,
      peerTable: { size: peers.length, alive, gone: peers.length - alive, bound },
      idlePeerTable: (await api(idle.node, (a) => a.peers())).length,
      honest: { clientAlive: clientView.status === 'alive', clientAdAcceptedAfterFlood: clientView.lastSeen > clientSeen0 },
    }
    log(
      `  published ${sent}; the node judged them: ${JSON.stringify(outcomes)}\n` +
        `  peer table: ${peers.length} peers (${alive} alive), bound ${bound}; idle twin's table: ${detail.idlePeerTable}\n` +
        `  honest client still alive: ${detail.honest.clientAlive}, its fresh ad accepted after the flood: ${detail.honest.clientAdAcceptedAfterFlood}`,
    )
    return detail
  })

  // A peer that joins after the flood: the table admits it unless the forged peers fill it while their ads are valid.
  const lateDir = join(root, 'late-joiner')
  const late = await startLocalNode({ dataDir: lateDir, startTimeoutMs: 120_000, output: output('late-joiner'), args: [...common, '--bootstrap', attacked.bootstrap] })
  nodes.push(late)
  const lateAdmitted = await waitUntil(async () => (await api(attacked.node, (a) => a.peers('alive'))).some((p) => p.peerId === late.peerId), 20_000, 'the late joiner in the table', 500).then(
    () => true,
    () => false,
  )
  const fullRefusals = (await adsOutcomes(attacked.node)).full ?? 0
  result.phases.ads.lateJoiner = { admitted: lateAdmitted, fullRefusals }
  log(`  a peer joining after the flood is in the attacked node's table within 20 s: ${lateAdmitted} (ads refused as 'full' so far: ${fullRefusals})`)
  await late.stop()
  nodes.splice(nodes.indexOf(late), 1)

  // (b) Refused update headers: update transfers from a peer that is not a member of the running job, with forged
  // numbers, over the real tensor protocol. Both nodes run the same job with their honest client meanwhile.
  log(`\n(b) ${HEADERS} refused update headers through one connection`)
  const spec = {
    name: 'flood-target',
    model,
    dataset: 'fmnist',
    rounds: 100_000,
    clients: { fraction: 1, min: 1 },
    train: { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.05 } },
    timeouts: { roundSeconds: 600, waitSeconds: 600 },
    seed: 1,
  }
  const jobA = (await api(attacked.node, (a) => a.submitJob(spec))).id
  const jobI = (await api(idle.node, (a) => a.submitJob(spec))).id
  await waitUntil(async () => (await api(attacked.node, (a) => a.job(jobA))).completedRounds >= 2 && (await api(idle.node, (a) => a.job(jobI))).completedRounds >= 2, 180_000, 'two rounds of each job', 250)
  const headerRogue = await rogue(attacked.bootstrap)
  const zeros = new Float32Array(params)
  const set = [createTensor('delta', 'float32', [params], zeros)]
  const forgeries = [
    { kind: 'not a member', numbers: {} },
    { kind: 'infinite train seconds', numbers: { trainSeconds: Number.POSITIVE_INFINITY } },
    { kind: 'examples far above any declaration', numbers: { examples: 2n ** 52n } },
    { kind: 'NaN train loss', numbers: { trainLoss: Number.NaN } },
  ]
  await phase('headers', attacked, idle, async () => {
    const roundsA0 = (await api(attacked.node, (a) => a.job(jobA))).completedRounds
    const roundsI0 = (await api(idle.node, (a) => a.job(jobI))).completedRounds
    const t0 = Date.now()
    // Memory of both nodes every 1,000 headers: whether it levels off or keeps growing with the flood.
    const trace = []
    const memoryPoint = async (headers) => ({
      headers,
      rss: { attacked: procStats(attacked.pid).rss, idle: procStats(idle.pid).rss },
      heap: { attacked: await heapOf(attacked.node), idle: await heapOf(idle.node) },
    })
    let round = roundsA0 + 1
    const outcomes = {}
    let next = 0
    const worker = async () => {
      for (let i = next++; i < HEADERS; i = next++) {
        if (i % 500 === 0) round = (await api(attacked.node, (a) => a.job(jobA))).completedRounds + 1
        if (i % 1000 === 0) trace.push(await memoryPoint(i))
        const f = forgeries[i % forgeries.length]
        const metadata = toBinary(
          UpdateMetaSchema,
          create(UpdateMetaSchema, {
            jobId: jobA,
            round,
            baseHash: crypto.getRandomValues(new Uint8Array(32)),
            examples: 1000n,
            trainLoss: 0.5,
            trainAccuracy: 0.5,
            trainSeconds: 1,
            ...f.numbers,
          }),
        )
        const r = await headerRogue.tensors.send(attacked.node.peerId, FL_UPDATE, set, { metadata, timeoutMs: 60_000 })
        const key = r.ok ? 'accepted' : r.reason
        outcomes[key] = (outcomes[key] ?? 0) + 1
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const floodEnd = Date.now()
    trace.push(await memoryPoint(HEADERS))
    const roundsA1 = (await api(attacked.node, (a) => a.job(jobA))).completedRounds
    const roundsI1 = (await api(idle.node, (a) => a.job(jobI))).completedRounds
    // Honest work: the honest client's update is accepted in a round that started after the flood.
    let acceptedAfter = false
    let after = 0
    await waitUntil(
      async () => {
        const { events } = await api(attacked.node, (a) => a.jobEvents(jobA, after, 1))
        for (const e of events) {
          after = e.seq
          if (e.type === 'update-accepted' && e.at > floodEnd && e.data.client === attacked.client.peerId) acceptedAfter = true
        }
        return acceptedAfter
      },
      120_000,
      "the honest client's update accepted after the flood",
      0,
    )
    const detail = {
      sent: HEADERS,
      outcomes,
      roundsDuringFlood: { attacked: roundsA1 - roundsA0, idle: roundsI1 - roundsI0, seconds: (floodEnd - t0) / 1000 },
      honest: { clientUpdateAcceptedAfterFlood: acceptedAfter },
      memoryTrace: trace,
    }
    log(
      `  ${HEADERS} sent in ${((floodEnd - t0) / 1000).toFixed(1)} s (${forgeries.map((f) => f.kind).join(', ')} in turn): ${JSON.stringify(outcomes)}\n` +
        `  rounds completed during the flood: attacked ${detail.roundsDuringFlood.attacked}, idle twin ${detail.roundsDuringFlood.idle}\n` +
        `  honest client's update accepted after the flood: ${acceptedAfter}\n` +
        `  memory by headers sent (RSS / V8 heap used / heap reserved / external, MiB; attacked | idle):\n` +
        trace
          .map((p) => `    ${String(p.headers).padStart(6)}: ${[p.rss.attacked, p.heap.attacked.used, p.heap.attacked.total, p.heap.attacked.external].map(MiB).join(' / ')} | ${[p.rss.idle, p.heap.idle.used, p.heap.idle.total, p.heap.idle.external].map(MiB).join(' / ')}`)
          .join('\n'),
    )
    return detail
  })
  await api(attacked.node, (a) => a.cancelJob(jobA))
  await api(idle.node, (a) => a.cancelJob(jobI))
  const eventsA = jobEvents(attacked.node.dataDir, jobA)
  const eventsI = jobEvents(idle.node.dataDir, jobI)
  const roundsA = (await api(attacked.node, (a) => a.job(jobA))).completedRounds
  const roundsI = (await api(idle.node, (a) => a.job(jobI))).completedRounds
  result.phases.headers.events = { attacked: { ...eventsA, rounds: roundsA }, idle: { ...eventsI, rounds: roundsI } }
  log(
    `  events of the attacked job in SQLite: ${eventsA.rows} rows (highest seq ${eventsA.maxSeq}) over ${roundsA} rounds: ${JSON.stringify(eventsA.byType)}\n` +
      `  events of the idle twin's job: ${eventsI.rows} rows over ${roundsI} rounds: ${JSON.stringify(eventsI.byType)}`,
  )
  const end = [attacked.pid, idle.pid].map(procStats)
  result.endRss = { attacked: end[0].rss, idle: end[1].rss, ratio: end[0].rss / end[1].rss }
  log(`\nafter both phases: RSS attacked ${MiB(end[0].rss)} MiB, idle twin ${MiB(end[1].rss)} MiB: ${(end[0].rss / end[1].rss).toFixed(2)}×`)
  result.alive = nodes.every((n) => n.process.exitCode === null && n.process.signalCode === null)
  log(`every node still running: ${result.alive}`)
  if (args.json) console.log(JSON.stringify(result, null, 2))
} catch (err) {
  for (const n of nodes) {
    const name = [...tails.keys()].find((k) => n.dataDir.endsWith(`/${k}`))
    if (n.process.exitCode !== null || n.process.signalCode !== null) console.error(`\n${n.dataDir} exited with ${n.process.exitCode ?? n.process.signalCode}`)
    console.error(`\nlast output of ${n.dataDir}:\n${(tails.get(name) ?? []).join('\n')}`)
  }
  throw err
} finally {
  await Promise.all([...rogues.map((r) => r.stop()), ...nodes.map((n) => n.stop())])
  if (!args.keep) rmSync(root, { recursive: true, force: true })
}
