// The swarm's group averaging on its own, without training:
//  1. Throughput: a group of 4 mesh nodes in this process (libp2p on 127.0.0.1: noise, yamux, RPC "swarm/part")
//     all-reduce a float32 vector with the butterfly (each member reduces a quarter); against the raw-TCP floor of
//     the same bytes (every member sends 2·(1 − 1/g) of the vector; all four run on this process's one thread, so
//     the floor is all their bytes through one raw TCP stream to a sink process).
//  2. Mixing: n peers on the in-memory network start from random vectors and only average, in groups of g that
//     change every step (Moshpit grid); the spread (rms distance from the swarm mean, relative to the start) after
//     each step, against the prediction: exactly 0 after ⌈log_g n⌉ steps when n = g^d.
// Usage: npm run build, then node benchmarks/swarm-allreduce.mjs [--sizes 1000000,4000000,16000000]
import '@weft/mesh/shim'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { parseArgs } from 'node:util'
import { generatePsk } from '@weft/mesh'
import { createMeshNode } from '@weft/mesh/node'
import { allReduce, createMeshSwarmTransport, createSwarmRpcHost, groupFor, gridDimensions, layoutFor, MemoryHub, PartEncoder, PartServer } from '@weft/swarm'
import { sendRawTcp, startRawTcpSink } from './lib/raw-tcp.mjs'

const { values: args } = parseArgs({ options: { sizes: { type: 'string', default: '1000000,4000000,16000000' } } })
const sizes = args.sizes.split(',').map(Number)

function member(peer, transport, view, n) {
  const server = new PartServer({ self: peer, reduction: 'mean', trim: 0, compression: 'none', partTimeoutMs: 60_000, maxRmsDistance: 1e9, maxWeight: 1e9, stepView: async (s) => (s === view.step ? view : undefined) })
  const unserve = transport.serve((from, request) => server.handle(from, request))
  return { peer, transport, server, view, encoder: new PartEncoder('none', n), unserve }
}

async function throughput() {
  const psk = generatePsk()
  const nodes = []
  for (let i = 0; i < 4; i++) nodes.push(await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), psk, network: 'loopback', rpc: { maxMessageBytes: 4 * 1024 * 1024 - 1024 } }))
  for (let i = 1; i < 4; i++) for (let j = 0; j < i; j++) await nodes[i].dial(nodes[j].addresses()[0])
  const hosts = await Promise.all(nodes.map((n) => createSwarmRpcHost(n.rpc)))
  const sink = await startRawTcpSink()
  console.log('group all-reduce of 4 mesh nodes in one process, float32, vs raw TCP of the same bytes')
  console.log('values      bytes sent (all)  all-reduce ms  raw TCP ms  ratio (raw/all-reduce)')
  for (const [k, n] of sizes.entries()) {
    const swarm = `bench-${k}`
    const ms = nodes.map((node) => ({ peer: node.peerId, bandwidth: 1 }))
    const members = nodes.map((node, i) => {
      const transport = createMeshSwarmTransport({ swarm, self: node.peerId, rpc: node.rpc, pubsub: node.pubsub, host: hosts[i] })
      const group = groupFor(swarm, 0, node.peerId, ms, 4)
      return member(node.peerId, transport, { step: 0, group, parts: layoutFor(group, n), reference: new Float32Array(n) }, n)
    })
    const values = members.map((_, i) => new Float32Array(n).fill(i))
    const t0 = performance.now()
    const results = await Promise.all(members.map((m, i) => allReduce({ self: m.peer, view: m.view, values: values[i], weight: 1, transport: m.transport, server: m.server, encoder: m.encoder, compression: 'none', exchangeTimeoutMs: 600_000, maxRmsDistance: 1e9 })))
    const took = performance.now() - t0
    for (const r of results) if (r.failedParts > 0 || Math.abs(r.mean[0] - 1.5) > 1e-6) throw new Error(`wrong all-reduce: ${r.failedParts} failed parts, mean ${r.mean[0]}`)
    const sent = results.reduce((s, r) => s + r.bytesSent, 0)
    const floor = await sendRawTcp(sink.port, new Uint8Array(sent), { hash: false, disk: false })
    console.log(`${String(n).padEnd(11)} ${(sent / 1e6).toFixed(1).padStart(10)} MB  ${took.toFixed(0).padStart(13)}  ${floor.toFixed(0).padStart(10)}  ${(floor / took).toFixed(2).padStart(8)}`)
    for (const m of members) m.unserve()
  }
  sink.close()
  await Promise.all(nodes.map((n) => n.stop()))
}

async function mixing(n, g, steps) {
  const hub = new MemoryHub()
  const ids = Array.from({ length: n }, (_, i) => `peer-${String(i).padStart(3, '0')}`)
  const ms = ids.map((peer) => ({ peer, bandwidth: 1 }))
  const len = 1000
  let values = ids.map((_, i) => Float32Array.from({ length: len }, (_, j) => Math.sin(i * 7.3 + j * 0.37) * (1 + i)))
  const spread = (vs) => {
    const mean = new Float64Array(len)
    for (const v of vs) for (let j = 0; j < len; j++) mean[j] += v[j] / vs.length
    let s = 0
    for (const v of vs) for (let j = 0; j < len; j++) s += (v[j] - mean[j]) ** 2
    return Math.sqrt(s / (vs.length * len))
  }
  const first = spread(values)
  const out = []
  for (let step = 0; step < steps; step++) {
    const members = ids.map((peer) => {
      const group = groupFor('mix', step, peer, ms, g)
      return member(peer, hub.transport(peer), { step, group, parts: layoutFor(group, len), reference: new Float32Array(len) }, len)
    })
    const results = await Promise.all(members.map((m, i) => allReduce({ self: m.peer, view: m.view, values: values[i], weight: 1, transport: m.transport, server: m.server, encoder: m.encoder, compression: 'none', exchangeTimeoutMs: 60_000, maxRmsDistance: 1e9 })))
    for (const m of members) m.unserve()
    values = results.map((r) => r.mean)
    out.push(spread(values) / first)
  }
  console.log(`n = ${String(n).padStart(3)}, g = ${g}: d = ⌈log_g n⌉ = ${gridDimensions(n, g)}; spread after each step (start = 1): ${out.map((v) => v.toExponential(1)).join(', ')}`)
}

await throughput()
console.log('\nmixing by group averaging alone (relative rms spread from the swarm mean)')
for (const [n, g] of [[16, 2], [16, 4], [64, 4], [12, 2], [100, 4]]) await mixing(n, g, 6)
