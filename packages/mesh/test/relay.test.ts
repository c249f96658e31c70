// A node behind NAT, played by a node with no listening socket of its own: it reserves a slot on a relay and is reached
// through it (circuit relay v2), and Weft's RPC and tensor traffic run over the relayed connection.
import { StringValueSchema } from '@bufbuild/protobuf/wkt'
import { rpcMethod } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import { afterAll, describe, expect, it } from 'vitest'
import { startNode, until } from './helpers.js'

const echo = rpcMethod('test', 'echo', StringValueSchema, StringValueSchema)

describe('an edge node behind a relay', () => {
  const nodes: MeshNode[] = []
  afterAll(async () => {
    for (const n of nodes.reverse()) await n.stop()
  })

  it('reserves a slot on a relay, is dialled through it, and answers RPC over the relayed connection', async () => {
    const relay = await startNode({ relay: { serve: true } })
    nodes.push(relay)
    // No listen address: nobody can dial it directly, as behind a NAT that drops inbound connections.
    const edge = await startNode({ listen: [], edge: true, bootstrap: [relay.addresses()[0] as string] })
    nodes.push(edge)
    await edge.rpc.handle(echo, (request) => ({ value: `edge got ${request.value}` }))
    await until(() => edge.addresses().some((a) => a.includes('/p2p-circuit/')), 15_000)
    const relayed = edge.addresses().find((a) => a.includes('/p2p-circuit/')) as string
    expect(relayed).toContain(`/p2p/${relay.peerId}/p2p-circuit/p2p/${edge.peerId}`)
    expect(edge.addresses().every((a) => a.includes('/p2p-circuit/'))).toBe(true)

    const client = await startNode()
    nodes.push(client)
    await client.dial(relayed)
    const answer = await client.rpc.call(edge.peerId, echo, { value: 'hello' }, { timeoutMs: 10_000 })
    expect(answer.value).toBe('edge got hello')
    const viaRelay = client.connections().find((c) => c.peer === edge.peerId)
    expect(viaRelay?.remoteAddr).toContain('/p2p-circuit')
    // More than a default-limited relay would carry (128 KiB): Weft's traffic is not cut off.
    const big = 'x'.repeat(600 * 1024)
    for (let i = 0; i < 2; i++) expect((await client.rpc.call(edge.peerId, echo, { value: big }, { timeoutMs: 20_000 })).value.length).toBe(big.length + 9)
  }, 60_000)
})
