// Loads the data-set share a node config names, e.g. `{ dataset: 'fashion-mnist', scheme: 'dirichlet', alpha: 0.5, clients: 10, part: 3, seed: 1 }`.
import type { InMemoryDataset } from '../in-memory-dataset.js'
import { parsePartitionSpec, partitionDataset } from '../partition-spec.js'
import { loadCsv } from './csv-file.js'
import { type FashionMnistComponents, loadFashionMnist } from './fashion-mnist.js'

/**
 * Loads the data set a spec names ('fashion-mnist' or a .csv path with `label`) and returns part `spec.part` of it.
 * @param spec untrusted; validated with `parsePartitionSpec`
 * @throws TypeError/RangeError for a bad spec; the loader's errors
 */
export async function loadPartition(spec: unknown, components: FashionMnistComponents = {}): Promise<InMemoryDataset> {
  const s = parsePartitionSpec(spec)
  let dataset: InMemoryDataset
  if (s.dataset === 'fashion-mnist') {
    dataset = await loadFashionMnist({ split: s.split ?? 'train' }, components)
  } else if (s.dataset.endsWith('.csv')) {
    if (s.label === undefined) throw new TypeError('spec.label must name the label column of a CSV data set')
    dataset = (await loadCsv(s.dataset, { label: s.label })).dataset
  } else {
    throw new RangeError(`spec.dataset must be 'fashion-mnist' or a path ending in .csv, got ${JSON.stringify(s.dataset)}`)
  }
  return partitionDataset(dataset, s)
}
