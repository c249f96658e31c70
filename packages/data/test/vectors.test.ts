// Known-answer vectors: seeded draws, permutations and partitions stay the same across versions and platforms.
import { readFileSync } from 'node:fs'
import { createRng, type PartitionScheme, partition, permutation } from '@weft/data'
import { describe, expect, it } from 'vitest'

interface Vectors {
  rng: { args: [number, ...number[]]; u32: number[] }[]
  permutation: { n: number; seed: number; epoch: number; value: number[] }
  partitions: { labels: number[]; scheme: PartitionScheme; clients: number; seed: number; value: number[][] }[]
}

const vectors = JSON.parse(readFileSync(new URL('./vectors/partition-vectors.json', import.meta.url), 'utf8')) as Vectors

describe('known-answer vectors', () => {
  it('createRng', () => {
    for (const v of vectors.rng) {
      const r = createRng(...v.args)
      expect(v.u32.map(() => r.nextU32()), JSON.stringify(v.args)).toEqual(v.u32)
    }
  })

  it('permutation (the batch order of epoch 0, seed 1)', () => {
    const p = vectors.permutation
    expect(Array.from(permutation(p.n, createRng(p.seed, p.epoch)))).toEqual(p.value)
  })

  it('partitions', () => {
    for (const v of vectors.partitions) {
      expect(partition(v.labels, v.scheme, { clients: v.clients, seed: v.seed }).map((a) => Array.from(a)), v.scheme.scheme).toEqual(v.value)
    }
  })
})
