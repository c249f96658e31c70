// RPC between two real nodes: calls, typed error codes, timeout, cancellation seen by the server, bad frames reset.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { BytesValueSchema, StringValueSchema } from '@bufbuild/protobuf/wkt'
import { RpcError, rpcMethod } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import { createFrameDecoder, encodeFrame, RpcClientFrameSchema, RpcResponseSchema, rpcProtocolId, WireErrorCode } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Recorder, startNode, until } from './helpers.js'

const echo = rpcMethod('test', 'echo', StringValueSchema, StringValueSchema)
const fail = rpcMethod('test', 'fail', StringValueSchema, StringValueSchema)
const slow = rpcMethod('test', 'slow', StringValueSchema, StringValueSchema)
const missing = rpcMethod('test', 'missing', StringValueSchema, StringValueSchema)
const delayed = rpcMethod('test', 'delayed', StringValueSchema, StringValueSchema)

let server: MeshNode & { recorder: Recorder }
let client: MeshNode
const slowSignals: AbortSignal[] = []

beforeAll(async () => {
  server = await startNode({ rpc: { maxMessageBytes: 64 * 1024 } })
  client = await startNode()
  await server.rpc.handle(echo, (req) => ({ value: `echo:${req.value}` }))
  await server.rpc.handle(fail, (req) => {
    if (req.value === 'not-found') {
      throw new RpcError(WireErrorCode.NOT_FOUND, 'no such thing')
    }
    throw new Error('boom')
  })
  await server.rpc.handle(slow, async (_req, ctx) => {
    slowSignals.push(ctx.signal)
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
    return { value: 'late' }
  })
  await server.rpc.handle(delayed, async (req) => {
    await new Promise((r) => setTimeout(r, Number(req.value) % 50))
    return { value: req.value }
  })
  await client.dial(server.addresses()[0] as string)
})

afterAll(async () => {
  await Promise.all([client?.stop(), server?.stop()])
})

async function expectCode(p: Promise<unknown>, code: WireErrorCode): Promise<RpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RpcError)
  expect((err as RpcError).code).toBe(code)
  return err as RpcError
}

/** Open a raw stream on `protocol`, write `bytes`, and report how the stream ended. */
async function rawExchange(protocol: string, bytes: Uint8Array): Promise<string> {
  const stream = await client.libp2p.dialProtocol(server.libp2p.peerId, protocol)
  const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
  stream.send(bytes)
  return ended
}

describe('rpc', () => {
  it('calls a method and gets its typed answer', async () => {
    const res = await client.rpc.call(server.peerId, echo, { value: 'hi' })
    expect(res.value).toBe('echo:hi')
  })

  it('carries typed error codes', async () => {
    const e1 = await expectCode(client.rpc.call(server.peerId, fail, { value: 'not-found' }), WireErrorCode.NOT_FOUND)
    expect(e1.remote).toBe(true)
    expect(e1.message).toContain('no such thing')
    await expectCode(client.rpc.call(server.peerId, fail, { value: 'x' }), WireErrorCode.INTERNAL)
    await expectCode(client.rpc.call(server.peerId, missing, { value: 'x' }), WireErrorCode.UNIMPLEMENTED)
    await expectCode(client.rpc.call(server.peerId, echo, { value: 'x'.repeat(2 * 1024 * 1024) }), WireErrorCode.TOO_LARGE)
  })

  it('times out, and the server learns of it', async () => {
    const before = slowSignals.length
    const t0 = Date.now()
    await expectCode(client.rpc.call(server.peerId, slow, { value: '' }, { timeoutMs: 300 }), WireErrorCode.TIMEOUT)
    expect(Date.now() - t0).toBeLessThan(2_000)
    const signal = slowSignals[before] as AbortSignal
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve())))
  })

  it('cancels through an AbortSignal, and the server handler sees CANCELLED', async () => {
    const before = slowSignals.length
    const ac = new AbortController()
    const call = client.rpc.call(server.peerId, slow, { value: '' }, { signal: ac.signal, timeoutMs: 20_000 })
    while (slowSignals.length === before) {
      await new Promise((r) => setTimeout(r, 10))
    }
    ac.abort()
    await expectCode(call, WireErrorCode.CANCELLED)
    const signal = slowSignals[before] as AbortSignal
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve())))
    expect((signal.reason as RpcError).code).toBe(WireErrorCode.CANCELLED)
  })

  it('resets streams carrying garbage, oversized or malformed frames, and keeps serving', async () => {
    const protocol = rpcProtocolId('test')
    const garbage = new Uint8Array(64).fill(0xff)
    const oversized = new Uint8Array([0x80, 0x80, 0x80, 0x40]) // declares a 128 MiB frame
    const malformed = encodeFrame(new Uint8Array([0x0a, 0x50, 0x01])) // field 1, length 80, 1 byte present
    const notARequest = encodeFrame(toBinary(RpcClientFrameSchema, create(RpcClientFrameSchema, { kind: { case: 'cancel', value: { id: 1n } } })))
    for (const bytes of [garbage, oversized, malformed, notARequest]) {
      expect(await rawExchange(protocol, bytes)).toBe('reset')
    }
    expect(server.recorder.bad.join('\n')).toMatch(/garbage|oversized/)
    expect(server.recorder.warnings.some((w) => w.includes('resetting RPC stream'))).toBe(true)
    expect((await client.rpc.call(server.peerId, echo, { value: 'still here' })).value).toBe('echo:still here')
  })

  describe('sessions: many calls on one long-lived stream', () => {
    const streamsOf = (node: MeshNode, protocol: string): number =>
      node.libp2p.getConnections(server.libp2p.peerId).reduce((n, c) => n + c.streams.filter((st) => st.protocol === protocol).length, 0)

    it('carries 200 calls, 50 at a time and answered out of order, on one stream: each caller gets its own answer', async () => {
      const values = Array.from({ length: 200 }, (_, i) => String(i * 7919))
      for (let i = 0; i < values.length; i += 50) {
        const batch = values.slice(i, i + 50)
        const answers = await Promise.all(batch.map((v) => client.rpc.call(server.peerId, delayed, { value: v })))
        expect(answers.map((a) => a.value)).toEqual(batch)
      }
      expect(streamsOf(client, delayed.sessionProtocol)).toBe(1)
      expect(streamsOf(client, delayed.protocol)).toBe(0)
    })

    it('sends a request over sessionMaxRequestBytes on a stream of its own', async () => {
      const small = await startNode({ rpc: { sessionMaxRequestBytes: 16 } })
      try {
        await small.dial(server.addresses()[0] as string)
        expect((await small.rpc.call(server.peerId, echo, { value: 'a longer request than sixteen bytes' })).value).toBe('echo:a longer request than sixteen bytes')
        expect((await small.rpc.call(server.peerId, echo, { value: 'short' })).value).toBe('echo:short')
        expect(streamsOf(small, echo.sessionProtocol)).toBe(1)
      } finally {
        await small.stop()
      }
    })

    it('falls back to a stream per call when the peer serves no sessions', async () => {
      const legacy = await startNode()
      const caller = await startNode()
      try {
        await legacy.rpc.handle(echo, (req) => ({ value: `old:${req.value}` }))
        await legacy.libp2p.unhandle(echo.sessionProtocol) // as a node from before sessions
        await caller.dial(legacy.addresses()[0] as string)
        for (const v of ['one', 'two']) expect((await caller.rpc.call(legacy.peerId, echo, { value: v })).value).toBe(`old:${v}`)
      } finally {
        await Promise.all([legacy.stop(), caller.stop()])
      }
    })

    it('a hostile caller gets RESOURCE_EXHAUSTED past maxCallsPerSession, a reset for a reused id, and the server keeps serving', async () => {
      const request = (id: number, method: string, value: string) =>
        encodeFrame(toBinary(RpcClientFrameSchema, create(RpcClientFrameSchema, { kind: { case: 'request', value: { id: BigInt(id), method, payload: toBinary(StringValueSchema, create(StringValueSchema, { value })) } } })))
      const stream = await client.libp2p.dialProtocol(server.libp2p.peerId, slow.sessionProtocol)
      const decoder = createFrameDecoder({ maxFrameBytes: 1 << 20 })
      const answers: { id: bigint; code: number | undefined }[] = []
      stream.addEventListener('message', (evt) => {
        const data = evt.data instanceof Uint8Array ? [evt.data] : [...evt.data]
        for (const buf of data) {
          for (const frame of decoder.push(buf)) {
            const res = fromBinary(RpcResponseSchema, frame)
            answers.push({ id: res.id, code: res.result.case === 'error' ? res.result.value.code : undefined })
          }
        }
      })
      // 64 calls may run at once; the 6 past them are refused at once, without running.
      for (let i = 1; i <= 70; i++) stream.send(request(i, 'slow', ''))
      await until(() => answers.length >= 6)
      expect(answers.map((a) => [a.id, a.code])).toEqual([65n, 66n, 67n, 68n, 69n, 70n].map((id) => [id, WireErrorCode.RESOURCE_EXHAUSTED]))
      // Id 1 is still running: a second request with it breaks the protocol.
      const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
      stream.send(request(1, 'slow', ''))
      expect(await ended).toBe('reset')
      expect(server.recorder.bad.join('\n')).toContain('request id 1 is already in flight on this session')
      expect((await client.rpc.call(server.peerId, echo, { value: 'after' })).value).toBe('echo:after')
    })
  })
})

describe('answers encoded as segments (RpcHandleOptions.encode)', () => {
  const blob = rpcMethod('test', 'blob', StringValueSchema, BytesValueSchema)
  /** BytesValue (field 1, bytes) as a head and the value in three segments, none joined. */
  const encodeBlob = (o: { value?: Uint8Array }): Uint8Array[] => {
    const v = o.value ?? new Uint8Array(0)
    const head = [0x0a]
    for (let n = v.byteLength; ; n = Math.floor(n / 128)) {
      if (n < 0x80) {
        head.push(n)
        break
      }
      head.push((n % 128) | 0x80)
    }
    const third = Math.floor(v.byteLength / 3)
    return [Uint8Array.from(head), v.subarray(0, third), v.subarray(third, 2 * third), v.subarray(2 * third)]
  }

  it('24 answers of 1 MiB at once on one session: each arrives whole and its own, never interleaved with another', async () => {
    const big = await startNode({ rpc: { maxMessageBytes: 2 * 1024 * 1024 } })
    const caller = await startNode()
    try {
      // Every handler waits until all calls have arrived, then all answer in the same turn: each answer's first
      // segments fill the stream's window while the others are queued behind it.
      let arrived = 0
      let release: () => void = () => {}
      const all = new Promise<void>((r) => (release = r))
      await big.rpc.handle(
        blob,
        async (req) => {
          if (++arrived === 24) release()
          await all
          return { value: new Uint8Array(1024 * 1024).fill(Number(req.value)) }
        },
        { encode: encodeBlob },
      )
      await caller.dial(big.addresses()[0] as string)
      const ids = Array.from({ length: 24 }, (_, i) => i + 1)
      const answers = await Promise.all(ids.map((i) => caller.rpc.call(big.peerId, blob, { value: String(i) })))
      for (const [k, a] of answers.entries()) {
        expect(a.value.byteLength).toBe(1024 * 1024)
        expect(a.value.every((b) => b === ids[k])).toBe(true)
      }
      expect(toBinary(BytesValueSchema, create(BytesValueSchema, { value: new Uint8Array(5).fill(9) }))).toEqual(Uint8Array.from([0x0a, 5, 9, 9, 9, 9, 9]))
    } finally {
      await Promise.all([caller.stop(), big.stop()])
    }
  })
})
