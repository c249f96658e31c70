// safetensors: round trip, files written by PyTorch/numpy (F32, F16, BF16) read as they wrote them, and every lie a
// hostile file can tell in its header refused with the reason, before any tensor is allocated from it.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { decodeSafetensors, encodeSafetensors, initTransformerWeights, type NamedTensor, parseTransformerConfig, SafetensorsError } from '@weft/runtime'
import { afterAll, describe, expect, it } from 'vitest'

const PYTHON = '/usr/bin/python3'
const torchHere = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0
const dir = mkdtempSync(join(tmpdir(), 'weft-safetensors-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A file from a header object and data bytes, as a hostile writer would lay it out. */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), claimedLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header))
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}

describe('safetensors', () => {
  it('decode(encode(x)) = x for any float32 tensors, with metadata; the data starts 8-byte aligned', () => {
    fc.assert(
      fc.property(fc.array(fc.float32Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 5 }), (arrays) => {
        const tensors = new Map<string, NamedTensor>(arrays.map((data, i) => [`t.${i}`, { shape: [data.length], data }]))
        const bytes = encodeSafetensors(tensors, { format: 'pt' })
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true))
        expect(headerLength % 8).toBe(0)
        const back = decodeSafetensors(bytes)
        expect(back.metadata).toEqual({ format: 'pt' })
        expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort())
        for (const [name, t] of tensors) expect(back.tensors.get(name)?.data).toEqual(t.data)
      }),
    )
  })

  it.skipIf(!torchHere)('reads what PyTorch and numpy wrote (F32, F16, BF16), and Python reads what Weft wrote', () => {
    // Python's safetensors package is not installed here: the script lays the format out by its specification.
    const written = join(dir, 'from-python.safetensors')
    const script = `
import json, struct, sys, numpy as np, torch
t = {
  "a": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4 - 0.5,
  "h": torch.tensor([1.5, -2.25, 65504.0, 6.1035e-05], dtype=torch.float16),
  "b": torch.tensor([3.140625, -0.0078125, 1e30], dtype=torch.bfloat16),
}
names = {"a": "F32", "h": "F16", "b": "BF16"}
header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
for k, v in t.items():
    raw = v.contiguous().view(torch.uint8).numpy().tobytes() if v.dtype == torch.bfloat16 else v.numpy().tobytes()
    header[k] = {"dtype": names[k], "shape": list(v.shape), "data_offsets": [at, at + len(raw)]}
    blobs.append(raw); at += len(raw)
h = json.dumps(header).encode()
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]
print(json.dumps({k: v.float().flatten().tolist() for k, v in t.items()}))
`
    const expected = JSON.parse(execFileSync(PYTHON, ['-c', script, written], { encoding: 'utf8' })) as Record<string, number[]>
    const read = decodeSafetensors(readFileSync(written))
    expect(read.tensors.get('a')?.shape).toEqual([2, 3])
    for (const name of ['a', 'h', 'b']) expect(Array.from(read.tensors.get(name)?.data ?? [])).toEqual(expected[name])

    const config = parseTransformerConfig({ vocabSize: 20, hiddenSize: 8, intermediateSize: 16, numLayers: 1, numHeads: 2, maxPositions: 16 })
    const weights = initTransformerWeights(config, 3)
    const ours = join(dir, 'from-weft.safetensors')
    writeFileSync(ours, encodeSafetensors(weights, { format: 'pt' }))
    const check = `
import json, struct, sys, torch
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
out = {}
for k, v in header.items():
    if k == "__metadata__": continue
    b, e = v["data_offsets"]
    t = torch.frombuffer(bytearray(raw[8 + n + b: 8 + n + e]), dtype=torch.float32).reshape(v["shape"])
    out[k] = [list(t.shape), float(t.sum())]
print(json.dumps(out))
`
    const seen = JSON.parse(execFileSync(PYTHON, ['-c', check, ours], { encoding: 'utf8' })) as Record<string, [number[], number]>
    expect(Object.keys(seen).sort()).toEqual([...weights.keys()].sort())
    for (const [name, t] of weights) {
      expect(seen[name]?.[0]).toEqual(t.shape)
      expect(seen[name]?.[1]).toBeCloseTo(t.data.reduce((a, b) => a + b, 0), 4)
    }
  })

  it('refuses a hostile header with the reason, before allocating from it', () => {
    const f32 = (n: number) => new Uint8Array(n * 4)
    const refuse = (bytes: Uint8Array, why: RegExp) => expect(() => decodeSafetensors(bytes)).toThrow(why)
    refuse(new Uint8Array(3), /too short/)
    // A length claiming 2^60 bytes: refused at the bound, nothing allocated.
    refuse(craft({}, new Uint8Array(0), 1n << 60n), /the header claims 1152921504606846976 bytes; at most 16777216 are read/)
    refuse(craft({}, new Uint8Array(0), 500n), /the header claims 500 bytes but the file has 2/)
    const notJson = craft({})
    notJson[8] = 0x7b + 1
    refuse(notJson, /the header is not JSON/)
    refuse(craft([1, 2]), /must be a JSON object/)
    refuse(craft({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /dtype "I64" is not one of F32, F16, BF16/)
    refuse(craft({ x: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, f32(2)), /shape must be non-negative integers/)
    refuse(craft({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /shape \[3\] of F32 is 12 bytes; its range holds 8/)
    refuse(craft({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)), /data_offsets must be \[begin, end\]/)
    refuse(craft({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(2)), /bytes 0..16 run past the 8 bytes of data/)
    // Two tensors over the same bytes: a write through one would change the other.
    refuse(
      craft({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(2)),
      /tensor y starts at byte 0; the data before it ends at 8/,
    )
    refuse(craft({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)), /the tensors hold 4 bytes; the data is 8/)
    refuse(craft({ __metadata__: { n: 1 } }), /__metadata__.n must be a string/)
    expect(() => decodeSafetensors(craft({}), { maxHeaderBytes: 1 })).toThrow(SafetensorsError)
  })
})
