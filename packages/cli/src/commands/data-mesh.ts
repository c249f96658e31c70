// `weft data publish <dataset>` and `weft data get <dataset>`: public data sets by CID on the mesh, through a running
// node's API. Publish uploads the data set's files (the bundled package's, or --dir's) into the node's store as one
// UnixFS directory, announces it and prints its CID; get asks the node to fetch it from the mesh into its data dir.
import { createReadStream } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { ApiClient } from '@weft/api-client'
import type { Command } from 'commander'
import { formatBytes } from '../format.js'
import { type ApiOptions, addNodeOptions, apiClientFrom } from './fl.js'

/** The data sets published and fetched by CID. */
const MESH_DATASETS = ['fashion-mnist']

interface JsonOption {
  json?: boolean
}

function checkDataset(name: string): void {
  if (!MESH_DATASETS.includes(name)) throw new Error(`"${name}" is not a data set published by CID; known: ${MESH_DATASETS.join(', ')}`)
}

/** The folder to publish: --dir, else the installed @weft/dataset-fashion-mnist package's (found as the loader finds it). */
async function folderOf(dir: string | undefined): Promise<string> {
  if (dir !== undefined) return dir
  const { locateFashionMnist } = await import('@weft/data/node')
  const found = await locateFashionMnist({ split: 'test' }, { env: { WEFT_DATA_SEARCH: 'bundled' } })
  if ('dir' in found) return found.dir
  throw new Error('the @weft/dataset-fashion-mnist package is not installed here: name the folder holding the four .gz files with --dir')
}

async function upload(api: ApiClient, path: string, name: string): Promise<{ name: string; cid: string }> {
  const size = (await lstat(path)).size
  const body = Readable.toWeb(createReadStream(path)) as unknown as Parameters<ApiClient['storeAddFile']>[0]
  const root = await api.storeAddFile(body, { name, pin: false, size })
  return { name, cid: root.cid }
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`)
}

/** Registers `weft data publish` and `weft data get` on the `data` group. */
export function registerDataMeshCommands(data: Command): void {
  addNodeOptions(data.command('publish <dataset>').description("put a public data set's files in the node's store as one directory, announce it and print its CID"))
    .option('--dir <dir>', 'the folder holding the files (default: the bundled @weft/dataset-fashion-mnist package)')
    .option('--json', 'print JSON for scripts')
    .action(async (dataset: string, opts: ApiOptions & JsonOption & { dir?: string }) => {
      checkDataset(dataset)
      const { FASHION_MNIST_CID, FASHION_MNIST_FILES } = await import('@weft/data')
      const folder = await folderOf(opts.dir)
      const names = [FASHION_MNIST_FILES.train.images, FASHION_MNIST_FILES.train.labels, FASHION_MNIST_FILES.test.images, FASHION_MNIST_FILES.test.labels].map((f) => f.file)
      const api = apiClientFrom(opts)
      const entries = []
      for (const name of names) entries.push(await upload(api, join(folder, name), name))
      const root = await api.storeAddDirectory(entries, { name: dataset })
      await api.storeAnnounce(root.cid)
      const canonical = root.cid === FASHION_MNIST_CID
      if (!canonical && opts.json !== true) {
        process.stderr.write(`note: these files are not the bundled copy (nodes ask the mesh for ${FASHION_MNIST_CID}); fetch this one with weft data get ${dataset} --cid ${root.cid}\n`)
      }
      print(opts.json, { ...root, dataset, announced: true, canonical }, root.cid)
    })

  addNodeOptions(data.command('get <dataset>').description("fetch a public data set by CID from the mesh into the node's <dataDir>/datasets/<dataset>, files checked"))
    .option('--cid <cid>', 'the root to fetch (default: the data set’s well-known CID)')
    .option('--json', 'print JSON for scripts')
    .action(async (dataset: string, opts: ApiOptions & JsonOption & { cid?: string }) => {
      checkDataset(dataset)
      const got = await apiClientFrom(opts).datasetFetch(dataset, opts.cid === undefined ? {} : { cid: opts.cid })
      const size = got.files.reduce((a, f) => a + f.size, 0)
      const how =
        got.fetched === null
          ? 'already in the store'
          : `${got.fetched.blocks} blocks, ${formatBytes(got.fetched.bytes)} from ${Object.keys(got.fetched.providers).length} provider(s)`
      print(opts.json, got, `${dataset} (${got.cid}) in ${got.dir}: ${got.files.length} files, ${formatBytes(size)} checked (${how})`)
    })
}
