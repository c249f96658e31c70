// Two processes on 127.0.0.1: an RPC call and a 100 MB tensor-set transfer arrive intact (hash checked on both sides).
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { rpcMethod } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { createTensor, type TensorSet, tensorSetByteLength, tensorSetHash, toHex } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const FIXTURE = fileURLToPath(new URL('./fixtures/tensor-peer.mjs', import.meta.url))
const echo = rpcMethod('test', 'echo', StringValueSchema, StringValueSchema)

interface Received {
  type: 'received'
  from: string
  hash: string
  tensors: Array<{ name: string; dtype: string; shape: number[] }>
}

describe('RPC and tensor transfer between two processes', () => {
  let child: ChildProcess
  let peer: { addr: string; peerId: string }
  let node: MeshNode
  const received: Received[] = []
  const waiters: Array<() => void> = []

  beforeAll(async () => {
    child = fork(FIXTURE, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    peer = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`tensor peer exited with ${code}`)))
      child.on('message', (msg: { type: string } & Record<string, unknown>) => {
        if (msg.type === 'ready') resolve(msg as unknown as { addr: string; peerId: string })
        if (msg.type === 'received') {
          received.push(msg as unknown as Received)
          for (const w of waiters.splice(0)) w()
        }
      })
    })
    node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), network: 'loopback', listen: ['/ip4/127.0.0.1/tcp/0'] })
  })

  afterAll(async () => {
    await node?.stop()
    if (child?.connected) {
      child.send('stop')
      await new Promise((r) => child.once('exit', r))
    }
  })

  it('answers an RPC across the process boundary', async () => {
    const res = await node.rpc.call(peer.addr, echo, { value: 'hello' }, { timeoutMs: 10_000 })
    expect(res.value).toBe(`hello from ${node.peerId}`)
  })

  it('moves a 100 MB tensor set intact and declines one over the purpose limit', async () => {
    // 100 MB: 24M float32 weights with a deterministic pattern, plus small tensors of the other dtypes.
    const weights = new Float32Array(25_000_000)
    for (let i = 0; i < weights.length; i++) weights[i] = Math.sin(i) * 1e-2
    const set: TensorSet = [
      createTensor('layer/kernel', 'float32', [5_000, 4_999], weights.subarray(0, 5_000 * 4_999)),
      createTensor('layer/rest', 'float32', [weights.length - 5_000 * 4_999], weights.subarray(5_000 * 4_999)),
      createTensor('q/int8', 'int8', [1_000], new Int8Array(1_000).map((_, i) => (i % 256) - 128)),
      createTensor('mask/uint8', 'uint8', [2, 500], new Uint8Array(1_000).map((_, i) => i % 251)),
      createTensor('half/float16', 'float16', [4], new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001])),
    ]
    expect(tensorSetByteLength(set)).toBeGreaterThanOrEqual(100_000_000)
    const arrived = new Promise<void>((r) => waiters.push(r))
    const result = await node.tensors.send(peer.addr, 'test', set, { timeoutMs: 120_000 })
    expect(result).toMatchObject({ ok: true })
    await arrived
    expect(received[0]?.hash).toBe(toHex(tensorSetHash(set)))
    expect(received[0]?.from).toBe(node.peerId)
    expect(received[0]?.tensors.map((t) => `${t.name}:${t.dtype}:${t.shape.join('x')}`)).toEqual([
      'layer/kernel:float32:5000x4999',
      `layer/rest:float32:${weights.length - 5_000 * 4_999}`,
      'q/int8:int8:1000',
      'mask/uint8:uint8:2x500',
      'half/float16:float16:4',
    ])

    const tooBig = [createTensor('big', 'uint8', [129 * 1024 * 1024], new Uint8Array(129 * 1024 * 1024))]
    expect(await node.tensors.send(peer.addr, 'test', tooBig)).toMatchObject({ ok: false, reason: 'declined-too-large' })
    expect(received).toHaveLength(1)
    // 100 MB is filled, hashed three times and sent across processes: seconds alone, minutes on a loaded 2-core runner.
  }, 240_000)
})
