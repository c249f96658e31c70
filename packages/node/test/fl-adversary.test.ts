// A node configured to attack (fl.adversary, for robustness evaluation) really sends what the attack says, over
// the mesh: two clients with the same data train the same full-batch update, and the sign-flipping one cancels the
// honest one under FedAvg, so the global model does not move; without the attacker it does.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeModelArtifact, initialFlatParams } from '@weft/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const SPEC = {
  model: { architecture: 'logreg', inputShape: [2], numClasses: 2 },
  dataset: 'same',
  rounds: 1,
  clients: { min: 2 },
  // One full-batch step: the update does not depend on the order the client shuffles its examples in.
  train: { epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', lr: 0.5 } },
  seed: 11,
}

describe('an attacking node', () => {
  let coordinator: TestNode
  const clients: TestNode[] = []

  beforeAll(async () => {
    coordinator = await startTestNode({ fl: { participate: false } as never })
    const csv = join(coordinator.config.dataDir, 'same.csv')
    writeFileSync(csv, `x,y,label\n${Array.from({ length: 40 }, (_, i) => `${(i % 7) / 7},${(i % 5) / 5},${i % 3 === 0 ? 'a' : 'b'}`).join('\n')}\n`)
    const bootstrap = [coordinator.addrs[0] as string]
    const dataset = { name: 'same', source: csv, label: 'label' }
    clients.push(await startTestNode({ bootstrap, datasets: [dataset] as never }))
    clients.push(await startTestNode({ bootstrap, datasets: [dataset] as never, fl: { adversary: { kind: 'sign-flip' } } as never }))
    await until(() => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0).length === 2, 30_000, 'two clients')
  }, 60_000)

  afterAll(async () => {
    await Promise.all([coordinator, ...clients].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('cancels the honest update under FedAvg, and warns in its log that it attacks', async () => {
    const view = coordinator.fl.submit(SPEC)
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 60_000, 'the job')
    const done = await coordinator.fl.view(view.id)
    expect(done?.status, done?.error).toBe('finished')
    const { weights } = decodeModelArtifact(coordinator.fl.exportModel(view.id, 'last')!.bytes)
    const initial = initialFlatParams(done!.spec.model, SPEC.seed)
    for (let i = 0; i < initial.length; i++) expect(weights[i]).toBeCloseTo(initial[i] as number, 5)
    expect(clients[1]!.logs.some((l) => String(l['msg']).includes('ATTACKS every federated job'))).toBe(true)
    expect(clients[0]!.logs.some((l) => String(l['msg']).includes('ATTACKS'))).toBe(false)
  })

  it('without the attacker, the same round moves the model', async () => {
    const view = coordinator.fl.submit({ ...SPEC, clients: { min: 1, eligibility: { peers: [clients[0]!.peerId] } } })
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 60_000, 'the job')
    const done = await coordinator.fl.view(view.id)
    expect(done?.status, done?.error).toBe('finished')
    const { weights } = decodeModelArtifact(coordinator.fl.exportModel(view.id, 'last')!.bytes)
    const initial = initialFlatParams(done!.spec.model, SPEC.seed)
    const moved = Math.max(...initial.map((w, i) => Math.abs((weights[i] as number) - w)))
    expect(moved).toBeGreaterThan(1e-3)
  })
})
