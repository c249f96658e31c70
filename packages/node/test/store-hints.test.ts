// The hint book a node keeps from gossip hints (issue 16): bounded in roots, peers per root and roots per peer, expiring.
import { describe, expect, it } from 'vitest'
import { createHintBook } from '../src/store-hints.js'

describe('createHintBook', () => {
  it('keeps the peers that hinted a root, most recent first, and forgets them after the TTL', () => {
    let t = 0
    const book = createHintBook({ ttlMs: 1000, now: () => t })
    book.add('r', 'p1')
    t = 500
    book.add('r', 'p2')
    expect(book.peers('r')).toEqual(['p2', 'p1'])
    t = 1200
    expect(book.peers('r')).toEqual(['p2'])
    t = 1600
    expect(book.peers('r')).toEqual([])
    expect(book.roots).toBe(0)
  })

  it('bounds the roots (oldest hinted first out) and the peers per root', () => {
    const book = createHintBook({ maxRoots: 3, maxPeersPerRoot: 2, maxRootsPerPeer: 100 })
    for (const r of ['a', 'b', 'c', 'd']) book.add(r, 'p')
    expect(book.roots).toBe(3)
    expect(book.peers('a')).toEqual([])
    expect(book.peers('d')).toEqual(['p'])
    for (const p of ['x', 'y', 'z']) book.add('d', p)
    expect(book.peers('d')).toEqual(['z', 'y'])
  })

  it('lets a peer flooding hints push out only its own: an honest hint stays', () => {
    const book = createHintBook({ maxRoots: 1000, maxRootsPerPeer: 64 })
    book.add('honest-root', 'honest')
    for (let i = 0; i < 5000; i++) book.add(`flood-${i}`, 'attacker')
    expect(book.roots).toBe(65)
    expect(book.peers('honest-root')).toEqual(['honest'])
    expect(book.peers('flood-4999')).toEqual(['attacker'])
    expect(book.peers('flood-0')).toEqual([])
  })

  it('refuses bounds that are not positive safe integers, naming them', () => {
    expect(() => createHintBook({ maxRoots: 0 })).toThrow(/maxRoots/)
    expect(() => createHintBook({ ttlMs: Number.NaN })).toThrow(/ttlMs/)
  })
})
