// The chaos cluster's clean-up (a cluster left standing, its scenario's test timed out while the run went on, is
// destroyed by destroyAllClusters, namespaces, bridge and tmpfs with it), and its relays: a proxied cluster's mesh
// connections go through the harness, which holds every chunk for a lagging node's delay, bytes and order intact.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { requirement } from '../requirements.js'
import { type ClusterNode, destroyAllClusters, makeCluster } from './cluster.js'
import { History } from './history.js'

const netns = await requirement('netns', 'chaos cluster clean-up')
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' })

describe.skipIf(!netns.available)(`chaos cluster clean-up${netns.note}`, () => {
  it('destroyAllClusters removes what a cluster left standing: namespaces, bridge, mounts', { timeout: 60_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'weft-chaos-cluster-'))
    const tag = `t${(process.pid % 1296).toString(36).padStart(2, '0')}`
    try {
      makeCluster(root, tag, [{ name: 'a', args: [], diskMiB: 16 }, { name: 'b', args: [] }], new History())
      expect(ip('netns', 'list')).toContain(`wc${tag}0`)
      expect(ip('link', 'show', `wcb${tag}`)).toContain(`wcb${tag}`)
      expect(readFileSync('/proc/mounts', 'utf8')).toContain(join(root, 'a'))

      expect(await destroyAllClusters()).toBe(1)
      expect(ip('netns', 'list')).not.toMatch(new RegExp(`wc${tag}[01]\\b`))
      expect(() => ip('link', 'show', `wcb${tag}`)).toThrow()
      expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(join(root, 'a'))
      // Nothing left: a second call finds no cluster.
      expect(await destroyAllClusters()).toBe(0)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('a lagging node: its connections go through the relay, every byte comes back in order, each way held for its delay', { timeout: 60_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'weft-chaos-relay-'))
    const tag = `r${(process.pid % 1296).toString(36).padStart(2, '0')}`
    const cluster = makeCluster(root, tag, [{ name: 'a', args: [] }, { name: 'b', args: [] }], new History(), { proxied: true })
    const [a, b] = [cluster.nodes.get('a'), cluster.nodes.get('b')] as [ClusterNode, ClusterNode]
    // b's mesh port: an echo server that first says where the connection came from.
    const echo = spawn('ip', ['netns', 'exec', b.ns, process.execPath, '-e', `require('net').createServer((s) => { s.write(s.remoteAddress + '\\n'); s.pipe(s) }).listen(4100, '${b.ip}', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      await new Promise((r) => echo.stdout.once('data', r))
      // a sends 64 messages of 16 KiB (seeded bytes) to b's mesh address and times the first echo.
      // Asynchronously: the relay runs in this process.
      const probe = async () =>
        JSON.parse(
          (
            await promisify(execFile)(
            'ip',
            ['netns', 'exec', a.ns, process.execPath, '-e', `
              const net = require('net'); const crypto = require('crypto')
              const out = Buffer.alloc(64 * 16384); for (let i = 0; i < out.length; i++) out[i] = (i * 7919) & 255
              const s = net.connect(4100, '${b.ip}'); let buf = Buffer.alloc(0); let from; let t0; let first
              s.on('connect', () => { t0 = Date.now(); for (let k = 0; k < 64; k++) s.write(out.subarray(k * 16384, (k + 1) * 16384)) })
              s.on('data', (d) => { buf = Buffer.concat([buf, d]); const nl = buf.indexOf(10); if (from === undefined && nl >= 0) { from = buf.subarray(0, nl).toString(); buf = buf.subarray(nl + 1) }
                if (first === undefined && buf.length > 0) first = Date.now() - t0
                if (buf.length >= out.length) { console.log(JSON.stringify({ from, firstMs: first, same: buf.equals(out) })); s.destroy() } })
            `],
              { encoding: 'utf8', timeout: 30_000 },
            )
          ).stdout,
        ) as { from: string; firstMs: number; same: boolean }
      const plain = await probe()
      expect(plain).toMatchObject({ from: `${b.ip.replace(/\.\d+$/, '')}.254`, same: true })
      cluster.lag('b', 300, 50)
      const lagged = await probe()
      expect(lagged.same).toBe(true)
      // Out and back, each way held at least 300 ms.
      expect(lagged.firstMs).toBeGreaterThanOrEqual(600)
      cluster.lag('b', 0)
      expect((await probe()).same).toBe(true)
    } finally {
      echo.kill()
      await cluster.destroy()
      rmSync(root, { recursive: true, force: true })
    }
  })
})
