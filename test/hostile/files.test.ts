// Files a node keeps are private (issue 15, "files and crashes"): another user of the machine must not read the
// identity, the job databases or the raw client updates and models the FL store keeps in the block store
// (store/blocks/).
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode } from '../../packages/node/test/helpers.js'

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

describe('issue 15: a node’s files are private', () => {
  it('closes a readable data directory (0700) and keeps its databases, lock and blocks at 0600', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'weft-files-')), 'data')
    mkdirSync(dir, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const node = await startTestNode({ dataDir: dir })
    try {
      const job = node.fl.submit({ model: { architecture: 'logreg', inputShape: [4], numClasses: 2 }, dataset: 'd', rounds: 1, clients: { min: 50 } })
      expect(mode(dir)).toBe('700')
      for (const file of ['identity.key', 'node.json', 'node.lock', 'state.db', 'fl.db']) expect([file, mode(join(dir, file))]).toEqual([file, '600'])
      for (const file of readdirSync(dir).filter((f) => f.endsWith('-wal') || f.endsWith('-shm'))) expect([file, mode(join(dir, file))]).toEqual([file, '600'])
      // The job's initial model is in the block store (held by the FL store, never announced).
      expect(mode(join(dir, 'store'))).toBe('700')
      expect(mode(join(dir, 'store', 'store.db'))).toBe('600')
      const blocks = join(dir, 'store', 'blocks')
      expect(mode(blocks)).toBe('700')
      const folders = readdirSync(blocks)
      expect(folders.length).toBeGreaterThan(0)
      for (const folder of folders) {
        expect(mode(join(blocks, folder))).toBe('700')
        for (const block of readdirSync(join(blocks, folder))) expect(mode(join(blocks, folder, block))).toBe('600')
      }
      node.fl.cancel(job.id)
    } finally {
      await node.stop()
      removeTestDirs()
    }
  })
})
