// @weft/fl-mesh's coordinator transport keeps the CoordinatorTransport laws over real in-process nodes: a client
// node with a local data set, and an id no node answers to.
import { join } from 'node:path'
import { parseJobSpec } from '@weft/fl'
import { meshCoordinatorTransport } from '@weft/fl-mesh'
import { transportLaws } from '../../fl/test/transport-compliance.js'
import { writeSynthCsv } from './fixtures.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const nodes: TestNode[] = []
const spec = parseJobSpec({
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 1,
  clients: { min: 1 },
  train: { epochs: 1, batchSize: 8 },
})

transportLaws('mesh (@weft/fl-mesh)', {
  async setup() {
    const coordinator = await startTestNode({ fl: { participate: false } as never })
    nodes.push(coordinator)
    const path = join(coordinator.config.dataDir, 'client.csv')
    writeSynthCsv(path, 64, 1)
    const client = await startTestNode({ bootstrap: [coordinator.addrs[0] as string], datasets: [{ name: 'synth', source: path, label: 'label' } as never] })
    nodes.push(client)
    await until(() => coordinator.peers.get(client.peerId)?.ad.datasets.length === 1, 30_000, 'the client ad')
    const transport = meshCoordinatorTransport({
      mesh: coordinator.mesh,
      candidates: () => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0).map((p) => p.peerId),
      jobSpec: () => spec,
    })
    // A peer id of a node that was never started (a fresh identity of a stopped node).
    const ghost = await startTestNode()
    await ghost.stop()
    return { transport, spec, jobId: 'fl-transport-laws', willing: client.peerId, stranger: ghost.peerId }
  },
  async teardown() {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  },
})
