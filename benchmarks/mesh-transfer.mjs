// Mesh benchmark: tensor-set transfer and RPC round trips between two processes, each against raw TCP in the same run.
// Usage: npm run build (or npx tsc -b packages/protocol packages/mesh), then
//   node benchmarks/mesh-transfer.mjs [--mb 256] [--runs 3] [--rtts 2000] [--small-kb 778] [--small-runs 300] [--no-psk]
// --small-kb: the latency of one small set (default 778 KiB, a 2NN update) sent eagerly (the default) and with
// eagerBytes 0 (header, wait for the reply, then chunks), alternating, against raw TCP for the same bytes.
import '@weft/mesh/shim'
import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import net from 'node:net'
import { parseArgs } from 'node:util'
import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generatePsk, rpcMethod } from '@weft/mesh'
import { createMeshNode } from '@weft/mesh/node'
import { createTensor, tensorSetHash } from '@weft/protocol'

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    rtts: { type: 'string', default: '2000' },
    'small-kb': { type: 'string', default: '778' },
    'small-runs': { type: 'string', default: '300' },
    'no-psk': { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
  },
})
const MB = Number(args.mb)
const RUNS = Number(args.runs)
const RTTS = Number(args.rtts)
const echo = rpcMethod('bench', 'echo', StringValueSchema, StringValueSchema)

async function node(psk, tensors = {}, rpc = {}) {
  return createMeshNode({ privateKey: await generateKeyPair('Ed25519'), psk, network: 'loopback', listen: ['/ip4/127.0.0.1/tcp/0'], tensors, rpc })
}

if (args.child) {
  // Receiver process: mesh node (tensor sink + echo RPC), raw TCP sink and raw TCP echo.
  process.once('message', async ({ psk }) => {
    const n = await node(psk === null ? undefined : new Uint8Array(psk))
    await n.tensors.handle('bench', { maxBytes: 4 * 1024 ** 3, onReceive: () => {} })
    // Same, receiving into reused buffers (an aggregator's preallocated weights): no fresh pages per transfer.
    const pool = new Map()
    await n.tensors.handle('bench-pooled', {
      maxBytes: 4 * 1024 ** 3,
      allocate: (info) => {
        const buf = pool.get(info.name)?.byteLength === info.byteLength ? pool.get(info.name) : new Uint8Array(info.byteLength)
        pool.set(info.name, buf)
        return buf
      },
      onReceive: () => {},
    })
    await n.rpc.handle(echo, (req) => ({ value: req.value }))
    // libp2p floor: the same bytes on one bare stream (no framing, no hashing, no copies).
    await n.libp2p.handle('/bench/raw/1.0.0', async (stream) => {
      for await (const _ of stream) {
      }
      stream.send(new Uint8Array([1]))
      await stream.close()
    })
    const sink = net.createServer((sock) => {
      let want = -1
      let got = 0
      let hash
      sock.on('data', (buf) => {
        if (want === -1) {
          want = Number(buf.readBigUInt64LE(0))
          buf = buf.subarray(8)
          hash = createHash('sha256')
        }
        got += buf.byteLength
        hash.update(buf) // the mesh receiver hashes too: keep the baseline honest
        if (got >= want) {
          hash.digest()
          sock.write(Buffer.from([1]))
          want = -1
          got = 0
        }
      })
    })
    const pong = net.createServer((sock) => {
      sock.setNoDelay(true)
      sock.on('data', (buf) => sock.write(buf))
    })
    await Promise.all([new Promise((r) => sink.listen(0, '127.0.0.1', r)), new Promise((r) => pong.listen(0, '127.0.0.1', r))])
    process.send({ addr: n.addresses()[0], sink: sink.address().port, pong: pong.address().port })
    process.once('message', async () => {
      sink.close()
      pong.close()
      await n.stop()
      process.exit(0)
    })
  })
} else {
  const psk = args['no-psk'] ? undefined : generatePsk()
  const child = fork(new URL(import.meta.url).pathname, ['--child'])
  child.send({ psk: psk === undefined ? null : [...psk] })
  const info = await new Promise((r) => child.once('message', r))
  const me = await node(psk)
  await me.dial(info.addr)

  const bytes = MB * 1024 * 1024
  const perTensor = bytes / 4
  const set = [0, 1, 2, 3].map((i) => createTensor(`t${i}`, 'float32', [perTensor / 4], new Float32Array(perTensor / 4).map((_, j) => (j * (i + 1)) % 1000)))
  const payload = Buffer.concat(set.map((t) => t.data))

  async function rawTcp() {
    const sock = net.connect(info.sink, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    const t0 = performance.now()
    const done = new Promise((r) => sock.once('data', r))
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(payload.byteLength))
    sock.write(len)
    for (let o = 0; o < payload.byteLength; o += 1 << 20) {
      if (!sock.write(payload.subarray(o, o + (1 << 20)))) {
        await new Promise((r) => sock.once('drain', r))
      }
    }
    await done
    const s = (performance.now() - t0) / 1000
    sock.destroy()
    return s
  }

  async function rawStream() {
    const stream = await me.libp2p.dialProtocol(me.libp2p.getConnections()[0].remotePeer, '/bench/raw/1.0.0')
    const t0 = performance.now()
    for (let o = 0; o < payload.byteLength; o += 1 << 20) {
      if (!stream.send(payload.subarray(o, o + (1 << 20)))) {
        await stream.onDrain()
      }
    }
    await stream.close()
    for await (const _ of stream) {
    }
    return (performance.now() - t0) / 1000
  }

  async function mesh(precomputed, purpose = 'bench') {
    const t0 = performance.now()
    const res = await me.tensors.send(info.addr, purpose, set, precomputed !== undefined ? { contentHash: precomputed } : {})
    if (!res.ok) throw new Error(`transfer failed: ${res.reason} ${res.message}`)
    return (performance.now() - t0) / 1000
  }

  const mibs = (s) => MB / s
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const hash = tensorSetHash(set, { createSha256: () => createHash('sha256') })
  await rawTcp()
  await mesh(hash) // warm-up
  await mesh(hash, 'bench-pooled')
  const raw = []
  const pooled = []
  const bare = []
  const full = []
  const pre = []
  for (let i = 0; i < RUNS; i++) {
    raw.push(await rawTcp())
    bare.push(await rawStream())
    full.push(await mesh())
    pre.push(await mesh(hash))
    pooled.push(await mesh(hash, 'bench-pooled'))
  }
  const rawM = mibs(median(raw))
  const bareM = mibs(median(bare))
  const fullM = mibs(median(full))
  const preM = mibs(median(pre))
  const poolM = mibs(median(pooled))

  // Round trips.
  const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]
  // Session calls (the default) against a stream per call (sessions off) from a second node, alternating.
  const perCall = await node(psk, {}, { sessionMaxRequestBytes: 0 })
  const rpcT = []
  const streamT = []
  for (let i = 0; i < 100; i++) {
    await me.rpc.call(info.addr, echo, { value: 'warm' })
    await perCall.rpc.call(info.addr, echo, { value: 'warm' })
  }
  for (let i = 0; i < RTTS; i++) {
    let t0 = performance.now()
    await me.rpc.call(info.addr, echo, { value: 'ping' })
    rpcT.push(performance.now() - t0)
    t0 = performance.now()
    await perCall.rpc.call(info.addr, echo, { value: 'ping' })
    streamT.push(performance.now() - t0)
  }
  await perCall.stop()
  const sock = net.connect(info.pong, '127.0.0.1')
  sock.setNoDelay(true)
  await new Promise((r) => sock.once('connect', r))
  const msg = Buffer.alloc(32, 7)
  const tcpT = []
  for (let i = 0; i < RTTS + 100; i++) {
    const t0 = performance.now()
    const got = new Promise((r) => sock.once('data', r))
    sock.write(msg)
    await got
    if (i >= 100) tcpT.push(performance.now() - t0)
  }
  sock.destroy()

  // Small sets: one whole transfer (open, header, data, verified ack) each, eager against waiting for the reply.
  const smallBytes = Math.round(Number(args['small-kb']) * 1024 / 4) * 4
  const small = [createTensor('u', 'float32', [smallBytes / 4], new Float32Array(smallBytes / 4).map((_, j) => j % 997))]
  const lazy = await node(psk, { eagerBytes: 0 })
  await lazy.dial(info.addr)
  const smallPayload = Buffer.from(small[0].data.buffer, small[0].data.byteOffset, small[0].data.byteLength)
  const rawSmall = async (sockS) => {
    const t0 = performance.now()
    const done = new Promise((r) => sockS.once('data', r))
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(smallBytes))
    sockS.write(len)
    sockS.write(smallPayload)
    await done
    return performance.now() - t0
  }
  const sinkSock = net.connect(info.sink, '127.0.0.1')
  sinkSock.setNoDelay(true)
  await new Promise((r) => sinkSock.once('connect', r))
  const sendSmall = async (n) => {
    const t0 = performance.now()
    const res = await n.tensors.send(info.addr, 'bench', small)
    if (!res.ok) throw new Error(`small transfer failed: ${res.reason} ${res.message}`)
    return performance.now() - t0
  }
  for (let i = 0; i < 20; i++) {
    await sendSmall(me)
    await sendSmall(lazy)
    await rawSmall(sinkSock)
  }
  const eagerT = []
  const lazyT = []
  const rawSmallT = []
  for (let i = 0; i < Number(args['small-runs']); i++) {
    eagerT.push(await sendSmall(me))
    lazyT.push(await sendSmall(lazy))
    rawSmallT.push(await rawSmall(sinkSock))
  }
  sinkSock.destroy()
  await lazy.stop()

  const f = (x) => x.toFixed(1)
  const ms = (x) => x.toFixed(3)
  console.log(`mesh-transfer: ${MB} MiB in 4 float32 tensors, median of ${RUNS} runs, psk=${psk !== undefined}, node ${process.version}`)
  console.log(`  raw TCP (+ receiver sha256)        ${f(rawM)} MiB/s`)
  console.log(`  bare libp2p stream (floor)         ${f(bareM)} MiB/s  ratio ${(bareM / rawM).toFixed(2)}`)
  console.log(`  tensors.send (hash on send)        ${f(fullM)} MiB/s  ratio ${(fullM / rawM).toFixed(2)}  vs bare stream ${(fullM / bareM).toFixed(2)}`)
  console.log(`  tensors.send (hash precomputed)    ${f(preM)} MiB/s  ratio ${(preM / rawM).toFixed(2)}  vs bare stream ${(preM / bareM).toFixed(2)}`)
  console.log(`  tensors.send (precomputed, pooled) ${f(poolM)} MiB/s  ratio ${(poolM / rawM).toFixed(2)}  vs bare stream ${(poolM / bareM).toFixed(2)}`)
  console.log(`  RPC echo, session     p50 ${ms(pct(rpcT, 50))} ms  p99 ${ms(pct(rpcT, 99))} ms  (${RTTS} calls on one long-lived stream)`)
  console.log(`  RPC echo, stream each p50 ${ms(pct(streamT, 50))} ms  p99 ${ms(pct(streamT, 99))} ms  session/stream-each p50 ${(pct(rpcT, 50) / pct(streamT, 50)).toFixed(2)}`)
  console.log(`  raw TCP ping-pong     p50 ${ms(pct(tcpT, 50))} ms  p99 ${ms(pct(tcpT, 99))} ms  session/raw p50 ${(pct(rpcT, 50) / pct(tcpT, 50)).toFixed(1)}x  stream-each/raw ${(pct(streamT, 50) / pct(tcpT, 50)).toFixed(1)}x`)
  console.log(`  one ${(smallBytes / 1024).toFixed(0)} KiB set, ${args['small-runs']} each, alternating:`)
  console.log(`    eager (default)       p50 ${ms(pct(eagerT, 50))} ms  p90 ${ms(pct(eagerT, 90))} ms`)
  console.log(`    waiting for the reply p50 ${ms(pct(lazyT, 50))} ms  p90 ${ms(pct(lazyT, 90))} ms  eager/waiting p50 ${(pct(eagerT, 50) / pct(lazyT, 50)).toFixed(2)}`)
  console.log(`    raw TCP, same bytes   p50 ${ms(pct(rawSmallT, 50))} ms  p90 ${ms(pct(rawSmallT, 90))} ms  eager/raw p50 ${(pct(eagerT, 50) / pct(rawSmallT, 50)).toFixed(1)}x`)
  child.send('stop')
  await me.stop()
  await new Promise((r) => child.once('exit', r))
}
