// Serverless training on the control API (/v1/swarms) of one real in-process node with a local CSV data set: bad
// specs, unknown data sets, non-CID ids and unknown swarms are refused with the right status; a small swarm started
// alone trains to 'done' and shows in the list and the metrics; a foreign mesh peer asking for a part of a swarm the
// node is not in gets NOT_FOUND.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNodeApiClient as createApiClient } from '@weft/api-client/node'
import { RpcError } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { createTensor, encodeTensorSet, SWARM_PART, WireErrorCode } from '@weft/protocol'
import { parseCid } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSynthCsv } from './fixtures.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

/** A valid CIDv1 (raw, sha256 of "hello world") that names no swarm. */
const UNKNOWN = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'

const spec = (extra: Record<string, unknown> = {}) => ({
  name: 'routes-test',
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  inner: { batchSize: 8, optimizer: { kind: 'adamw', lr: 0.01 } },
  targetSamples: 32,
  totalSamples: 32 * 4,
  minPeers: 1,
  memberExpiryMs: 2_000,
  ...extra,
})

describe('/v1/swarms on a node', () => {
  let node: TestNode
  let attacker: MeshNode | undefined

  const post = async (path: string, body: unknown): Promise<{ status: number; body: { error?: string; message?: string; id?: string } }> => {
    const r = await fetch(`${node.apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: r.status, body: (await r.json()) as { error?: string; message?: string; id?: string } }
  }
  const request = async (method: string, path: string): Promise<{ status: number; body: { error?: string; message?: string } }> => {
    const r = await fetch(`${node.apiUrl}${path}`, { method })
    return { status: r.status, body: (await r.json()) as { error?: string; message?: string } }
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'weft-node-'))
    const csv = join(dataDir, 'synth.csv')
    writeSynthCsv(csv, 200, 3)
    node = await startTestNode({
      dataDir,
      datasets: [
        { name: 'synth', source: csv, label: 'label' } as never,
        // A sixteenth of the King James Bible's training books, and its held-out books, as text.
        { name: 'kjv-part', source: 'kjv', partition: { scheme: 'shards', clients: 16, part: 3 } } as never,
        { name: 'kjv-test', source: 'kjv', split: 'test' } as never,
      ],
    })
  }, 60_000)
  afterAll(async () => {
    await attacker?.stop()
    await node?.stop()
    removeTestDirs()
  })

  it('refuses a bad spec with 400 naming the field, an unknown key too', async () => {
    const { targetSamples: _, ...noTarget } = spec()
    const missing = await post('/v1/swarms', { spec: noTarget })
    expect(missing.status).toBe(400)
    expect(missing.body.error).toBe('bad-request')
    expect(missing.body.message).toContain('targetSamples')

    const unknown = await post('/v1/swarms', { spec: spec({ coordinatorUrl: 'http://x' }) })
    expect(unknown.status).toBe(400)
    expect(unknown.body.error).toBe('bad-request')
    expect(unknown.body.message).toContain('coordinatorUrl')

    const notWrapped = await post('/v1/swarms', spec())
    expect(notWrapped.status).toBe(400)
  })

  it('refuses a spec naming a data set the node does not hold, naming it', async () => {
    const r = await post('/v1/swarms', { spec: spec({ dataset: 'not-here' }) })
    expect(r.status).toBe(400)
    expect(r.body.error).toBe('bad-request')
    expect(r.body.message).toContain('not-here')
  })

  it('join with a non-CID id is 400; status and DELETE of a swarm the node is not in are 404', async () => {
    expect(parseCid(UNKNOWN).toString()).toBe(UNKNOWN)
    const join = await post('/v1/swarms/not-a-cid/join', {})
    expect(join.status).toBe(400)
    expect(join.body.error).toBe('bad-request')
    const status = await request('GET', `/v1/swarms/${UNKNOWN}`)
    expect(status.status).toBe(404)
    expect(status.body.error).toBe('not-found')
    const leave = await request('DELETE', `/v1/swarms/${UNKNOWN}`)
    expect(leave.status).toBe(404)
    expect(leave.body.error).toBe('not-found')
    await expect(createApiClient({ apiUrl: node.apiUrl }).swarm(UNKNOWN)).rejects.toThrow()
  })

  it('trains a small swarm alone to done: 201 with a CID id, 409 for the same spec again, listed, counted in /metrics', { timeout: 40_000 }, async () => {
    const client = createApiClient({ apiUrl: node.apiUrl })
    const started = await post('/v1/swarms', { spec: spec() })
    expect(started.status).toBe(201)
    const id = started.body.id as string
    expect(parseCid(id).toString()).toBe(id)

    // 409 while it trains; 201 (the same id, started anew) only when it finished before this request arrived.
    const again = await post('/v1/swarms', { spec: spec() })
    if (again.status === 201) expect(again.body.id).toBe(id)
    else {
      expect(again.status).toBe(409)
      expect(again.body.error).toBe('conflict')
    }

    await until(async () => (await client.swarm(id)).state !== 'training', 30_000, 'the swarm to finish')
    const view = await client.swarm(id)
    expect(view.state).toBe('done')
    expect(view.totalSteps).toBe(4)
    expect(view.step).toBe(view.totalSteps)
    expect(view.history).toHaveLength(view.totalSteps)
    expect(view.name).toBe('routes-test')

    const listed = (await client.swarms()).find((s) => s.id === id)
    expect(listed?.state).toBe('done')
    expect(await client.metrics()).toMatch(/^weft_swarm_outer_steps_total [1-9]/m)

    // Leaving a swarm that is done is not training in it: 404.
    expect((await request('DELETE', `/v1/swarms/${id}`)).status).toBe(404)
  })

  it('trains a language model on a text data set (the bundled KJV, its shipped tokenizer) and refuses misfits', { timeout: 60_000 }, async () => {
    const lm = (extra: Record<string, unknown> = {}) => ({
      name: 'lm-routes-test',
      model: { architecture: 'transformer', config: { vocabSize: 2048, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, maxPositions: 16 }, context: 8 },
      dataset: 'kjv-part',
      evaluation: { dataset: 'kjv-test', every: 1 },
      inner: { batchSize: 4, optimizer: { kind: 'adamw', lr: 0.01 } },
      targetSamples: 4 * 5,
      totalSamples: 4 * 5 * 3,
      minPeers: 1,
      memberExpiryMs: 2_000,
      ...extra,
    })
    const wrongVocab = await post('/v1/swarms', { spec: lm({ model: { ...lm().model, config: { ...lm().model.config, vocabSize: 100 } } }) })
    expect(wrongVocab.status).toBe(400)
    expect(wrongVocab.body.message).toMatch(/vocabSize.*2048/)
    const onImages = await post('/v1/swarms', { spec: lm({ dataset: 'synth' }) })
    expect(onImages.status).toBe(400)
    expect(onImages.body.message).toMatch(/text/)
    const imageOnText = await post('/v1/swarms', { spec: spec({ dataset: 'kjv-part' }) })
    expect(imageOnText.status).toBe(400)
    const started = await post('/v1/swarms', { spec: lm() })
    expect(started.status, started.body.message).toBe(201)
    const api = createApiClient({ apiUrl: node.apiUrl })
    const id = started.body.id as string
    await until(async () => (await api.swarm(id)).state !== 'training', 50_000, 'the language-model swarm to finish')
    const view = await api.swarm(id)
    expect(view.state, view.error).toBe('done')
    expect(view.history).toHaveLength(3)
    // The validation loss of the held-out books, reported each step, falls below chance (ln 2048 ≈ 7.62).
    const losses = view.history.map((r) => r.testLoss as number)
    expect(losses.every(Number.isFinite)).toBe(true)
    expect(losses.at(-1)).toBeLessThan(Math.log(2048))
    // The ad describes the text data sets by their provenance, verses as examples.
    const self = await api.node()
    expect(JSON.stringify(self)).toMatch(/kjv text train, by book, books part 4\/16/)
  })

  it('answers NOT_FOUND to a mesh peer asking for a part of a swarm the node is not in', { timeout: 30_000 }, async () => {
    const mesh = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), network: 'loopback' })
    attacker = mesh
    await mesh.dial(node.addrs[0] as string)
    const values = encodeTensorSet([createTensor('delta', 'float32', [4], new Float32Array(4))])
    const err = await mesh.rpc
      .call(node.peerId, SWARM_PART, { swarm: UNKNOWN, group: `${UNKNOWN}/0/*`, step: 0n, part: 0, offset: 0n, length: 4, weight: 1, values })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RpcError)
    expect((err as RpcError).code).toBe(WireErrorCode.NOT_FOUND)
    expect((err as RpcError).remote).toBe(true)
  })
})
