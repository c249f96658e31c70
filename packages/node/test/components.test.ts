// A node is components started in dependency order and stopped in reverse by one runner; its data directory is
// locked before anything else runs, so a second node on it is refused and resumes nothing.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ComponentRunner, DataDirError, lockDataDir, type NodeComponent, startOrder } from '@weft/node'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode } from './helpers.js'

afterAll(removeTestDirs)

const silent = { warn() {} }

function recorder() {
  const log: string[] = []
  const make = (name: string, dependsOn: string[] = [], fail?: 'start' | 'stop'): NodeComponent => ({
    name,
    dependsOn,
    async start() {
      await Promise.resolve()
      if (fail === 'start') throw new Error(`${name} cannot start`)
      log.push(`start ${name}`)
    },
    stop() {
      log.push(`stop ${name}`)
      if (fail === 'stop') throw new Error(`${name} cannot stop`)
    },
  })
  return { log, make }
}

describe('ComponentRunner', () => {
  it('starts dependencies first, keeps registration order otherwise, and stops in reverse', async () => {
    const { log, make } = recorder()
    const runner = new ComponentRunner([make('api', ['mesh', 'fl']), make('fl', ['mesh']), make('state'), make('mesh', ['state'])], silent)
    expect(runner.order).toEqual(['state', 'mesh', 'fl', 'api'])
    await runner.start()
    await runner.stop()
    expect(log).toEqual(['start state', 'start mesh', 'start fl', 'start api', 'stop api', 'stop fl', 'stop mesh', 'stop state'])
  })

  it('stops what had started, in reverse, when a component fails to start, and rethrows its error', async () => {
    const { log, make } = recorder()
    const runner = new ComponentRunner([make('a'), make('b', ['a']), make('c', ['b'], 'start'), make('d', ['c'])], silent)
    await expect(runner.start()).rejects.toThrow('c cannot start')
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a'])
  })

  it('stops the others when one fails to stop, and logs which one', async () => {
    const { log, make } = recorder()
    const warnings: unknown[] = []
    const runner = new ComponentRunner([make('a'), make('b', [], 'stop'), make('c')], { warn: (o: unknown) => warnings.push(o) })
    await runner.start()
    await runner.stop()
    expect(log.filter((l) => l.startsWith('stop'))).toEqual(['stop c', 'stop b', 'stop a'])
    expect(warnings).toEqual([expect.objectContaining({ component: 'b', err: 'b cannot stop' })])
  })

  it('refuses duplicate names, unknown dependencies and cycles, naming them', () => {
    const { make } = recorder()
    expect(() => startOrder([make('a'), make('a')])).toThrow(/two node components are named "a"/)
    expect(() => startOrder([make('a', ['ghost'])])).toThrow(/"a" depends on "ghost", which is not registered/)
    expect(() => startOrder([make('a', ['b']), make('b', ['a'])])).toThrow(/cycle: a -> b -> a/)
  })
})

describe('a node made of components', () => {
  it('runs an added role after its dependencies and stops it before them', async () => {
    const seen: string[] = []
    const node = await startTestNode(
      {},
      {
        extraComponents: [
          (ctx) => ({
            name: 'echo-role',
            dependsOn: ['mesh', 'peers'],
            start() {
              seen.push(`start with mesh ${ctx.get('mesh').peerId}`)
            },
            stop() {
              // The mesh is still up while the role stops: it can say goodbye to its peers.
              seen.push(`stop with ${ctx.get('mesh').addresses().length > 0 ? 'mesh up' : 'mesh down'}`)
            },
          }),
        ],
      },
    )
    expect(node.components.indexOf('echo-role')).toBeGreaterThan(node.components.indexOf('peers'))
    expect(node.components[0]).toBe('data-dir')
    expect(node.components.at(-1)).toBe('running-record')
    expect(node.components).toEqual(expect.arrayContaining(['ads', 'redial', 'datasets', 'telemetry', 'events', 'api', 'fl-coordinator', 'fl-client']))
    await node.stop()
    expect(seen).toEqual([`start with mesh ${node.peerId}`, 'stop with mesh up'])
  })

  it('refuses a second node on the same data directory, naming the running one, before it starts anything', async () => {
    const first = await startTestNode()
    const dir = first.config.dataDir
    const jobsBefore = readFileSync(join(dir, 'node.lock'), 'utf8')
    let probed = false
    const second = startTestNode(
      { dataDir: dir },
      {
        probeRuntimes: async () => {
          probed = true
          return []
        },
      },
    )
    await expect(second).rejects.toThrow(DataDirError)
    await expect(second).rejects.toThrow(new RegExp(`pid ${process.pid}, ${first.peerId}, API ${first.apiUrl.replace(/[.]/g, '\\.')}.*already running on`))
    expect(probed).toBe(false)
    // The running node keeps its lock and its record.
    expect(readFileSync(join(dir, 'node.lock'), 'utf8')).toBe(jobsBefore)
    expect(existsSync(join(dir, 'node.json'))).toBe(true)
    await first.stop()
    expect(existsSync(join(dir, 'node.lock'))).toBe(false)
    const again = await startTestNode({ dataDir: dir })
    expect(again.peerId).toBe(first.peerId)
    await again.stop()
  })

  it('takes over the lock of a process that is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-lock-'))
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
    writeFileSync(join(dir, 'node.lock'), JSON.stringify({ pid: Number(gone), startedAt: 0, token: 'old' }))
    const lock = lockDataDir(dir)
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid)
    expect(() => lockDataDir(dir)).toThrow(/already running on/)
    lock.release()
    expect(existsSync(lock.path)).toBe(false)
  })
})
