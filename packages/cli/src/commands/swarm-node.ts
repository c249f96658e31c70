// `weft swarm start|join|status|leave|list`: serverless training on running nodes, through their control API.
import { readFileSync } from 'node:fs'
import type { SwarmView } from '@weft/api-client'
import cliProgress from 'cli-progress'
import type { Command } from 'commander'
import { formatBytes, formatTable, shortId } from '../format.js'
import { type ApiOptions, addNodeOptions, apiClientFrom, nodeArgs } from './fl.js'
import { addPlacementOptions, type PlacementOptions, submitPlaced, wantsPlacement } from './placement-options.js'

/** A swarm spec file (YAML or JSON) as data; the node validates it and names what is wrong. */
async function readSpecFile(path: string): Promise<unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`cannot read swarm spec ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  const { parse } = await import('yaml')
  try {
    return parse(text)
  } catch (err) {
    throw new Error(`swarm spec ${path} is not valid YAML/JSON: ${((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')}`)
  }
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(2)}%`)
const num = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? '-' : v.toPrecision(digits))

/** A swarm's status as text: progress, members, the last steps. */
export function formatSwarmStatus(v: SwarmView): string {
  const last = v.history.at(-1)
  const lines = [
    `swarm ${v.id} (${v.name}): ${v.state}${v.error === undefined ? '' : ` (${v.error})`}`,
    `outer step ${v.step}/${v.totalSteps}, swarm samples ${v.swarmSamples}/${v.totalSamples} (${v.targetSamples} per step), engine ${v.engine}`,
    `this peer: loss ${num(last?.loss)}, accuracy ${pct(v.evaluation?.accuracy)}${v.evaluation?.final === true ? ' (final model)' : ''}, consensus distance ${num(last?.consensusDistance, 3)}, sent ${formatBytes(v.bytes.sent)}, received ${formatBytes(v.bytes.received)}, utilisation ${(v.utilisation.fraction * 100).toFixed(1)}% (${v.utilisation.trainSeconds.toFixed(1)} s training of ${v.utilisation.wallSeconds.toFixed(1)} s)`,
    '',
    formatTable(
      ['member', 'step', 'step samples', 'samples', 'loss', 'accuracy', 'consensus', 'seen'],
      v.members.map((m) => [shortId(m.peer), String(m.step), String(m.stepSamples), String(m.totalSamples), num(m.loss), pct(m.accuracy), num(m.consensusDistance, 3), `${(m.lastSeenMs / 1000).toFixed(1)} s ago`]),
    ),
  ]
  if (v.checkpoints.length > 0) lines.push('', `checkpoints (kept at ${String((v.spec['checkpoint'] as { replicas?: number } | undefined)?.replicas ?? '?')} holders): ${v.checkpoints.map((c) => `step ${c.step} ${c.cid}`).join(', ')}`)
  if (v.banned.length > 0) lines.push('', 'dropped members:', ...v.banned.map((b) => `  ${shortId(b.peer)}: ${b.reason}`))
  if (v.history.length > 0) {
    lines.push(
      '',
      formatTable(
        ['step', 'group', 'inner steps', 'loss', 'accuracy', 'consensus', 'failed parts', 'sent', 'train s', 'average s'],
        v.history.slice(-10).map((r) => [String(r.step), `${r.groupSize} (${r.contributors} came)`, String(r.innerSteps), num(r.loss), pct(r.accuracy), num(r.consensusDistance, 3), String(r.failedParts), formatBytes(r.bytesSent), r.trainSeconds.toFixed(2), r.averageSeconds.toFixed(2)]),
      ),
    )
  }
  return lines.join('\n')
}

/** Prints a progress bar until the swarm ends on this node. */
async function follow(opts: ApiOptions, id: string, json: boolean): Promise<SwarmView> {
  const api = apiClientFrom(opts)
  let view = await api.swarm(id)
  const bar = json ? undefined : new cliProgress.SingleBar({ format: 'outer step {value}/{total} | loss {loss} | accuracy {accuracy} | members {members}', stream: process.stderr }, cliProgress.Presets.shades_classic)
  bar?.start(view.totalSteps, view.step, { loss: '-', accuracy: '-', members: view.members.length + 1 })
  while (view.state === 'training') {
    await new Promise((r) => setTimeout(r, 1000))
    view = await api.swarm(id)
    const last = view.history.at(-1)
    bar?.update(view.step, { loss: num(last?.loss), accuracy: pct(view.evaluation?.accuracy), members: view.members.length + 1 })
  }
  bar?.stop()
  return view
}

/** Registers start, join, status, leave and list on the `swarm` command group. */
export function registerSwarmNodeCommands(swarm: Command): void {
  type Opts = ApiOptions & { json?: boolean; follow?: boolean }
  const done = async (opts: Opts, view: SwarmView): Promise<void> => {
    if (opts.follow === true) view = await follow(opts, view.id, opts.json === true)
    process.stdout.write(opts.json === true ? `${JSON.stringify(view, null, 2)}\n` : `${opts.follow === true ? formatSwarmStatus(view) : `swarm ${view.id}: ${view.state} (outer step ${view.step}/${view.totalSteps})`}\n`)
  }
  addPlacementOptions(
    addNodeOptions(swarm.command('start <spec>').description('train in the swarm of this spec (YAML or JSON): any node may start it, the same spec is the same swarm; with --place, a job places its peers on the mesh'))
      .option('--follow', 'then show progress until the swarm ends on this node')
      .option('--json', 'print JSON for scripts (with --place: the job view)'),
    { place: true, replicas: true },
  ).action(async (file: string, opts: Opts & PlacementOptions) => {
    const spec = await readSpecFile(file)
    if (!wantsPlacement(opts)) return done(opts, await apiClientFrom(opts).startSwarm(spec))
    if (opts.follow === true) throw new Error('--follow does not apply with --place: follow the job with weft job status <id>, and the swarm with weft swarm status on a node that holds a peer')
    await submitPlaced(apiClientFrom(opts), 'swarm', spec, opts, nodeArgs(opts))
    return undefined
  })
  addNodeOptions(swarm.command('join <id>').description('join a running swarm by id: fetch its spec and latest state from its members, then train'))
    .option('--follow', 'then show progress until the swarm ends on this node')
    .option('--json', 'print JSON for scripts')
    .action(async (id: string, opts: Opts) => done(opts, await apiClientFrom(opts).joinSwarm(id)))
  addNodeOptions(swarm.command('status <id>').description('members, progress, loss and accuracy, consensus distance, bytes and utilisation'))
    .option('--json', 'print the swarm view as JSON')
    .action(async (id: string, opts: Opts) => {
      const view = await apiClientFrom(opts).swarm(id)
      process.stdout.write(opts.json === true ? `${JSON.stringify(view, null, 2)}\n` : `${formatSwarmStatus(view)}\n`)
    })
  addNodeOptions(swarm.command('leave <id>').description('leave a swarm cleanly (the others drop this peer at once)')).action(async (id: string, opts: Opts) => {
    await apiClientFrom(opts).leaveSwarm(id)
    process.stdout.write(`left swarm ${id}\n`)
  })
  addNodeOptions(swarm.command('list').description('the swarms this node trains in'))
    .option('--json', 'print JSON')
    .action(async (opts: Opts) => {
      const list = await apiClientFrom(opts).swarms()
      if (opts.json === true) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
      else process.stdout.write(`${formatTable(['swarm', 'name', 'state', 'step', 'members'], list.map((v) => [v.id, v.name, v.state, `${v.step}/${v.totalSteps}`, String(v.members.length + 1)]))}\n`)
    })
}
