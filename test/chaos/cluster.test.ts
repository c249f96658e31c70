// The chaos cluster's clean-up: a cluster left standing (its scenario's test timed out while the run went on) is
// destroyed by destroyAllClusters, namespaces, bridge and tmpfs with it.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { requirement } from '../requirements.js'
import { destroyAllClusters, makeCluster } from './cluster.js'
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
})
