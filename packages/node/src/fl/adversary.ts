// Evaluation-only attacks on a node or a virtual client: the data-level one (label flipping) works on the shared
// data-set descriptor a worker trains from, so the node's own copy of its data is never changed.
import type { SharedDatasetDescriptor } from '@weft/data'
import type { AttackConfig } from '@weft/fl'

/** A descriptor over the same features with every label y replaced by numClasses − 1 − y. */
export function withFlippedLabels(dataset: SharedDatasetDescriptor): SharedDatasetDescriptor {
  const source = new Int32Array(dataset.labels)
  const labels = new SharedArrayBuffer(source.byteLength)
  const flipped = new Int32Array(labels)
  for (let i = 0; i < source.length; i++) flipped[i] = dataset.numClasses - 1 - (source[i] as number)
  return { ...dataset, labels }
}

/** The data a client trains on under an attack (label flipping changes it; the others change the update). */
export function trainingData(dataset: SharedDatasetDescriptor, attack: AttackConfig | undefined): SharedDatasetDescriptor {
  return attack?.kind === 'label-flip' ? withFlippedLabels(dataset) : dataset
}
