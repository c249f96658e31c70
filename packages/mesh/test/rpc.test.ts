// RPC between two real nodes: calls, typed error codes, timeout, cancellation seen by the server, bad frames reset.
import { create, toBinary } from '@bufbuild/protobuf'
import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import { RpcError, rpcMethod } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import { encodeFrame, RpcClientFrameSchema, rpcProtocolId, WireErrorCode } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Recorder, startNode } from './helpers.js'

const echo = rpcMethod('test', 'echo', StringValueSchema, StringValueSchema)
const fail = rpcMethod('test', 'fail', StringValueSchema, StringValueSchema)
const slow = rpcMethod('test', 'slow', StringValueSchema, StringValueSchema)
const missing = rpcMethod('test', 'missing', StringValueSchema, StringValueSchema)

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
})
