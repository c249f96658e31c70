// The node's SQLite + block-file JobStore keeps the JobStore laws, and the durability ones across a reopen.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobStore } from '@weft/fl'
import { openFlStore } from '@weft/node'
import { afterAll } from 'vitest'
import { jobStoreLaws } from '../../fl/test/job-store-compliance.js'

const dirs: string[] = []
const stores = new Map<JobStore, { dir: string; close(): void }>()
afterAll(() => {
  for (const s of stores.values()) s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function open(dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))): JobStore {
  dirs.push(dir)
  const store = openFlStore(dir)
  stores.set(store, { dir, close: () => store.close() })
  return store
}

jobStoreLaws('SQLite (openFlStore)', {
  open: () => open(),
  reopen(store) {
    const s = stores.get(store)
    if (s === undefined) throw new Error('not a store of this test')
    s.close()
    stores.delete(store)
    return open(s.dir)
  },
})
