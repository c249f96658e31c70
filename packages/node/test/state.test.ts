// The node's state database: peer rows are written in batches (one transaction per burst of ads), yet every change
// is seen by the next read, in order, and is on disk after close.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openNodeState, type StoredPeer } from '../src/state.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const peer = (i: number, seq = 1n): StoredPeer => ({
  peerId: `peer-${String(i).padStart(5, '0')}`,
  signedAd: new Uint8Array([i & 0xff]),
  seq,
  expiresAt: 1_000 + i,
  lastSeen: 500 + i,
  status: 'alive',
  goneReason: null,
})

describe('node state: peer rows', () => {
  it('sees queued upserts, status changes and deletions at once, in order, and keeps them across close and reopen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-state-'))
    dirs.push(dir)
    const path = join(dir, 'state.db')
    let state = openNodeState(path)
    // A burst of 2,500 ads (over the 1,000-change batch), then changes to some of the same rows.
    for (let i = 0; i < 2_500; i++) state.upsertPeer(peer(i))
    state.upsertPeer(peer(7, 9n))
    state.setPeerStatus(peer(8).peerId, 'gone', 'expired')
    state.deletePeer(peer(9).peerId)
    const check = (rows: StoredPeer[]): void => {
      expect(rows).toHaveLength(2_499)
      expect(rows.find((r) => r.peerId === peer(7).peerId)?.seq).toBe(9n)
      expect(rows.find((r) => r.peerId === peer(8).peerId)).toMatchObject({ status: 'gone', goneReason: 'expired' })
      expect(rows.some((r) => r.peerId === peer(9).peerId)).toBe(false)
    }
    check(state.listPeers())
    state.upsertPeer(peer(9))
    state.deletePeer(peer(9).peerId)
    state.close()
    state = openNodeState(path)
    check(state.listPeers())
    state.close()
  })
})
