// `weft slurm up | status | down`: Weft nodes as the tasks of a Slurm batch job (@weft/launch's Slurm launcher), joined
// to the mesh through the running local node (or --bootstrap), and found again in its peer table by their labels.
import { fileURLToPath } from 'node:url'
import type { PeerView } from '@weft/api-client'
import { type Command, InvalidArgumentError } from 'commander'
import { addApiOptions, clientFrom, formatPeers } from './node.js'
import { positiveInt } from './option-parsers.js'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** The built bin.js beside this module's folder, also when this module runs from its TypeScript source. */
function builtBin(): string {
  const here = import.meta.url.endsWith('.ts') ? import.meta.url.replace('/src/', '/dist/') : import.meta.url
  return fileURLToPath(new URL('../bin.js', here))
}

/** Slurm's `--time` forms (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`) in seconds. */
export function parseSlurmTime(text: string): number {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text.trim())
  if (m === null) throw new InvalidArgumentError(`--time expects Slurm's form (MM, HH:MM:SS, D-HH:MM:SS), got "${text}"`)
  const [, d, a, b, c] = m
  const n = (s: string | undefined) => (s === undefined ? 0 : Number(s))
  let seconds: number
  if (d !== undefined) seconds = n(d) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c)
  else if (c !== undefined) seconds = n(a) * 3600 + n(b) * 60 + n(c)
  else if (b !== undefined) seconds = n(a) * 60 + n(b)
  else seconds = n(a) * 60
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new InvalidArgumentError(`--time must be positive, got "${text}"`)
  return seconds
}

/** `2G`, `512M`, `1024` (MiB, as Slurm reads a bare number) in bytes. */
export function parseMemory(text: string): number {
  const m = /^(\d+)([KMGT]?)B?$/i.exec(text.trim())
  if (m === null) throw new InvalidArgumentError(`--mem expects a size such as 2G or 512M, got "${text}"`)
  const unit = { '': 2 ** 20, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[(m[2] as string).toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']
  const bytes = Number(m[1]) * unit
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidArgumentError(`--mem must be positive, got "${text}"`)
  return bytes
}

interface ApiOptions {
  dataDir?: string
  api?: string
  token?: string
  json?: boolean
}

interface SlurmCommonOptions {
  workDir?: string
  weft?: string
}

interface UpOptions extends ApiOptions, SlurmCommonOptions {
  nodes: number
  name: string
  partition?: string
  time: string
  cpusPerNode: number
  mem?: string
  bootstrap: string[]
  label: string[]
  nodeArg: string[]
  wait?: boolean
  waitTimeout: number
}

async function launcherFrom(opts: SlurmCommonOptions) {
  const { slurmLauncher } = await import('@weft/launch')
  const weftCommand = opts.weft !== undefined ? opts.weft.split(/\s+/).filter((w) => w !== '') : [process.execPath, builtBin()]
  return slurmLauncher({ weftCommand, ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}) })
}

function addSlurmOptions(cmd: Command): Command {
  return cmd
    .option('--work-dir <dir>', "where the nodes' data directories and logs go, on a file system every Slurm node sees (default ~/.weft-slurm)")
    .option('--weft <command>', 'the weft command the tasks run, as words (default: this node binary and this CLI, absolute paths)')
}

/** TCP addresses of the local node that others can dial (no WebSockets, no relays). */
function dialable(addrs: readonly string[]): string[] {
  return addrs.filter((a) => a.includes('/tcp/') && !a.includes('/ws') && !a.includes('/p2p-circuit') && a.includes('/p2p/'))
}

/** Registers `weft slurm up | status | down`. */
export function registerSlurmCommands(program: Command): void {
  const slurm = program
    .command('slurm')
    .description('run Weft nodes as a Slurm batch job: each Weft node is one Slurm task (several may share a Slurm node)')

  addApiOptions(
    addSlurmOptions(
      slurm
        .command('up')
        .description(
          'submit one batch job whose --nodes tasks each run `weft node start` (its own data directory, labels slurm.job=<id> and ' +
            'slurm.task=<n>), bootstrapped from the local node; Weft nodes are Slurm tasks (--ntasks), not Slurm nodes',
        ),
    ),
  )
    .requiredOption('--nodes <n>', 'Weft nodes to start (Slurm tasks: --ntasks)', positiveInt('--nodes'))
    .option('--name <name>', 'the Slurm job name ([a-z0-9-])', 'weft')
    .option('--partition <partition>', 'Slurm partition (default: the cluster default)')
    .option('--time <limit>', "wall-clock limit, Slurm's form", '2:00:00')
    .option('--cpus-per-node <n>', 'CPUs per Weft node (--cpus-per-task)', positiveInt('--cpus-per-node'), 1)
    .option('--mem <size>', 'memory per Weft node, e.g. 2G (sent as --mem-per-cpu)')
    .option('--bootstrap <multiaddr>', "bootstrap peer, repeatable (default: the local node's TCP addresses)", collect, [])
    .option('--label <key=value>', 'label every node advertises, repeatable', collect, [])
    .option('--node-arg <arg>', 'one more `weft node start` argument, repeatable (e.g. --node-arg=--coordinator --node-arg=<peer-id>)', collect, [])
    .option('--wait', "wait until every node is in the local node's peer table, then list them")
    .option('--wait-timeout <seconds>', 'how long --wait waits', positiveInt('--wait-timeout'), 300)
    .action(async (opts: UpOptions) => {
      const timeLimitSeconds = parseSlurmTime(opts.time)
      const memoryBytesPerNode = opts.mem === undefined ? undefined : parseMemory(opts.mem)
      for (const l of opts.label) if (l.indexOf('=') <= 0) throw new InvalidArgumentError(`--label expects key=value, got "${l}"`)
      const needLocal = opts.bootstrap.length === 0 || opts.wait === true
      const client = needLocal ? clientFrom(opts) : undefined
      let bootstrap = opts.bootstrap
      if (bootstrap.length === 0 && client !== undefined) {
        const view = await client.node().catch((err: unknown) => {
          throw new Error(`no --bootstrap given and no local node answers (${(err as Error).message}); start one with \`weft node start\` or pass --bootstrap`)
        })
        bootstrap = dialable(view.addrs)
        if (bootstrap.length === 0) throw new Error(`the local node has no TCP address to bootstrap from (${view.addrs.join(', ')}); pass --bootstrap`)
      }
      const launcher = await launcherFrom(opts)
      const nodeArgs = [...bootstrap.flatMap((b) => ['--bootstrap', b]), ...opts.label.flatMap((l) => ['--label', l]), ...opts.nodeArg]
      const started = Date.now()
      const { id } = await launcher.launch({
        name: opts.name,
        nodes: opts.nodes,
        coresPerNode: opts.cpusPerNode,
        ...(memoryBytesPerNode !== undefined ? { memoryBytesPerNode } : {}),
        timeLimitSeconds,
        ...(opts.partition !== undefined ? { partition: opts.partition } : {}),
        nodeArgs,
      })
      if (!opts.wait || client === undefined) {
        const status = await launcher.status(id)
        if (opts.json) process.stdout.write(`${JSON.stringify({ job: id, status })}\n`)
        else process.stdout.write(`Slurm job ${id}: ${opts.nodes} Weft node(s), ${status.detail}\n`)
        return
      }
      if (!opts.json) process.stderr.write(`Slurm job ${id} submitted; waiting for ${opts.nodes} node(s) to join\n`)
      const end = started + opts.waitTimeout * 1000
      let joined: PeerView[] = []
      for (;;) {
        joined = (await client.peers('alive')).filter((p) => p.ad.labels['slurm.job'] === id)
        if (joined.length >= opts.nodes) break
        const status = await launcher.status(id)
        if (status.state === 'failed' || status.state === 'cancelled' || status.state === 'done') {
          throw new Error(`Slurm job ${id} ended (${status.detail}) with ${joined.length} of ${opts.nodes} node(s) joined; see its logs in the work directory`)
        }
        if (Date.now() > end) {
          throw new Error(`${joined.length} of ${opts.nodes} node(s) of Slurm job ${id} joined in ${opts.waitTimeout} s (job ${status.detail}); it keeps running: \`weft slurm down ${id}\``)
        }
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      const seconds = (Date.now() - started) / 1000
      const sorted = [...joined].sort((a, b) => Number(a.ad.labels['slurm.task']) - Number(b.ad.labels['slurm.task']))
      if (opts.json) {
        const nodes = sorted.map((p) => ({ peerId: p.peerId, task: Number(p.ad.labels['slurm.task']), addrs: p.ad.addrs }))
        process.stdout.write(`${JSON.stringify({ job: id, joinedSeconds: seconds, nodes })}\n`)
      } else {
        process.stdout.write(`Slurm job ${id}: ${sorted.length} node(s) joined in ${seconds.toFixed(1)} s\n${formatPeers(sorted)}\n`)
      }
    })

  addSlurmOptions(slurm.command('status <job>').description("a Slurm job's state and running Weft nodes (squeue/scontrol, the jobcomp file once it ended)"))
    .option('--json', 'print JSON for scripts')
    .action(async (job: string, opts: SlurmCommonOptions & { json?: boolean }) => {
      const status = await (await launcherFrom(opts)).status(job)
      process.stdout.write(opts.json ? `${JSON.stringify(status)}\n` : `Slurm job ${job}: ${status.state}, ${status.running} node(s) running (${status.detail})\n`)
    })

  addSlurmOptions(slurm.command('down <job>').description('scancel the job and wait until Slurm reports it and its tasks gone'))
    .option('--json', 'print JSON for scripts')
    .action(async (job: string, opts: SlurmCommonOptions & { json?: boolean }) => {
      const launcher = await launcherFrom(opts)
      await launcher.cancel(job)
      const status = await launcher.status(job).catch(() => undefined)
      process.stdout.write(opts.json ? `${JSON.stringify({ job, cancelled: true, status: status ?? null })}\n` : `Slurm job ${job} cancelled${status ? ` (${status.detail})` : ''}\n`)
    })
}
