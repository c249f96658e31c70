// Rebalancing: a span served with `blocks: auto` moves to where the swarm is weakest once another server doubles it,
// and stays put after (no flip-flop).
import { createApiClient } from '@weft/api-client'
import { encodeLmCheckpoint, trainBpe } from '@weft/lm'
import { initTransformerWeights, parseTransformerConfig } from '@weft/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const tokenizer = trainBpe('In the beginning God created the heaven and the earth. '.repeat(10), { vocabSize: 300 })
const CONFIG = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 16, intermediateSize: 32, numLayers: 3, numHeads: 2, maxPositions: 32, tieEmbeddings: true })
const CHECKPOINT = encodeLmCheckpoint({ config: CONFIG, weights: initTransformerWeights(CONFIG, 1), tokenizer, info: {} })

let fixed: TestNode
let mover: TestNode
let model: string

beforeAll(async () => {
  fixed = await startTestNode({ inference: { rebalanceMs: 0 } } as never)
  mover = await startTestNode({ bootstrap: [fixed.addrs[0] as string], inference: { rebalanceMs: 300 } } as never)
  await until(() => mover.peers.list().some((p) => p.status === 'alive' && p.connected), 30_000, 'the two nodes to meet')
  model = (await createApiClient({ url: fixed.apiUrl }).storeAddFile(new Blob([CHECKPOINT]), { announce: true })).cid
}, 60_000)

afterAll(async () => {
  await Promise.all([fixed?.stop(), mover?.stop()])
  removeTestDirs()
})

describe('rebalancing spans served with blocks auto', () => {
  it('moves off a block another server took, to an uncovered one, and then stays', async () => {
    const spans = (n: TestNode) => n.inference?.local().map((s) => `${s.start}-${s.end}`) ?? []
    // Nothing served yet: auto takes the first block.
    expect(await createApiClient({ url: mover.apiUrl }).serveModel({ model, blocks: 'auto', count: 1 })).toMatchObject({ start: 0, end: 1 })
    await createApiClient({ url: fixed.apiUrl }).serveModel({ model, blocks: [0, 1] })
    // Two servers on block 0, none on 1 and 2: the mover goes to block 1.
    await until(() => spans(mover).join() === '1-2', 20_000, 'the mover to move to block 1')
    await new Promise((r) => setTimeout(r, 1_500))
    expect(spans(mover)).toEqual(['1-2'])
    expect(spans(fixed)).toEqual(['0-1'])
    expect(mover.logs.some((l) => l['msg'] === 'rebalancing: moving a span where the swarm is weaker')).toBe(true)
  })
})
