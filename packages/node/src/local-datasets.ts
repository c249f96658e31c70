// The node's local data sets: loaded from its config (files, Fashion-MNIST, seeded partitions) and described for its ad.
import { create } from '@bufbuild/protobuf'
import { describeScheme, type InMemoryDataset, parsePartitionSpec, specScheme } from '@weft/data'
import { type FashionMnistComponents, loadCsv, loadFashionMnist, loadPartition } from '@weft/data/node'
import { type DatasetOffer, DatasetOfferSchema } from '@weft/protocol'
import type { DatasetConfig, NodeConfig } from './config.js'
import { describeTextDataset, isTextDataset } from './text-datasets.js'

/**
 * Loads one configured data set (a client's share when `partition` is set). `fashionMnist` adds sources to
 * Fashion-MNIST's discovery (the node's mesh folder and its fetch).
 * @throws the loaders' errors (file not found, bad format, checksum mismatch)
 */
export async function loadLocalDataset(config: DatasetConfig, fashionMnist: FashionMnistComponents = {}): Promise<InMemoryDataset> {
  if (isTextDataset(config)) throw new RangeError(`data set ${config.name} is the King James Bible as text: only language-model swarms train on it`)
  if (config.partition !== undefined) {
    const { scheme, clients, part, seed, alpha, shards, exponent } = config.partition
    // The share in storage of its own: a view would keep the whole source in memory (all of Fashion-MNIST's 47 MB for
    // a share of 1,000 examples), and its first trip to a worker would copy the whole source into shared memory.
    const share = await loadPartition({
      dataset: config.source,
      split: config.split,
      ...(config.label !== undefined ? { label: config.label } : {}),
      scheme,
      clients,
      part,
      seed,
      ...(alpha !== undefined ? { alpha } : {}),
      ...(shards !== undefined ? { shards } : {}),
      ...(exponent !== undefined ? { exponent } : {}),
    }, fashionMnist)
    return share.compact()
  }
  if (config.source === 'fashion-mnist') return loadFashionMnist({ split: config.split }, fashionMnist)
  return (await loadCsv(config.source, { label: config.label as string })).dataset
}

/** What the ad says of a data set's provenance: the public source and split, never a local path or column name. */
function schemaText(config: DatasetConfig): string {
  const base = config.source === 'fashion-mnist' ? `fashion-mnist ${config.split}` : 'csv'
  if (config.partition === undefined) return base
  const p = config.partition
  const spec = parsePartitionSpec({ dataset: config.source, ...p, ...(config.label !== undefined ? { label: config.label } : {}) })
  return `${base}, ${describeScheme(specScheme(spec))} part ${p.part + 1}/${p.clients} seed ${p.seed}`
}

/** Loads every configured data set (through `load`, which may cache) and describes it (examples, shape, classes) for the resource ad. */
export async function describeLocalDatasets(
  config: NodeConfig,
  load: (config: DatasetConfig) => Promise<InMemoryDataset> = loadLocalDataset,
): Promise<DatasetOffer[]> {
  const offers: DatasetOffer[] = []
  for (const ds of config.datasets) {
    if (isTextDataset(ds)) {
      offers.push(await describeTextDataset(ds))
      continue
    }
    const data = await load(ds)
    const featureValues = data.featureShape.reduce((a, b) => a * b, 1)
    offers.push(
      create(DatasetOfferSchema, {
        name: ds.name,
        examples: BigInt(data.size),
        featureShape: [...data.featureShape],
        numClasses: data.numClasses,
        schema: schemaText(ds),
        bytes: BigInt(data.size * featureValues * (data.dtype === 'uint8' ? 1 : 4)),
      }),
    )
  }
  return offers
}
