// What `weft data partition` and `weft data info` run, loaded only when they run (the data-set packages).
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import {
  describeScheme,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  type FashionMnistSplit,
  formatLabelTable,
  labelSkew,
  labelTable,
  type PartitionScheme,
  parseIdx,
  partition,
} from '@weft/data'
import {
  ensureFashionMnist,
  FASHION_MNIST_HINTS,
  FASHION_MNIST_SOURCE_TEXT,
  loadCsv,
  loadFashionMnistLabels,
  locateFashionMnist,
  readIdxBytes,
} from '@weft/data/node'
import { InvalidArgumentError } from 'commander'

export interface SourceOptions {
  dataset: string
  split: FashionMnistSplit
  dir?: string
  label?: string
  download: boolean
}

export interface PartitionOptions extends SourceOptions {
  clients: number
  seed: number
  iid?: true
  dirichlet?: number
  shards?: number
  quantitySkew?: number
  json?: true
}

export interface InfoOptions extends SourceOptions {
  verify?: true
  json?: true
}

interface LabelSource {
  name: string
  labels: Int32Array
  numClasses: number
  classNames: readonly string[]
  from: string
}

async function loadLabels(o: SourceOptions): Promise<LabelSource> {
  if (o.dataset === 'fashion-mnist') {
    const init = { split: o.split, download: o.download, ...(o.dir === undefined ? {} : { dir: o.dir }) }
    const loc = await ensureFashionMnist(init)
    const labels = await loadFashionMnistLabels(init)
    return { name: `fashion-mnist/${o.split}`, labels, numClasses: 10, classNames: FASHION_MNIST_CLASSES, from: `${loc.dir} (${loc.source})` }
  }
  if (o.dataset.endsWith('.csv')) {
    if (o.label === undefined) throw new InvalidArgumentError('--label <column> is required with a .csv data set')
    const { dataset, classNames } = await loadCsv(o.dataset, { label: o.label })
    return { name: dataset.name, labels: dataset.labels(), numClasses: dataset.numClasses, classNames, from: o.dataset }
  }
  throw new InvalidArgumentError(`--dataset must be fashion-mnist or a path ending in .csv, got "${o.dataset}"`)
}

function schemeOf(o: PartitionOptions): PartitionScheme {
  const chosen: PartitionScheme[] = []
  if (o.iid) chosen.push({ scheme: 'iid' })
  if (o.dirichlet !== undefined) chosen.push({ scheme: 'dirichlet', alpha: o.dirichlet })
  if (o.shards !== undefined) chosen.push({ scheme: 'shards', shardsPerClient: o.shards })
  if (o.quantitySkew !== undefined) chosen.push({ scheme: 'quantity-skew', exponent: o.quantitySkew })
  if (chosen.length !== 1) throw new InvalidArgumentError('give exactly one of --iid, --dirichlet <alpha>, --shards <k>, --quantity-skew <exponent>')
  return chosen[0] as PartitionScheme
}

export async function runPartition(o: PartitionOptions): Promise<void> {
  const scheme = schemeOf(o)
  const src = await loadLabels(o)
  const parts = partition(src.labels, scheme, { clients: o.clients, seed: o.seed })
  const table = labelTable(parts, src.labels, src.numClasses)
  const skew = labelSkew(table)
  if (o.json) {
    const out = {
      dataset: src.name,
      from: src.from,
      scheme,
      clients: o.clients,
      seed: o.seed,
      classNames: src.classNames,
      counts: table.counts.map((r) => Array.from(r)),
      clientTotals: Array.from(table.clientTotals),
      classTotals: Array.from(table.classTotals),
      skew,
    }
    process.stdout.write(`${JSON.stringify(out)}\n`)
    return
  }
  const f = (x: number): string => x.toFixed(3)
  const lines = [
    `${src.name} from ${src.from}: ${src.labels.length} examples, ${o.clients} clients, ${describeScheme(scheme)}, seed ${o.seed}`,
    '',
    formatLabelTable(table, { classNames: src.classNames }),
    '',
    `mean label entropy per client: ${f(skew.meanEntropy)} bits (global ${f(skew.globalEntropy)}; lower = more skewed)`,
    `mean total-variation distance from the global label mix: ${f(skew.meanTotalVariation)} (0 = IID, 1 = disjoint)`,
    `classes per client: ${skew.meanClassesPerClient.toFixed(2)} of ${src.numClasses}; client sizes ${skew.minClientSize}..${skew.maxClientSize} (CV ${f(skew.sizeCv)})`,
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

export async function runInfo(o: InfoOptions): Promise<void> {
  if (o.dataset !== 'fashion-mnist') throw new InvalidArgumentError(`weft data info knows only --dataset fashion-mnist, got "${o.dataset}"`)
  const splits = []
  for (const split of ['train', 'test'] as const) {
    const loc = await locateFashionMnist({ split, ...(o.dir === undefined ? {} : { dir: o.dir }) })
    if (!('dir' in loc)) {
      splits.push({ split, found: false, searched: loc.searched })
      continue
    }
    const files = []
    let count = 0
    let dims: readonly number[] = []
    for (const [role, path] of [['images', loc.images], ['labels', loc.labels]] as const) {
      const expected = FASHION_MNIST_FILES[split][role]
      const bytes = await readIdxBytes(path)
      const idx = parseIdx(bytes, path, { dtype: 'uint8' })
      if (role === 'images') dims = idx.dims
      else count = idx.dims[0] as number
      const file: Record<string, unknown> = { role, path, bytes: (await stat(path)).size, idxBytes: bytes.length }
      if (o.verify) {
        file['canonicalGz'] = path.endsWith('.gz') && (await sha256File(path)) === expected.sha256
        file['contentVerified'] = createHash('sha256').update(bytes).digest('hex') === expected.contentSha256
      }
      files.push(file)
    }
    splits.push({ split, found: true, source: loc.source, sourceText: FASHION_MNIST_SOURCE_TEXT[loc.source], dir: loc.dir, examples: count, imageDims: dims, featureShape: [28, 28, 1], files })
  }
  const info = { dataset: 'fashion-mnist', numClasses: 10, classNames: FASHION_MNIST_CLASSES, splits }
  if (o.json) {
    process.stdout.write(`${JSON.stringify(info)}\n`)
    return
  }
  const lines = ['fashion-mnist: 28×28 grayscale images (featureShape [28, 28, 1], uint8 scaled by 1/255), 10 classes:']
  lines.push(`  ${FASHION_MNIST_CLASSES.map((c, i) => `${i} ${c}`).join(', ')}`)
  for (const s of splits) {
    if (!s.found) {
      lines.push(`${s.split}: not found here; looked in:`, ...(s.searched ?? []).map((x) => `  - ${x}`))
      lines.push(`  it is downloaded on first use unless WEFT_DATA_SEARCH leaves "download" out; else:`, ...FASHION_MNIST_HINTS.map((h) => `  - ${h}`))
      continue
    }
    lines.push(`${s.split}: ${s.examples} examples, images [${(s.imageDims ?? []).join(', ')}], in ${s.dir} (source: ${s.sourceText})`)
    for (const f of s.files ?? []) {
      const check = o.verify ? `, content ${f['contentVerified'] ? 'verified' : 'MISMATCH'}${f['canonicalGz'] ? ', canonical .gz' : ''}` : ''
      lines.push(`  ${String(f['path'])}: ${String(f['bytes'])} bytes (${String(f['idxBytes'])} decompressed${check})`)
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

