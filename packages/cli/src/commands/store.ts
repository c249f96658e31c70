// `weft store …` (put, get, ls, stat, replicate, pin, unpin, unannounce, gc, export, import: the node's block store through its API) and
// `weft model publish` (a federated job's model into the store). Files travel as byte streams: the CLI reads and
// writes the user's files, the node only its store.
import { createReadStream, createWriteStream } from 'node:fs'
import { lstat, mkdir, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import type { ApiClient, StoreFetchProgressView, StoreReplicationView, StoreRootView, StoreStatView } from '@weft/api-client'
import cliProgress from 'cli-progress'
import { type Command, InvalidArgumentError } from 'commander'
import { formatBytes, formatTable } from '../format.js'
import { type ApiOptions, addNodeOptions, apiClientFrom } from './fl.js'

/** Transfers at least this large show a progress bar (on a terminal). */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024

interface JsonOption {
  json?: boolean
}

/** Counts the bytes that pass, driving a progress bar on a terminal when the total is large. */
function progressCounter(total: number | undefined, label: string): { counter: Transform; stop(): void } {
  const show = process.stderr.isTTY === true && total !== undefined && total >= PROGRESS_MIN_BYTES
  const bar = show ? new cliProgress.SingleBar({ stream: process.stderr, format: `${label} |{bar}| {percentage}% | {done} of {size}`, hideCursor: true, clearOnComplete: true, fps: 5 }, cliProgress.Presets.shades_classic) : undefined
  let done = 0
  bar?.start(total ?? 0, 0, { done: formatBytes(0), size: formatBytes(total ?? 0) })
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.byteLength
      bar?.update(done, { done: formatBytes(done) })
      callback(null, chunk)
    },
  })
  return { counter, stop: () => bar?.stop() }
}

/** A replication target's state in lines: factor, constraints, holders seen, the last repair. */
function describeReplication(r: StoreReplicationView): string[] {
  const constraints = [...r.labels, ...(r.distinct === undefined ? [] : [`distinct ${r.distinct}`])]
  const seen = r.checkedAt === null ? 'not checked yet' : `${r.counted} of ${r.factor} counted, ${r.holders.length} live holder(s) seen ${new Date(r.checkedAt).toISOString()}`
  const lines = [`replicas ${r.factor}${constraints.length === 0 ? '' : ` (${constraints.join(', ')})`}: ${seen}`, ...r.holders.map((h) => `  holder ${h}`)]
  const last = r.lastRepair
  if (last !== null) {
    lines.push(`  last repair ${new Date(last.at).toISOString()}: ${last.replicated.length} replicated, ${last.refused.length} refused${last.unfit > 0 ? `, ${last.unfit} unfit (their stores take no such replica)` : ''}${last.exhausted ? ', short: no eligible candidate left' : ''}`)
    for (const f of last.refused) lines.push(`    refused by ${f.peer}: ${f.reason}`)
  }
  return lines
}

/** A `--label key=value` option value, collected. */
function collectLabel(value: string, previous: string[] = []): string[] {
  if (!/^[^=]+=/.test(value)) throw new InvalidArgumentError(`a label must be key=value, got "${value}"`)
  return [...previous, value]
}

/** A bar for a fetch from the mesh, whose size is not known until it ends: blocks, bytes and providers so far. */
function fetchBar(cid: string): { onProgress(p: StoreFetchProgressView): void; stop(): void } {
  if (process.stderr.isTTY !== true) return { onProgress() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `fetch ${cid.slice(0, 12)}… {blocks} blocks | {done} | {providers} provider(s)`, hideCursor: true, clearOnComplete: true, fps: 5 },
    cliProgress.Presets.shades_classic,
  )
  bar.start(1, 0, { blocks: 0, done: formatBytes(0), providers: 0 })
  return {
    onProgress: (p) => bar.update(0, { blocks: p.blocks, done: formatBytes(p.bytes), providers: p.providers }),
    stop: () => bar.stop(),
  }
}

function describeRoot(r: StoreRootView): string {
  return `${r.cid}  ${r.kind}  ${formatBytes(r.size)} (${r.size} bytes)${r.name === null ? '' : `  ${r.name}`}${r.pinned ? '  pinned' : ''}`
}

async function putFile(api: ApiClient, path: string, size: number, options: { name?: string; pin?: boolean }): Promise<StoreRootView> {
  const { counter, stop } = progressCounter(size, `put ${basename(path)}`)
  const stream = createReadStream(path).pipe(counter)
  try {
    return await api.storeAddFile(Readable.toWeb(stream) as unknown as Parameters<ApiClient['storeAddFile']>[0], { ...options, size })
  } finally {
    stop()
  }
}

/** Puts a file, or a directory tree (bottom-up: files and subdirectories unpinned, the top root pinned). */
async function putPath(api: ApiClient, path: string, options: { name?: string; pin?: boolean; recursive?: boolean }): Promise<StoreRootView> {
  const st = await lstat(path)
  const name = options.name ?? basename(path)
  if (st.isFile()) return putFile(api, path, st.size, { name, ...(options.pin === undefined ? {} : { pin: options.pin }) })
  if (!st.isDirectory()) throw new Error(`${path} is neither a regular file nor a directory`)
  if (options.recursive !== true) throw new Error(`${path} is a directory: put it with --recursive`)
  const entries: { name: string; cid: string }[] = []
  for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile() && !entry.isDirectory()) continue
    const child = await putPath(api, join(path, entry.name), { name: entry.name, pin: false, recursive: true })
    entries.push({ name: entry.name, cid: child.cid })
  }
  return api.storeAddDirectory(entries, { name, ...(options.pin === undefined ? {} : { pin: options.pin }) })
}

/** Writes a file root to `out`, or a directory root as a folder tree. Returns the files and bytes written. */
async function getPath(api: ApiClient, stat: StoreStatView, out: string): Promise<{ files: number; bytes: number }> {
  if (stat.kind === 'file') {
    const { body, size } = await api.storeContent(stat.cid)
    const { counter, stop } = progressCounter(size, `get ${basename(out)}`)
    try {
      await pipeline(Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>), counter, createWriteStream(out, { mode: 0o644 }))
    } finally {
      stop()
    }
    return { files: 1, bytes: stat.size }
  }
  await mkdir(out, { recursive: true })
  let files = 0
  let bytes = 0
  for (const entry of stat.entries ?? []) {
    if (entry.name.includes('/') || entry.name === '..' || entry.name === '.' || entry.name.length === 0) throw new Error(`${stat.cid} has an entry named "${entry.name}", which is not a file name`)
    const got = await getPath(api, await api.storeStat(entry.cid), join(out, entry.name))
    files += got.files
    bytes += got.bytes
  }
  return { files, bytes }
}

function print(json: boolean | undefined, value: unknown, text: string): void {
  process.stdout.write(json === true ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`)
}

function parseRound(v: string): number | 'last' {
  if (v === 'last') return 'last'
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`--round must be 'last' or a round number, got "${v}"`)
  return n
}

/** Registers `weft store …` and `weft model publish` (on the `model` group `weft model export` made). */
export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description("the node's content-addressed block store")

  addNodeOptions(store.command('put <path>').description('add a file (or with --recursive a directory) and pin it; prints its CID'))
    .option('--recursive', 'add a directory tree as one root')
    .option('--name <name>', 'a name to list the root under (default: the file name)')
    .option('--announce', 'serve it to the mesh and provide it in the DHT (never for private artifacts)')
    .option('--json', 'print the root as JSON')
    .action(async (path: string, opts: ApiOptions & JsonOption & { recursive?: boolean; name?: string; announce?: boolean }) => {
      const api = apiClientFrom(opts)
      const root = await putPath(api, path, { ...(opts.name === undefined ? {} : { name: opts.name }), recursive: opts.recursive === true })
      if (opts.announce === true) await api.storeAnnounce(root.cid)
      print(opts.json, root, root.cid)
    })

  addNodeOptions(
    store.command('get <cid>').description('write a file root to --out (a directory root: a folder tree), fetching it from the mesh first when it is not complete here'),
  )
    .requiredOption('--out <path>', 'where to write it')
    .option('--provider <peerId...>', 'fetch from these peers (default: found among connected peers and in the DHT)')
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption & { out: string; provider?: string[] }) => {
      const api = apiClientFrom(opts)
      const stat = await api.storeStat(cid).catch((err: Error & { status?: number }) => {
        if (err.name === 'ApiError' && err.status === 404) return undefined
        throw err
      })
      let fetched: Awaited<ReturnType<ApiClient['storeFetch']>> | undefined
      if (stat === undefined || stat.missing > 0) {
        if (opts.json !== true) process.stderr.write(`${cid} is not complete on this node: fetching it from the mesh…\n`)
        // Progress streams from the node as the blocks arrive (a bar on a terminal); --json prints only the end.
        const bar = opts.json === true ? undefined : fetchBar(cid)
        try {
          fetched = await api.storeFetch(cid, { ...(opts.provider === undefined ? {} : { providers: opts.provider }), onProgress: (p) => bar?.onProgress(p) })
        } finally {
          bar?.stop()
        }
        if (opts.json !== true) {
          const from = fetched.providers.map((p) => `${p.peer.slice(-8)} ${p.blocks}`).join(', ')
          process.stderr.write(`fetched ${fetched.blocks} blocks, ${formatBytes(fetched.bytes)} from ${fetched.providers.length} provider(s) (${from})${fetched.badBlocks > 0 ? `; ${fetched.badBlocks} bad block(s), their providers dropped` : ''}\n`)
        }
      }
      const got = await getPath(api, fetched === undefined && stat !== undefined ? stat : await api.storeStat(cid), opts.out)
      print(
        opts.json,
        { cid, path: opts.out, ...got, ...(fetched === undefined ? {} : { fetched }) },
        `wrote ${opts.out}: ${got.files} file${got.files === 1 ? '' : 's'}, ${formatBytes(got.bytes)} (${got.bytes} bytes)`,
      )
    })

  addNodeOptions(store.command('ls').description('the roots in the store, and its usage against the quota'))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption) => {
      const list = await apiClientFrom(opts).storeList()
      const u = list.usage
      const rows = list.roots.map((r) => [r.cid, r.kind, formatBytes(r.size), `${r.pinned ? 'yes' : 'no'}${r.held === undefined ? '' : ` (held: ${r.held.join(', ')})`}`, r.name ?? ''])
      const quota = `${formatBytes(u.usedBytes)} used${u.maxBytes === null ? '' : ` of ${formatBytes(u.maxBytes)}`}, ${u.blocks} blocks, ${u.pinned} pinned of ${u.roots} roots`
      print(opts.json, list, `${formatTable(['cid', 'kind', 'size', 'pinned', 'name'], rows)}\n${quota}`)
    })

  addNodeOptions(store.command('stat <cid>').description('a root: kind, sizes, blocks, pin, what is missing, a directory’s entries'))
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption) => {
      const s = await apiClientFrom(opts).storeStat(cid)
      const lines = [
        `cid      ${s.cid}`,
        `kind     ${s.kind}${s.name === null ? '' : ` (${s.name})`}`,
        `size     ${formatBytes(s.size)} (${s.size} bytes), ${s.blocks} blocks, ${s.dagSize} bytes of blocks`,
        `pinned   ${s.pinned ? `yes, since ${new Date(s.pinnedAt ?? 0).toISOString()}` : 'no'}`,
        ...(s.held === undefined ? [] : [`held     by ${s.held.join(', ')} (kept by gc; unpin leaves it)`]),
        `missing  ${s.missing === 0 ? 'none: complete here' : `${s.missing} blocks`}`,
        ...(s.entries ?? []).map((e) => `  ${e.name}  ${e.cid}`),
        ...(s.replication === undefined ? [] : describeReplication(s.replication)),
      ]
      print(opts.json, s, lines.join('\n'))
    })

  addNodeOptions(store.command('replicate <cid>').description('keep N copies of a complete root on the mesh: peers are asked to pull it now, and again as holders leave'))
    .requiredOption('--factor <n>', 'copies wanted, this node’s included (1..16)', (v) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError(`--factor must be an integer from 1 to 16, got "${v}"`)
      return n
    })
    .option('--label <key=value>', 'count only holders whose ads carry this label (repeatable)', collectLabel)
    .option('--distinct <key>', 'holders must differ in this label, e.g. site')
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption & { factor: number; label?: string[]; distinct?: string }) => {
      const r = await apiClientFrom(opts).storeReplicate(cid, { factor: opts.factor, ...(opts.label === undefined ? {} : { labels: opts.label }), ...(opts.distinct === undefined ? {} : { distinct: opts.distinct }) })
      print(opts.json, r, describeReplication(r).join('\n'))
    })

  addNodeOptions(store.command('unreplicate <cid>').description('end a root’s replication target here and on its holders (replicas pulled for it are unpinned; this node’s copy stays)'))
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption) => {
      const r = await apiClientFrom(opts).storeForget(cid)
      const lines = r.wasKept
        ? [`ended the replication target of ${r.cid}: ${r.forgotten.length} holder(s) dropped it too`, ...r.refused.map((x) => `  ${x.peer}: ${x.reason}`)]
        : [`${r.cid} had no replication target on this node`]
      print(opts.json, r, lines.join('\n'))
    })

  addNodeOptions(store.command('pin <cid>').description('keep a root and its blocks through gc'))
    .option('--name <name>', 'a name to list it under')
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption & { name?: string }) => {
      const r = await apiClientFrom(opts).storePin(cid, opts.name)
      print(opts.json, r, `pinned ${describeRoot(r)}`)
    })

  addNodeOptions(store.command('unpin <cid>').description('let gc remove a root’s blocks that no pinned root needs (and stop serving it to the mesh)'))
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption) => {
      const r = await apiClientFrom(opts).storeUnpin(cid)
      print(opts.json, r, `unpinned ${r.cid}, no longer announced (its blocks go at the next weft store gc)`)
    })

  addNodeOptions(store.command('unannounce <cid>').description('stop serving a root to the mesh and providing it in the DHT (it stays in the store)'))
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption) => {
      const r = await apiClientFrom(opts).storeUnannounce(cid)
      print(opts.json, r, `${r.cid} is no longer announced (its DHT provider records expire; it stays in the store)`)
    })

  addNodeOptions(store.command('gc').description('delete every block no pinned root needs'))
    .option('--json', 'print JSON for scripts')
    .action(async (opts: ApiOptions & JsonOption) => {
      const g = await apiClientFrom(opts).storeGc()
      print(opts.json, g, `removed ${g.removedBlocks} blocks, freed ${formatBytes(g.freedBytes)}; ${formatBytes(g.usage.usedBytes)} used`)
    })

  addNodeOptions(store.command('export <cid>').description('write a complete DAG as a CAR v1 file (IPFS tools read it)'))
    .requiredOption('--car <file>', 'the CAR file to write')
    .option('--json', 'print JSON for scripts')
    .action(async (cid: string, opts: ApiOptions & JsonOption & { car: string }) => {
      const api = apiClientFrom(opts)
      const stat = await api.storeStat(cid)
      const body = await api.storeExportCar(cid)
      const { counter, stop } = progressCounter(stat.dagSize, `export ${cid.slice(0, 12)}…`)
      try {
        await pipeline(Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>), counter, createWriteStream(opts.car, { mode: 0o644 }))
      } finally {
        stop()
      }
      const bytes = (await lstat(opts.car)).size
      print(opts.json, { cid: stat.cid, path: opts.car, bytes }, `wrote ${opts.car}: CAR of ${stat.cid}, ${formatBytes(bytes)}`)
    })

  addNodeOptions(store.command('import <file>').description('add the blocks of a CAR file (v1 or v2) and pin its roots'))
    .option('--json', 'print JSON for scripts')
    .action(async (file: string, opts: ApiOptions & JsonOption) => {
      const size = (await lstat(file)).size
      const { counter, stop } = progressCounter(size, `import ${basename(file)}`)
      let result: Awaited<ReturnType<ApiClient['storeImportCar']>>
      try {
        result = await apiClientFrom(opts).storeImportCar(Readable.toWeb(createReadStream(file).pipe(counter)) as unknown as Parameters<ApiClient['storeAddFile']>[0], { size })
      } finally {
        stop()
      }
      print(opts.json, result, `${result.roots.map((r) => r.cid).join('\n')}\n(${result.blocks} blocks, ${formatBytes(result.bytes)})`)
    })

  const model = program.commands.find((c) => c.name() === 'model') ?? program.command('model').description('models trained by federated jobs')
  addNodeOptions(model.command('publish <job>').description("put a job's model artifact into the node's store, pinned; prints its CID"))
    .option('--round <last|N>', "the model after this round ('last', or 0 for the initial model)", parseRound, 'last' as const)
    .option('--json', 'print JSON for scripts')
    .action(async (job: string, opts: ApiOptions & JsonOption & { round: number | 'last' }) => {
      const r = await apiClientFrom(opts).storePublishModel(job, opts.round)
      print(opts.json, r, r.cid)
    })
}
