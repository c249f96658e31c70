// The simulator's transport keeps the CoordinatorTransport laws, with virtual clients training on a real tfjs
// worker pool: one client with a small synthetic share, and an id that is no client.
import { inMemoryDataset } from '@weft/data'
import { parseJobSpec } from '@weft/fl'
import { createSimulationTransport } from '@weft/fl-sim'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { transportLaws } from '../../fl/test/transport-compliance.js'

const spec = parseJobSpec({
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 1,
  clients: { min: 1 },
  train: { epochs: 1, batchSize: 8 },
})

function synthetic(n: number) {
  const features = new Float32Array(n * 4)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) features[i * 4 + j] = Math.sin(i * 7 + j * 3) / 2
    labels[i] = (features[i * 4] as number) > 0 ? 1 : 0
  }
  return inMemoryDataset({ name: 'synth', featureShape: [4], numClasses: 2, features: { dtype: 'float32', data: features }, labels })
}

const pool = createWorkerPool({ size: 1 })
transportLaws('simulation (@weft/fl-sim)', {
  async setup() {
    const data = synthetic(64)
    const transport = createSimulationTransport(
      { clients: [{ id: 'v0', data: data.toShared(), examples: data.size, pool }] },
      // Updates of the hand-out law go nowhere: the laws test the transport, not a coordinator.
      { coordinator: () => undefined },
    )
    return { transport, spec, jobId: 'sim-transport-laws', willing: 'v0', stranger: 'v-nobody' }
  },
  teardown: () => pool.close(),
})
