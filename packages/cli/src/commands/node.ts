// `weft node start`, `weft status`, `weft peers`: run a node and look at it and its mesh.
import { writeFileSync } from 'node:fs'
import type { ApiClient, NodeView, PeerView } from '@weft/api-client'
import { createNodeApiClient, defaultDataDir } from '@weft/api-client/node'
import type { NodeConfig } from '@weft/node'
import { type Command, Option } from 'commander'
import { formatBytes, formatDuration, formatTable, shortId } from '../format.js'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

interface StartOptions {
  config?: string
  dataDir?: string
  listen: string[]
  announce: string[]
  bootstrap: string[]
  label: string[]
  mdns?: boolean
  apiHost?: string
  apiPort?: string
  /** false with --no-dashboard. */
  dashboard: boolean
  pskFile?: string
  allow: string[]
  coordinator: string[]
  submitter: string[]
  jobsFrom: string[]
  edge?: boolean
  relay?: boolean
  join?: boolean
  lowMemory?: boolean
  authority?: string
  certificate?: string
  adInterval?: string
  adTtl?: string
  probe?: boolean
  runtime?: 'tfjs' | 'torch' | 'auto'
  torchDevice?: 'auto' | 'cpu' | 'cuda'
  torchThreads?: string
  torchPython?: string
  workers?: string
  site?: string
  aggregator?: boolean
  logLevel?: string
}

function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new Error(`--label expects key=value, got '${pair}'`)
    labels[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return labels
}

function toInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n)) throw new Error(`${flag} expects an integer, got '${value}'`)
  return n
}

/**
 * Merges a config file with flags (flags win; list flags add to the file's lists).
 * Loads @weft/node (libp2p, SQLite) only here: the commands that just ask a running node never do.
 */
async function buildConfig(opts: StartOptions): Promise<NodeConfig> {
  const { parseNodeConfig, readConfigFile } = await import('@weft/node')
  const file = opts.config !== undefined ? readConfigFile(opts.config) : {}
  const merged: Record<string, unknown> = { ...file }
  merged['dataDir'] = opts.dataDir ?? file['dataDir'] ?? defaultDataDir()
  if (opts.listen.length > 0) merged['listen'] = opts.listen
  if (opts.announce.length > 0) merged['announce'] = opts.announce
  if (opts.bootstrap.length > 0) merged['bootstrap'] = [...((file['bootstrap'] as string[]) ?? []), ...opts.bootstrap]
  if (opts.label.length > 0) merged['labels'] = { ...((file['labels'] as object) ?? {}), ...parseLabels(opts.label) }
  if (opts.site !== undefined) merged['labels'] = { ...((merged['labels'] as object) ?? {}), site: opts.site }
  if (opts.mdns !== undefined) merged['mdns'] = opts.mdns
  const api = { ...((file['api'] as object) ?? {}) } as Record<string, unknown>
  if (opts.apiHost !== undefined) api['host'] = opts.apiHost
  if (opts.apiPort !== undefined) api['port'] = toInt('--api-port', opts.apiPort)
  if (!opts.dashboard) api['dashboard'] = false
  merged['api'] = api
  const ads = { ...((file['ads'] as object) ?? {}) } as Record<string, unknown>
  if (opts.adInterval !== undefined) ads['intervalMs'] = toInt('--ad-interval', opts.adInterval)
  if (opts.adTtl !== undefined) ads['ttlMs'] = toInt('--ad-ttl', opts.adTtl)
  merged['ads'] = ads
  if (opts.pskFile !== undefined) {
    merged['privateNetwork'] = { pskFile: opts.pskFile, allow: opts.allow }
  } else if (opts.allow.length > 0) {
    throw new Error('--allow needs --psk-file (allow-lists apply to private meshes)')
  }
  const runtime = { ...((file['runtime'] as object) ?? {}) } as Record<string, unknown>
  if (opts.probe === false) runtime['probe'] = false
  if (opts.runtime !== undefined) runtime['engine'] = opts.runtime
  const torch = { ...((runtime['torch'] as object) ?? {}) } as Record<string, unknown>
  if (opts.torchDevice !== undefined) torch['device'] = opts.torchDevice
  if (opts.torchThreads !== undefined) torch['threads'] = toInt('--torch-threads', opts.torchThreads)
  if (opts.torchPython !== undefined) torch['python'] = opts.torchPython
  if (Object.keys(torch).length > 0) runtime['torch'] = torch
  merged['runtime'] = runtime
  const fl = { ...((file['fl'] as object) ?? {}) } as Record<string, unknown>
  if (opts.workers !== undefined) fl['workers'] = toInt('--workers', opts.workers)
  if (opts.coordinator.length > 0) fl['coordinators'] = [...((fl['coordinators'] as string[]) ?? []), ...opts.coordinator]
  if (opts.submitter.length > 0) fl['submitters'] = [...((fl['submitters'] as string[]) ?? []), ...opts.submitter]
  if (opts.aggregator === true) {
    // The site it aggregates: --site, else the file's fl.aggregator.site or labels.site.
    const fileSite = (fl['aggregator'] as { site?: string } | undefined)?.site ?? (merged['labels'] as Record<string, string> | undefined)?.['site']
    const site = opts.site ?? fileSite
    if (site === undefined) throw new Error('--aggregator needs --site <name>: the site whose clients it aggregates')
    fl['aggregator'] = { ...((fl['aggregator'] as object) ?? {}), site }
  }
  if (Object.keys(fl).length > 0) merged['fl'] = fl
  if (opts.edge === true) merged['edge'] = true
  // A node serving /join also relays: a tab reserves a slot on it, so peers other than this node can reach the tab.
  if (opts.relay === true || opts.join === true) merged['relay'] = { ...((file['relay'] as object) ?? {}), serve: true }
  if (opts.join === true) merged['join'] = { ...((file['join'] as object) ?? {}), enabled: true }
  if (opts.lowMemory === true) merged['lowMemory'] = true
  if (opts.jobsFrom.length > 0) {
    const jobs = { ...((file['jobs'] as object) ?? {}) } as Record<string, unknown>
    jobs['from'] = [...((jobs['from'] as string[]) ?? []), ...opts.jobsFrom]
    merged['jobs'] = jobs
  }
  if (opts.authority !== undefined || opts.certificate !== undefined) {
    const authority = { ...((file['authority'] as object) ?? {}) } as Record<string, unknown>
    if (opts.authority !== undefined) authority['publicKey'] = opts.authority
    if (opts.certificate !== undefined) authority['certificate'] = opts.certificate
    merged['authority'] = authority
  }
  if (opts.logLevel !== undefined) merged['log'] = { level: opts.logLevel }
  return parseNodeConfig(merged)
}

export function clientFrom(opts: { dataDir?: string; api?: string; token?: string }): ApiClient {
  return createNodeApiClient({
    dataDir: opts.dataDir ?? defaultDataDir(),
    ...(opts.api !== undefined ? { apiUrl: opts.api } : {}),
    ...((opts.token ?? process.env['WEFT_API_TOKEN']) !== undefined
      ? { token: (opts.token ?? process.env['WEFT_API_TOKEN']) as string }
      : {}),
  })
}

export function addApiOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory of the node to ask (default ~/.weft or $WEFT_HOME)')
    .option('--api <url>', 'the node API URL (instead of the data directory)')
    .option('--token <token>', 'API bearer token (default: <data-dir>/api-token or $WEFT_API_TOKEN)')
    .option('--json', 'print JSON for scripts')
}

function runtimesText(runtimes: NodeView['resources']['runtimes']): string {
  return runtimes.map((r) => `${r.name}/${r.backend}${r.matmulGflops > 0 ? ` ${r.matmulGflops.toFixed(1)} GFLOPS` : ''}`).join(', ')
}

function engineText(e: NodeView['engine']): string {
  const torch = e.torch === undefined ? '' : ` (torch ${e.torch.torch} on ${e.torch.device === 'cuda' ? e.torch.deviceName : 'cpu'}, ${e.torch.threads} thread(s), ${e.torch.python})`
  const fallback = e.fallbackReason === undefined ? '' : `; ${e.requested} asked for, unavailable: ${e.fallbackReason}`
  return `${e.preferred}${torch}${fallback}`
}

/** Human-readable `weft status`. */
export function formatStatus(view: NodeView): string {
  const r = view.resources
  const lines = [
    `peer id     ${view.peerId}`,
    `version     ${view.version}`,
    `uptime      ${formatDuration(view.uptimeMs)}`,
    `api         ${view.api.url}${view.api.authRequired ? ' (bearer token required)' : ''}`,
    `network     ${view.privateNetwork ? 'private (pre-shared key)' : 'public'}`,
    `labels      ${Object.entries(view.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`,
    `cpu         ${r.cpu.cores} × ${r.cpu.model}  load ${r.cpu.load1.toFixed(2)} ${r.cpu.load5.toFixed(2)} ${r.cpu.load15.toFixed(2)}`,
    `memory      ${formatBytes(r.memory.freeBytes)} free of ${formatBytes(r.memory.totalBytes)}`,
    `runtimes    ${runtimesText(r.runtimes) || '-'}`,
    `engine      ${engineText(view.engine)}`,
    `datasets    ${r.datasets.map((d) => `${d.name} (${d.examples} examples)`).join(', ') || '-'}`,
    `peers       ${view.peers.alive} alive, ${view.peers.gone} gone`,
    'addresses',
    ...view.addrs.map((a) => `  ${a}`),
    `connections (${view.connections.length})`,
    ...view.connections.map((c) => `  ${c.direction.padEnd(8)} ${c.remoteAddr}`),
  ]
  return lines.join('\n')
}

/** A peer's block store in a column: used of quota, and `+r` when it takes replicas. */
function storeText(store: PeerView['ad']['store']): string {
  if (store === null) return '-'
  const quota = store.quotaBytes === null ? 'no quota' : formatBytes(store.quotaBytes)
  return `${formatBytes(store.usedBytes)}/${quota}${store.acceptsReplicas ? ' +r' : ''}`
}

/** Human-readable `weft peers`. */
export function formatPeers(peers: readonly PeerView[]): string {
  if (peers.length === 0) return 'no peers known yet'
  const rows = peers.map((p) => [
    shortId(p.peerId),
    p.status === 'alive' ? (p.connected ? 'alive' : 'alive*') : `gone (${p.goneReason ?? '?'})`,
    Object.entries(p.ad.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    `${p.ad.cpu.cores}`,
    `${formatBytes(p.ad.memory.freeBytes)}/${formatBytes(p.ad.memory.totalBytes)}`,
    p.ad.cpu.load1.toFixed(2),
    runtimesText(p.ad.runtimes) || '-',
    p.ad.datasets.map((d) => `${d.name}:${d.examples}`).join(',') || '-',
    storeText(p.ad.store),
    p.ad.version,
  ])
  const table = formatTable(['PEER', 'STATUS', 'LABELS', 'CORES', 'MEM FREE/TOTAL', 'LOAD', 'RUNTIMES', 'DATASETS', 'STORE USED/QUOTA', 'VERSION'], rows)
  const indirect = peers.some((p) => p.status === 'alive' && !p.connected)
  return indirect ? `${table}\n(alive* = known through gossip or the DHT, not directly connected)` : table
}

/**
 * Installs the daemon's `unhandledRejection` handler: a promise left to fail in the background (a write to a full
 * disk, a peer gone mid-call) is logged, at most 10 a minute, and the node keeps serving, instead of Node's default
 * of ending the process on the first one.
 * @param write where the lines go (stderr)
 */
export function logUnhandledRejections(write: (line: string) => void, now: () => number = Date.now): void {
  let windowStart = 0
  let inWindow = 0
  let suppressed = 0
  process.on('unhandledRejection', (reason: unknown) => {
    const t = now()
    if (t - windowStart >= 60_000) {
      if (suppressed > 0) write(`unhandled rejection: ${suppressed} more in the last minute not shown\n`)
      windowStart = t
      inWindow = 0
      suppressed = 0
    }
    if (++inWindow > 10) {
      suppressed++
      return
    }
    const text = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)
    write(`unhandled rejection (the node keeps running): ${text.slice(0, 4096)}\n`)
  })
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('run a Weft node')
  node
    .command('start')
    .description('start a node daemon (stops cleanly on SIGINT/SIGTERM)')
    .option('-c, --config <file>', 'YAML or JSON config file')
    .option('--data-dir <dir>', 'data directory (identity, state, API token); default ~/.weft')
    .option('--listen <multiaddr>', 'listen address, repeatable (default TCP and WebSockets on all interfaces)', collect, [])
    .option('--announce <multiaddr>', 'address to announce, repeatable', collect, [])
    .option('--bootstrap <multiaddr>', 'bootstrap peer /…/p2p/<id>, repeatable', collect, [])
    .option('--label <key=value>', 'label to advertise (site=…, tier=dc|edge), repeatable', collect, [])
    .option('--site <name>', 'the site this node is in (sets the label site=<name>)')
    .option(
      '--aggregator',
      "aggregate the site's clients for federated jobs (needs --site): to a coordinator this node is one client weighing its site's examples; it trains each task on the site's nodes and forwards one update",
    )
    .option('--mdns', 'discover peers on the local network with mDNS')
    .option('--edge', 'a node behind NAT: reachable through a relay it reserves a slot on (circuit relay v2), with hole punching (DCUtR) where it works')
    .option('--relay', 'relay connections for nodes behind NAT (a node with a public address)')
    .option('--low-memory', 'a node with little memory: train in the main thread, evaluate in small batches, keep one model')
    .option('--join', 'serve the /join page at the API address: a browser tab that opens it trains in this fabric (implies --relay)')
    .option('--api-host <host>', 'control API host (default 127.0.0.1; other hosts require the bearer token)')
    .option('--api-port <port>', 'control API port (default: any free port, recorded in <data-dir>/node.json)')
    .option('--no-dashboard', 'do not serve the web dashboard at the API address')
    .option('--psk-file <file>', 'private mesh: libp2p swarm.key (make one with `weft node gen-psk`)')
    .option('--allow <peer-id>', 'private mesh: admit only these peers, repeatable', collect, [])
    .option('--coordinator <peer-id>', "train for this coordinator's jobs when it invites ('*': any peer), repeatable; default none", collect, [])
    .option('--submitter <peer-id>', "let this peer submit jobs here over the mesh ('*': any peer), repeatable; default none", collect, [])
    .option('--jobs-from <peer-id|*|role>', "let this peer's jobs (or any member's: '*', or holders of a role) place work on this node, repeatable; default none", collect, [])
    .option('--authority <key>', 'the mesh authority\'s public key (ed25519:…, from `weft mesh init`): peers need its certificates')
    .option('--certificate <file>', "this node's certificate (`weft mesh admit`; default <data-dir>/member.cert)")
    .option('--ad-interval <ms>', 'resource ad period')
    .option('--ad-ttl <ms>', 'resource ad lifetime')
    .option('--no-probe', 'skip the runtime throughput probe at start')
    .addOption(
      new Option('--runtime <engine>', 'engine that trains: tfjs (WebAssembly), torch (PyTorch worker; falls back to tfjs when Python has no torch), auto').choices([
        'tfjs',
        'torch',
        'auto',
      ]),
    )
    .addOption(new Option('--torch-device <device>', 'device of the torch engine (auto: CUDA when available)').choices(['auto', 'cpu', 'cuda']))
    .option('--torch-threads <n>', 'intra-op threads per torch worker (default 1; 0: every core)')
    .option('--torch-python <path>', 'Python interpreter with torch and numpy (default: $WEFT_TORCH_PYTHON, python3, /usr/bin/python3)')
    .option('--workers <n>', 'engine workers that train in parallel (threads for tfjs, processes for torch; default 1)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (opts: StartOptions) => {
      const config = await buildConfig(opts)
      logUnhandledRejections((line) => process.stderr.write(line))
      const { startWeftNode } = await import('@weft/node')
      const weft = await startWeftNode(config)
      process.stderr.write(
        `weft node ${weft.peerId} started\n  api ${weft.apiUrl}\n` +
          (config.api.dashboard ? `  dashboard ${weft.apiUrl}/${weft.view().api.authRequired ? ' (log in with <data-dir>/api-token)' : ''}\n` : '') +
          `${weft.addrs.map((a) => `  listening ${a}`).join('\n')}\n`,
      )
      let stopping = false
      const stop = (signal: string) => {
        if (stopping) return
        stopping = true
        process.stderr.write(`${signal}: stopping\n`)
        weft.stop().then(
          () => {
            // No process.exit: the process ends when nothing is left open, which proves a clean shutdown.
            // A handle left dangling by a dependency is reported and cut after 5 s instead of hanging forever.
            setTimeout(() => {
              const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
              process.stderr.write(`shutdown left ${handles.length} handle(s) open; exiting anyway\n`)
              process.exit(2)
            }, 5_000).unref()
          },
          (err: unknown) => {
            process.stderr.write(`error while stopping: ${(err as Error).message}\n`)
            process.exit(1)
          },
        )
      }
      process.once('SIGINT', () => stop('SIGINT'))
      process.once('SIGTERM', () => stop('SIGTERM'))
    })
  node
    .command('id')
    .description("this node's peer id (its identity is created when the data directory has none yet): what `weft mesh admit` certifies")
    .option('--data-dir <dir>', 'data directory (default ~/.weft or $WEFT_HOME)')
    .action(async (opts: { dataDir?: string }) => {
      const { expandPath, nodePeerId } = await import('@weft/node')
      process.stdout.write(`${await nodePeerId(expandPath(opts.dataDir ?? defaultDataDir()))}\n`)
    })
  node
    .command('gen-psk')
    .description('create a pre-shared key (swarm.key) for a private mesh')
    .option('--out <file>', 'write it to this file (mode 0600) instead of stdout')
    .action(async (opts: { out?: string }) => {
      const { formatPsk, generatePsk } = await import('@weft/node')
      const text = formatPsk(generatePsk())
      if (opts.out === undefined) process.stdout.write(text)
      else writeFileSync(opts.out, text, { mode: 0o600 })
    })

  addApiOptions(program.command('status').description("this node: id, addresses, uptime, resources, connections")).action(
    async (opts: { dataDir?: string; api?: string; token?: string; json?: boolean }) => {
      const view = await clientFrom(opts).node()
      process.stdout.write(opts.json ? `${JSON.stringify(view, null, 2)}\n` : `${formatStatus(view)}\n`)
    },
  )
  addApiOptions(program.command('peers').description('every known peer and its advertised resources'))
    .option('--status <status>', "only 'alive' or 'gone' peers")
    .option('--lookup <peer-id>', 'look one peer up in the DHT instead')
    .action(async (opts: { dataDir?: string; api?: string; token?: string; json?: boolean; status?: string; lookup?: string }) => {
      const client = clientFrom(opts)
      if (opts.status !== undefined && opts.status !== 'alive' && opts.status !== 'gone') {
        throw new Error(`--status must be 'alive' or 'gone', got '${opts.status}'`)
      }
      const peers =
        opts.lookup !== undefined
          ? [await client.peer(opts.lookup, 'dht')]
          : await client.peers(opts.status as 'alive' | 'gone' | undefined)
      process.stdout.write(opts.json ? `${JSON.stringify(peers, null, 2)}\n` : `${formatPeers(peers)}\n`)
    })
}
