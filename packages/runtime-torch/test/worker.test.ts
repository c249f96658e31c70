// The PyTorch worker process: frame codec, start-up failures, supervision after a crash, and the process pool.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inMemoryDataset } from '@weft/data'
import { mulberry32 } from '@weft/runtime'
import {
  createTorchPool,
  decodeFrameBody,
  encodeFrame,
  FrameReader,
  type FrameArray,
  TorchProcess,
  torchRuntime,
} from '@weft/runtime-torch'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { torchAvailable, torchTestDevice } from './available.js'

function join8(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let o = 0
  for (const c of chunks) {
    out.set(c, o)
    o += c.length
  }
  return out
}

describe('frames', () => {
  it('round-trip headers and typed buffers through any split of the byte stream (property)', () => {
    const arrays = fc.oneof(
      fc.float32Array({ maxLength: 40 }).map((a) => a as FrameArray),
      fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 40 }).map((a) => Int32Array.from(a) as FrameArray),
      fc.uint8Array({ maxLength: 41 }).map((a) => a as FrameArray),
      fc.array(fc.double(), { maxLength: 10 }).map((a) => Float64Array.from(a) as FrameArray),
    )
    fc.assert(
      fc.property(fc.array(arrays, { maxLength: 5 }), fc.string(), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (bufs, text, cuts) => {
        const bytes = join8([...encodeFrame({ op: 'x', text }, bufs.map((data) => ({ data }))), ...encodeFrame({ op: 'second' })])
        const reader = new FrameReader()
        const bodies: Uint8Array[] = []
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length]!
          bodies.push(...reader.push(bytes.subarray(at, at + n)))
          at += n
        }
        expect(bodies).toHaveLength(2)
        const f = decodeFrameBody(bodies[0]!)
        expect(f.header['text']).toBe(text)
        expect(f.buffers.map((b) => Array.from(b))).toEqual(bufs.map((b) => Array.from(b)))
        expect(f.buffers.map((b) => b.constructor)).toEqual(bufs.map((b) => b.constructor))
        expect(decodeFrameBody(bodies[1]!).header['op']).toBe('second')
      }),
      { numRuns: 200 },
    )
  })

  it('rejects lengths over the limits and buffers past the end', () => {
    const reader = new FrameReader()
    expect(() => reader.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff))).toThrow(expect.objectContaining({ name: 'FrameError' }))
    const body = join8(encodeFrame({ buffers: [{ dtype: 'float32', shape: [1000] }] }).slice(0)).subarray(4)
    expect(() => decodeFrameBody(body)).toThrow(/past the end/)
    const bad = join8(encodeFrame({}, [{ data: new Float32Array(2) }])).subarray(4)
    new DataView(bad.buffer, bad.byteOffset).setUint32(0, 1 << 21, true)
    expect(() => decodeFrameBody(bad)).toThrow(/header length/)
    expect(() => encodeFrame({}, [{ data: new Float32Array(3), shape: [2, 2] }])).toThrow(/shape/)
  })
})

describe('start-up', () => {
  it('names every interpreter it tried when none has torch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-torch-'))
    const fake = join(dir, 'python-without-torch')
    await writeFile(fake, '#!/bin/sh\nexec python3 -S -c "import torch_that_does_not_exist" "$@"\n')
    await chmod(fake, 0o755)
    const err = await torchRuntime({ python: [join(dir, 'missing-python'), fake] }).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'TorchUnavailableError' })
    expect((err as Error).message).toContain('missing-python: could not run')
    expect((err as Error).message).toContain('not found')
    expect((err as Error).message).toContain('python-without-torch')
  })

  it.skipIf(!torchAvailable)('reports the device, the versions and the BLAS it loaded', async () => {
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1 })
    expect(rt.name).toBe('torch')
    expect(rt.backend).toBe(torchTestDevice)
    expect(rt.info.threads).toBe(1)
    expect(rt.info.torch).toMatch(/^\d+\.\d+/)
    expect(rt.capabilities.native).toBe(true)
    const probe = await rt.measureMatmulGflops({ durationMs: 200 })
    expect(probe.gflops).toBeGreaterThan(0.5)
    await rt.dispose()
  })
})

describe.skipIf(!torchAvailable)('supervision', () => {
  function images(n: number) {
    const rng = mulberry32(1)
    const data = Uint8Array.from({ length: n * 64 }, () => Math.floor(rng.next() * 256))
    const labels = Int32Array.from({ length: n }, (_, i) => i % 4)
    return inMemoryDataset({ name: 'noise', featureShape: [8, 8, 1], numClasses: 4, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
  }

  it('a worker killed mid-training fails that task with the reason; the next task runs in a fresh worker with the last weights', async () => {
    const logs: string[] = []
    const rt = await torchRuntime({ device: torchTestDevice, threads: 1, chunkMs: 20, log: (m) => logs.push(m) })
    const spec = { architecture: 'mlp', inputShape: [8, 8, 1], numClasses: 4, hidden: [64] } as const
    const m = await rt.createModel(spec, { seed: 1 })
    const ds = images(512)
    await m.train(ds, { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.1 } })
    const trained = m.getParams()
    const pid = rt.info.pid
    let killed = false
    const failed = await m
      .train(ds, {
        epochs: 10_000,
        batchSize: 8,
        optimizer: { kind: 'sgd', lr: 0.1 },
        onProgress: (p) => {
          if (p.step >= 40 && !killed) {
            killed = true
            process.kill(pid, 'SIGKILL')
          }
        },
      })
      .catch((e: Error) => e)
    expect(failed).toMatchObject({ name: 'TorchWorkerCrashedError' })
    expect((failed as Error).message).toContain(`pid ${pid}`)
    expect((failed as Error).message).toContain('SIGKILL')
    // The weights are those of the last completed call; the engine carries on in a new process.
    expect(m.getParams()).toEqual(trained)
    const r = await m.train(ds, { epochs: 1, batchSize: 32, optimizer: { kind: 'sgd', lr: 0.1 } })
    expect(r.steps).toBe(16)
    expect(rt.info.pid).not.toBe(pid)
    expect(rt.restarts).toBe(1)
    expect(logs.some((l) => l.includes('restarted'))).toBe(true)
    expect((await m.evaluate(ds)).examples).toBe(512)
    await rt.dispose()
  })

  it('a failing request is reported and the worker stays up', async () => {
    const p = new TorchProcess({ device: torchTestDevice, threads: 1 })
    await p.start()
    await expect(p.request({ op: 'no_such_op' })).rejects.toMatchObject({ name: 'TorchTaskError', message: expect.stringContaining('no_such_op') })
    await expect(p.request({ op: 'get_params', model: 'm404' })).rejects.toThrow(/no model m404/)
    const r = await p.request({ op: 'matmul_probe', size: 16, durationMs: 10 })
    expect(Number(r.header['gflops'])).toBeGreaterThan(0)
    expect(p.generation).toBe(1)
    await p.close()
    await expect(p.request({ op: 'matmul_probe' })).rejects.toMatchObject({ name: 'TorchWorkerClosedError' })
  })
})

describe.skipIf(!torchAvailable)('process pool', () => {
  it('trains and evaluates tasks on shared-memory data sets, two processes at once', async () => {
    const pool = await createTorchPool({ size: 2, device: torchTestDevice, threads: 1 })
    expect(pool.engine).toBe('torch')
    const spec = { architecture: 'logreg', inputShape: [8, 8, 1], numClasses: 4 } as const
    const rng = mulberry32(3)
    const n = 256
    const labels = Int32Array.from({ length: n }, (_, i) => i % 4)
    // Class k lights up pixel block k: learnable.
    const data = Uint8Array.from({ length: n * 64 }, (_, j) => (Math.floor((j % 64) / 16) === labels[Math.floor(j / 64)] ? 200 : 0) + Math.floor(rng.next() * 50))
    const ds = inMemoryDataset({ name: 'blocks', featureShape: [8, 8, 1], numClasses: 4, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
    const halves = [ds.subset(Array.from({ length: 128 }, (_, i) => i)).toShared(), ds.subset(Array.from({ length: 128 }, (_, i) => 128 + i)).toShared()]
    const params = new Float32Array(4 * 64 + 4)
    const results = await Promise.all(
      halves.map((dataset) => pool.train({ spec, params, copyParams: true, dataset, options: { epochs: 3, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.5 } }, evaluate: true })),
    )
    for (const r of results) {
      expect(r.result.steps).toBe(24)
      expect(r.evaluation!.accuracy).toBeGreaterThan(0.9)
    }
    expect(results[0]!.params).not.toEqual(results[1]!.params)
    const ev = await pool.evaluate({ spec, params: results[0]!.params, dataset: ds.toShared() })
    expect(ev.examples).toBe(256)
    expect(ev.accuracy).toBeGreaterThan(0.9)
    await pool.close()
    await expect(pool.evaluate({ spec, params, dataset: ds.toShared() })).rejects.toMatchObject({ name: 'TorchWorkerClosedError' })
  })
})
