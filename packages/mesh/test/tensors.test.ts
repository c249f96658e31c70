// Tensor-set transfer between two real nodes: intact delivery of every dtype, declines, hash mismatch, size limits, bad frames.
import { create, toBinary } from '@bufbuild/protobuf'
import type { ReceivedTensorSet } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import {
  createTensor,
  encodeFrame,
  float32ToFloat16,
  TensorChunkSchema,
  type TensorSet,
  TensorSetHeaderSchema,
  tensorInfos,
  tensorProtocolId,
  tensorSetHash,
  toHex,
  toWireDescriptors,
  WireErrorCode,
} from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Recorder, startNode } from './helpers.js'

let receiver: MeshNode & { recorder: Recorder }
let sender: MeshNode
const received: ReceivedTensorSet[] = []
const held = new Set<string>()

function sampleSet(seed: number): TensorSet {
  const f32 = new Float32Array(300_001).map((_, i) => Math.sin(i + seed))
  return [
    createTensor('layer.weight', 'float32', [300_001], f32),
    createTensor('layer.half', 'float16', [7, 3], float32ToFloat16(Array.from({ length: 21 }, (_, i) => i / 7 - seed))),
    createTensor('empty', 'float32', [0, 4], new Float32Array(0)),
    createTensor('q', 'int8', [5], new Int8Array([-128, -1, 0, 1, 127])),
    createTensor('mask', 'uint8', [2, 2, 3], new Uint8Array(12).map((_, i) => (i * 37 + seed) & 0xff)),
  ]
}

beforeAll(async () => {
  receiver = await startNode({ tensors: { idleTimeoutMs: 5_000 } })
  sender = await startNode({ tensors: { chunkBytes: 64 * 1024 + 3 } })
  await receiver.tensors.handle('test', {
    maxBytes: 2 * 1024 * 1024,
    has: (hash) => held.has(toHex(hash)),
    accept: (header) => (header.metadata[0] === 0xee ? 'not-wanted' : true),
    onReceive: (r) => {
      received.push(r)
    },
  })
  await sender.dial(receiver.addresses()[0] as string)
})

afterAll(async () => {
  await Promise.all([sender?.stop(), receiver?.stop()])
})

describe('tensor transfer', () => {
  it('delivers float32/float16/int8/uint8 tensors intact, with metadata and hash', async () => {
    const set = sampleSet(1)
    const res = await sender.tensors.send(receiver.peerId, 'test', set, { metadata: new Uint8Array([1, 2, 3]) })
    expect(res).toMatchObject({ ok: true, bytes: 300_001 * 4 + 42 + 5 + 12 })
    const got = received.at(-1) as ReceivedTensorSet
    expect(toHex(got.contentHash)).toBe(toHex(tensorSetHash(set)))
    expect([...got.metadata]).toEqual([1, 2, 3])
    expect(got.set.map((t) => [t.name, t.dtype, t.shape])).toEqual(set.map((t) => [t.name, t.dtype, t.shape]))
    got.set.forEach((t, i) => {
      expect(Buffer.compare(t.data, (set[i] as { data: Uint8Array }).data)).toBe(0)
    })
  })

  it('is declined when the receiver already has the content hash, or does not want it', async () => {
    const set = sampleSet(2)
    held.add(toHex(tensorSetHash(set)))
    const count = received.length
    expect(await sender.tensors.send(receiver.peerId, 'test', set)).toMatchObject({ ok: false, reason: 'declined-already-have' })
    expect(await sender.tensors.send(receiver.peerId, 'test', sampleSet(3), { metadata: new Uint8Array([0xee]) })).toMatchObject({
      ok: false,
      reason: 'declined-not-wanted',
    })
    expect(received.length).toBe(count)
  })

  it('rejects data that does not match the announced hash, without delivering it', async () => {
    const count = received.length
    const res = await sender.tensors.send(receiver.peerId, 'test', sampleSet(4), { contentHash: tensorSetHash(sampleSet(5)) })
    expect(res).toMatchObject({ ok: false, reason: 'rejected', code: WireErrorCode.HASH_MISMATCH })
    expect(received.length).toBe(count)
  })

  it('declines sets over the purpose limit before any data moves', async () => {
    const big = [createTensor('big', 'uint8', [3 * 1024 * 1024], new Uint8Array(3 * 1024 * 1024))]
    expect(await sender.tensors.send(receiver.peerId, 'test', big)).toMatchObject({ ok: false, reason: 'declined-too-large' })
  })

  it('sends small sets eagerly: delivered intact, onSent before the ack, and a declined one ends cleanly', async () => {
    const small = [createTensor('w', 'float32', [1000], new Float32Array(1000).map((_, i) => i / 3))]
    const count = received.length
    let sentBeforeDone = false
    let done = false
    const res = await sender.tensors.send(receiver.peerId, 'test', small, { onSent: () => (sentBeforeDone = !done) })
    done = true
    expect(res).toMatchObject({ ok: true, bytes: 4000 })
    expect(sentBeforeDone).toBe(true)
    expect(received.length).toBe(count + 1)
    expect(Buffer.compare((received.at(-1) as ReceivedTensorSet).set[0]?.data as Uint8Array, small[0]?.data as Uint8Array)).toBe(0)
    // 900 KB, held already: its chunks were sent with the header, and the receiver read and dropped them.
    const heldSmall = [createTensor('w', 'float32', [225_000], new Float32Array(225_000).fill(7))]
    held.add(toHex(tensorSetHash(heldSmall)))
    const inBefore = receiver.recorder.bytesIn.get(tensorProtocolId('test')) ?? 0
    expect(await sender.tensors.send(receiver.peerId, 'test', heldSmall)).toMatchObject({ ok: false, reason: 'declined-already-have' })
    // The sender is done once its bytes are handed to the stream; the receiver drains them as they come.
    const drained = () => (receiver.recorder.bytesIn.get(tensorProtocolId('test')) ?? 0) - inBefore > 900_000
    for (const end = Date.now() + 10_000; !drained() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5))
    expect(drained()).toBe(true)
    expect(received.length).toBe(count + 1)
  })

  it('takes an eager header with its chunks sent at once; drains a declined one; resets one that streams past its limit', async () => {
    const protocol = tensorProtocolId('test')
    const eagerFrames = (set: TensorSet, extra = 0): Uint8Array[] => {
      const total = set.reduce((n, t) => n + t.data.byteLength, 0)
      const header = create(TensorSetHeaderSchema, { purpose: 'test', contentHash: tensorSetHash(set), totalBytes: BigInt(total), tensors: toWireDescriptors(tensorInfos(set)), eager: true })
      const frames = [encodeFrame(toBinary(TensorSetHeaderSchema, header))]
      let offset = 0
      for (const t of set) {
        frames.push(encodeFrame(toBinary(TensorChunkSchema, create(TensorChunkSchema, { offset: BigInt(offset), data: t.data }))))
        offset += t.data.byteLength
      }
      for (let i = 0; i < extra; i++) frames.push(encodeFrame(toBinary(TensorChunkSchema, create(TensorChunkSchema, { offset: 0n, data: new Uint8Array(512 * 1024) }))))
      return frames
    }
    const rawSend = async (frames: Uint8Array[]): Promise<string> => {
      const stream = await sender.libp2p.dialProtocol(receiver.libp2p.peerId, protocol)
      const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
      for (const f of frames) if (!stream.send(f)) await stream.onDrain()
      await stream.close().catch(() => {})
      return ended
    }
    const fresh = [createTensor('e', 'uint8', [3000], new Uint8Array(3000).map((_, i) => i & 0xff))]
    const count = received.length
    const badBefore = receiver.recorder.bad.length
    expect(await rawSend(eagerFrames(fresh))).toBe('closed')
    expect(received.length).toBe(count + 1)
    expect(Buffer.compare((received.at(-1) as ReceivedTensorSet).set[0]?.data as Uint8Array, fresh[0]?.data as Uint8Array)).toBe(0)
    // Declined (held already): its chunks are read and dropped, the stream closes without a reset or a complaint.
    const heldSet = [createTensor('h', 'uint8', [3000], new Uint8Array(3000).fill(9))]
    held.add(toHex(tensorSetHash(heldSet)))
    expect(await rawSend(eagerFrames(heldSet))).toBe('closed')
    expect(receiver.recorder.bad.length).toBe(badBefore)
    // Declined, then 2 MiB more than it announced: more than the receiver drains (1 MiB), so the stream is reset.
    expect(await rawSend(eagerFrames(heldSet, 4))).toBe('reset')
    expect(received.length).toBe(count + 1)
    expect(await sender.tensors.send(receiver.peerId, 'test', sampleSet(8))).toMatchObject({ ok: true })
  })

  it('receives into buffers the handler allocates', async () => {
    const pool = new Map<string, Uint8Array>()
    await receiver.tensors.handle('pooled', {
      maxBytes: 1 << 22,
      allocate: (info) => {
        const buf = pool.get(info.name) ?? new Uint8Array(info.byteLength)
        pool.set(info.name, buf)
        return buf
      },
      onReceive: () => {},
    })
    const set = sampleSet(8)
    expect(await sender.tensors.send(receiver.peerId, 'pooled', set)).toMatchObject({ ok: true })
    const first = pool.get('layer.weight')
    expect(Buffer.compare(first as Uint8Array, (set[0] as { data: Uint8Array }).data)).toBe(0)
    expect(await sender.tensors.send(receiver.peerId, 'pooled', sampleSet(9))).toMatchObject({ ok: true })
    expect(pool.get('layer.weight')).toBe(first)
    expect(Buffer.compare(first as Uint8Array, (sampleSet(9)[0] as { data: Uint8Array }).data)).toBe(0)
  })

  it('issue 15, finding 9: a sender that announces a large set and sends little makes the receiver hold little', async () => {
    // The attacker announces 4 × 8 MiB, sends 100 KiB of the first tensor and stops. Buffers are taken as data
    // arrives: only the first tensor's, never the 24 MiB it announced and did not send.
    const taken: string[] = []
    await receiver.tensors.handle('lazy', {
      maxBytes: 64 * 1024 * 1024,
      allocate: (info) => {
        taken.push(info.name)
        return new Uint8Array(info.byteLength)
      },
      onReceive: () => {},
    })
    const big = ['a', 'b', 'c', 'd'].map((name) => createTensor(name, 'uint8', [8 * 1024 * 1024], new Uint8Array(8 * 1024 * 1024)))
    const header = create(TensorSetHeaderSchema, { purpose: 'lazy', contentHash: tensorSetHash(big), totalBytes: BigInt(32 * 1024 * 1024), tensors: toWireDescriptors(tensorInfos(big)) })
    const stream = await sender.libp2p.dialProtocol(receiver.libp2p.peerId, tensorProtocolId('lazy'))
    const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
    stream.send(encodeFrame(toBinary(TensorSetHeaderSchema, header)))
    stream.send(encodeFrame(toBinary(TensorChunkSchema, create(TensorChunkSchema, { offset: 0n, data: new Uint8Array(100 * 1024) }))))
    await stream.close().catch(() => {})
    expect(await ended).toBe('reset')
    expect(receiver.recorder.bad.join('\n')).toContain(`stream ended after ${100 * 1024} of ${32 * 1024 * 1024} bytes`)
    expect(taken).toEqual(['a'])
    // An honest set through the same handler is still taken whole, every tensor in its buffer.
    const honest = [createTensor('x', 'uint8', [3], new Uint8Array([1, 2, 3])), createTensor('y', 'float32', [2], new Float32Array([4, 5]))]
    expect(await sender.tensors.send(receiver.peerId, 'lazy', honest)).toMatchObject({ ok: true })
    expect(taken).toEqual(['a', 'x', 'y'])
  })

  it('answers unknown purposes with unavailable, not an exception', async () => {
    expect(await sender.tensors.send(receiver.peerId, 'nobody-home', sampleSet(6))).toMatchObject({ ok: false, reason: 'unavailable' })
  })

  it('cuts off a sender that streams more than it announced, and resets garbage, then still receives', async () => {
    const protocol = tensorProtocolId('test')
    const small = [createTensor('s', 'uint8', [4], new Uint8Array(4))]
    const header = encodeFrame(
      toBinary(
        TensorSetHeaderSchema,
        create(TensorSetHeaderSchema, { purpose: 'test', contentHash: tensorSetHash(small), totalBytes: 4n, tensors: toWireDescriptors(tensorInfos(small)) }),
      ),
    )
    const tooMuch = encodeFrame(toBinary(TensorChunkSchema, create(TensorChunkSchema, { offset: 0n, data: new Uint8Array(1000) })))
    const wrongPurpose = encodeFrame(toBinary(TensorSetHeaderSchema, create(TensorSetHeaderSchema, { purpose: 'other', contentHash: new Uint8Array(32) })))
    const badChunk = encodeFrame(new Uint8Array([0x08, 0x00, 0x1a, 0x01, 0x00])) // offset 0, then unknown field 3
    const cases: Uint8Array[][] = [
      [header, tooMuch],
      [header, badChunk],
      [new Uint8Array(100).fill(0xab)],
      [new Uint8Array([0xff, 0xff, 0xff, 0x7f])],
      [wrongPurpose],
    ]
    for (const frames of cases) {
      const stream = await sender.libp2p.dialProtocol(receiver.libp2p.peerId, protocol)
      const ended = new Promise<string>((resolve) => stream.addEventListener('close', (evt) => resolve(evt.error !== undefined ? 'reset' : 'closed')))
      for (const f of frames) {
        stream.send(f)
      }
      expect(await ended).toBe('reset')
    }
    const bad = receiver.recorder.bad.join('\n')
    for (const reason of ['more data than announced', 'malformed chunk: unexpected field tag 26', 'garbage instead of a header', 'oversized header', 'does not match']) {
      expect(bad).toContain(reason)
    }
    expect(await sender.tensors.send(receiver.peerId, 'test', sampleSet(7))).toMatchObject({ ok: true })
  })
})
