// `weft mesh init | admit | revoke` as a user runs them: the authority's key kept private, certificates that verify
// against the printed public key, and a revocation signed while no node ran, posted later to a node started with the
// authority (issue 15, deliverable 1).
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { startLocalNode } from '@weft/cli'
import { parseAuthorityKey, verifyCertificate } from '@weft/mesh'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
const weft = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 * 1024 * 1024 })
const dir = mkdtempSync(join(tmpdir(), 'weft-cli-mesh-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('issue 15, deliverable 1: weft mesh', { timeout: 120_000 }, () => {
  const authorityDir = join(dir, 'authority')
  const nodeDir = join(dir, 'node')

  it('init makes a private authority key, prints its public key, and never overwrites it', async () => {
    const { stdout } = await weft('mesh', 'init', '--dir', authorityDir, '--json')
    const { publicKey } = JSON.parse(stdout) as { publicKey: string }
    expect(parseAuthorityKey(publicKey)).toHaveLength(32)
    expect(statSync(join(authorityDir, 'authority.key')).mode & 0o777).toBe(0o600)
    expect(statSync(authorityDir).mode & 0o777).toBe(0o700)
    expect(readFileSync(join(authorityDir, 'authority.pub'), 'utf8').trim()).toBe(publicKey)
    await expect(weft('mesh', 'init', '--dir', authorityDir)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/exists already/) })
  })

  it('admit certifies a node, by the peer id `weft node id` prints, with its roles until it expires', async () => {
    const peerId = (await weft('node', 'id', '--data-dir', nodeDir)).stdout.trim()
    expect(peerId).toMatch(/^12D3KooW/)
    const out = join(nodeDir, 'member.cert')
    const { stdout } = await weft('mesh', 'admit', peerId, '--roles', 'client,coordinator', '--expires', '2d', '--dir', authorityDir, '--out', out, '--json')
    const summary = JSON.parse(stdout) as { roles: string[]; expiresAt: number; issuedAt: number; serial: string }
    expect(summary.roles).toEqual(['client', 'coordinator'])
    expect(summary.expiresAt - summary.issuedAt).toBe(2 * 86_400_000)
    const publicKey = parseAuthorityKey(readFileSync(join(authorityDir, 'authority.pub'), 'utf8').trim())
    const verdict = verifyCertificate(new Uint8Array(readFileSync(out)), publicKey, Date.now(), peerId)
    expect(verdict).toMatchObject({ ok: true, certificate: { peerId, roles: ['client', 'coordinator'], serial: summary.serial } })
    await expect(weft('mesh', 'admit', peerId, '--roles', 'root', '--dir', authorityDir)).rejects.toMatchObject({ stderr: expect.stringMatching(/unknown role 'root'/) })
    await expect(weft('mesh', 'admit', peerId, '--roles', 'client', '--expires', 'soon', '--dir', authorityDir)).rejects.toMatchObject({
      stderr: expect.stringMatching(/--expires expects a number and a unit/),
    })
  })

  it('revoke keeps a revocation in a file while no node runs; a node started with the authority takes it later', async () => {
    const target = '00112233445566778899aabbccddeeff'
    const { stdout } = await weft('mesh', 'revoke', target, '--reason', 'lost', '--dir', authorityDir, '--data-dir', join(dir, 'no-node'), '--json')
    const kept = JSON.parse(stdout) as { posted: false; file: string }
    expect(kept.posted).toBe(false)
    expect(readdirSync(join(authorityDir, 'revocations'))).toHaveLength(1)
    const publicKey = readFileSync(join(authorityDir, 'authority.pub'), 'utf8').trim()
    const node = await startLocalNode({ dataDir: nodeDir, args: ['--authority', publicKey, '--no-probe', '--log-level', 'warn'], startTimeoutMs: 60_000 })
    try {
      const before = await node.api.membership()
      expect(before).toMatchObject({ mode: 'authority', authority: publicKey, certificate: { roles: ['client', 'coordinator'] }, revocations: [] })
      const posted = JSON.parse((await weft('mesh', 'revoke', '--from-file', kept.file, '--data-dir', nodeDir, '--json')).stdout)
      expect(posted).toMatchObject({ accepted: true, isNew: true, revocation: { target: { serial: target }, reason: 'lost' } })
      expect((await node.api.membership()).revocations).toEqual([{ target: { serial: target }, revokedAt: expect.any(Number), reason: 'lost' }])
    } finally {
      await node.stop()
    }
  })
})
