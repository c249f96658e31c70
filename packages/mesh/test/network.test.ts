// Three real nodes: typed pubsub delivery and bad-message dropping, private network (PSK + allow-list), DHT records, connection info.

import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generatePsk, InvalidPskError, parsePsk } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { psk, type Recorder, startNode, until } from './helpers.js'

let a: MeshNode & { recorder: Recorder }
let b: MeshNode & { recorder: Recorder }
let c: MeshNode & { recorder: Recorder }
const extra: MeshNode[] = []

const ns = {
  validate: (_key: Uint8Array, value: Uint8Array) => {
    if (value.byteLength === 0 || value[0] !== 0x77) {
      throw new Error('records start with 0x77')
    }
  },
  select: (_key: Uint8Array, records: Uint8Array[]) => records.reduce((best, r, i) => ((r[1] ?? 0) > ((records[best] as Uint8Array)[1] ?? 0) ? i : best), 0),
}

beforeAll(async () => {
  const keys = await Promise.all([0, 1, 2].map(() => generateKeyPair('Ed25519')))
  const allowList = await Promise.all(keys.map(async (k) => (await import('@libp2p/peer-id')).peerIdFromPrivateKey(k).toString()))
  // Line topology a - b - c, kept by the allow-lists (a and c never let each other in, however the DHT introduces
  // them): a's messages reach c only through b.
  const [ida, idb, idc] = allowList as [string, string, string]
  const lists = [[ida, idb], allowList, [idb, idc]]
  const nodes = await Promise.all(keys.map((privateKey, i) => startNode({ privateKey, allowList: lists[i] as string[], dht: { namespaces: { weft: ns } } })))
  ;[a, b, c] = nodes as [typeof a, typeof b, typeof c]
  await a.dial((b as MeshNode).addresses()[0] as string)
  await c.dial((b as MeshNode).addresses()[0] as string)
})

afterAll(async () => {
  await Promise.all([a, b, c, ...extra].map((n) => n?.stop()))
})

describe('pubsub', () => {
  it('delivers typed messages across three nodes and drops undecodable ones', async () => {
    const topics = [a, b, c].map((n) => n.pubsub.topic('weft/test/1', StringValueSchema))
    const got: Record<string, string[]> = { b: [], c: [] }
    topics[1]?.subscribe((m, from) => got.b?.push(`${m.value}@${from === a.peerId ? 'a' : from}`))
    topics[2]?.subscribe((m) => got.c?.push(m.value))
    topics[0]?.subscribe(() => {})
    await until(() => (topics[0]?.subscribers().length ?? 0) >= 1 && (topics[1]?.subscribers().length ?? 0) >= 2)
    // Gossipsub forms its mesh on heartbeats; republish until c (two hops away) has it.
    let i = 0
    await until(() => {
      if (i++ % 8 === 0) {
        void topics[0]?.publish({ value: `hello ${i}` })
      }
      return (got.c?.length ?? 0) > 0
    }, 15_000)
    expect(got.b?.[0]).toMatch(/^hello \d+@a$/)
    expect(got.c?.[0]).toMatch(/^hello \d+$/)
    const droppedBefore = topics[1]?.dropped ?? 0
    await a.libp2p.services.pubsub.publish('weft/test/1', new Uint8Array([0xff, 0xff, 0xff]))
    await until(() => (topics[1]?.dropped ?? 0) > droppedBefore)
    expect(b.recorder.bad.some((r) => r.startsWith('weft/test/1: not a google.protobuf.StringValue'))).toBe(true)
  })
})

describe('pubsub validation (issue 15, finding 7)', () => {
  it('a message the topic validator refuses is neither delivered nor relayed: c, behind b, never gets it', async () => {
    const seen: string[] = []
    const topics = [
      a.pubsub.topic('weft/test/2', StringValueSchema),
      b.pubsub.topic('weft/test/2', StringValueSchema, {
        validate: (m, from) => {
          seen.push(`${m.value}@${from === a.peerId ? 'a' : from}`)
          return m.value.startsWith('forged') ? { ok: false, reason: 'forged', penalize: true } : { ok: true }
        },
      }),
      c.pubsub.topic('weft/test/2', StringValueSchema),
    ]
    const got: Record<string, string[]> = { b: [], c: [] }
    topics[0]?.subscribe(() => {})
    topics[1]?.subscribe((m) => got.b?.push(m.value))
    topics[2]?.subscribe((m) => got.c?.push(m.value))
    await until(() => (topics[0]?.subscribers().length ?? 0) >= 1 && (topics[1]?.subscribers().length ?? 0) >= 2)
    let i = 0
    await until(() => {
      if (i++ % 8 === 0) {
        void topics[0]?.publish({ value: `forged ${i}` })
        void topics[0]?.publish({ value: `genuine ${i}` })
      }
      return (got.c?.length ?? 0) > 0 && seen.some((s) => s.startsWith('forged'))
    }, 15_000)
    expect(seen.find((s) => s.startsWith('forged'))).toMatch(/^forged \d+@a$/)
    expect(got.c?.every((v) => v.startsWith('genuine'))).toBe(true)
    expect(got.b?.every((v) => v.startsWith('genuine'))).toBe(true)
    expect(b.recorder.bad.some((r) => r.startsWith('weft/test/2: forged'))).toBe(true)
  })
})

describe('private network', () => {
  it('refuses outsiders without the PSK and PSK holders not on the allow-list', async () => {
    const noKey = await startNode({ psk: generatePsk() })
    const notListed = await startNode({ psk })
    extra.push(noKey, notListed)
    await expect(noKey.dial(b.addresses()[0] as string, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    // Dialling "succeeds" on the outsider's side (multistream-select is optimistic) but b drops the connection at once:
    // nothing can be opened over it.
    await notListed.dial(b.addresses()[0] as string, { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    await until(() => notListed.connections().length === 0)
    await expect(notListed.ping(b.peerId, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    expect(b.connections().map((x) => x.peer)).not.toContain(noKey.peerId)
    expect(b.connections().map((x) => x.peer)).not.toContain(notListed.peerId)
    // And the allowed side never dials out to them either.
    await expect(b.dial(notListed.addresses()[0] as string, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow()
    expect(b.isAllowed(a.peerId)).toBe(true)
    expect(b.isAllowed(notListed.peerId)).toBe(false)
  })

  it('runs the private network over WebSockets too (the listener speaks second)', async () => {
    const wsA = await startNode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    const wsB = await startNode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    extra.push(wsA, wsB)
    const addr = wsB.addresses()[0] as string
    expect(addr).toMatch(/\/ws\/p2p\//)
    await wsA.dial(addr, { signal: AbortSignal.timeout(5_000) })
    expect(await wsA.ping(wsB.peerId, { signal: AbortSignal.timeout(5_000) })).toBeGreaterThanOrEqual(0)
    expect(wsB.connections()[0]?.remoteAddr).toMatch(/\/ws/)
  })

  it('parses and rejects swarm.key files', async () => {
    const text = new TextDecoder().decode(generatePsk())
    expect(new TextDecoder().decode(parsePsk(`${text}\n`))).toBe(text)
    expect(() => parsePsk('/key/swarm/psk/1.0.0/\n/base16/\nabc')).toThrow(InvalidPskError)
    await expect(createMeshNode({ privateKey: undefined as never, psk: 'nope' })).rejects.toThrow(InvalidPskError)
  })
})

describe('node', () => {
  it('lists connections and pings', async () => {
    const conn = b.connections().find((x) => x.peer === a.peerId)
    expect(conn).toMatchObject({ direction: 'inbound' })
    expect(conn?.remoteAddr).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    expect(conn?.openedAt).toBeLessThanOrEqual(Date.now())
    expect(await a.ping(b.peerId)).toBeGreaterThanOrEqual(0)
  })

  it('puts and gets namespaced DHT records, rejecting invalid ones', async () => {
    await until(() => a.libp2p.services.dht.getMode() === 'server' && b.connections().length >= 2)
    await a.dht.put('weft', 'job/1', new Uint8Array([0x77, 1]))
    expect([...((await c.dht.get('weft', 'job/1')) ?? [])]).toEqual([0x77, 1])
    await expect(a.dht.put('weft', 'job/2', new Uint8Array([1]))).rejects.toThrow(/records start with 0x77/)
    expect(await c.dht.get('weft', 'nothing-here', { signal: AbortSignal.timeout(5_000) })).toBeUndefined()
  })
})
