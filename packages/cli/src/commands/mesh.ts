// `weft mesh init | admit | revoke`: a mesh authority's key, the certificates it issues to nodes (their roles, until
// an expiry) and the revocations it signs, posted to a running node that gossips them.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { addApiOptions, clientFrom } from './node.js'

/** Where the authority's key lives unless `--dir` says otherwise (never inside a node's data directory). */
export function defaultAuthorityDir(): string {
  return join(homedir(), '.weft-authority')
}

const KEY_FILE = 'authority.key'
const PUBLIC_FILE = 'authority.pub'
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{32,128}$|^b[a-z2-7]{32,128}$/
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** `30d`, `12h`, `90m`, `45s`, `2w` in ms. @throws Error naming the flag */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim())
  if (m === null) throw new Error(`--expires expects a number and a unit (s, m, h, d, w), e.g. 30d; got '${text}'`)
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number)
  if (ms <= 0) throw new Error('--expires must be positive')
  return ms
}

function readKey(dir: string): Uint8Array {
  const path = join(dir, KEY_FILE)
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new Error(`cannot read the authority key ${path} (make one with \`weft mesh init --dir ${dir}\`): ${(err as Error).message}`)
  }
  if (bytes.length !== 32) throw new Error(`${path} is not an authority key (32 bytes expected, found ${bytes.length})`)
  return new Uint8Array(bytes)
}

interface DirOptions {
  dir?: string
  json?: boolean
}

export function registerMeshCommands(program: Command): void {
  const mesh = program.command('mesh').description("a mesh's authority: its key, the certificates of its members, revocations")

  mesh
    .command('init')
    .description('make an authority key (authority.key, mode 0600) and print its public key, which every node is given')
    .option('--dir <dir>', 'where the key goes (default ~/.weft-authority)')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: DirOptions) => {
      const { authorityPublicKey, formatAuthorityKey, generateAuthorityKey } = await import('@weft/mesh')
      const dir = resolve(opts.dir ?? defaultAuthorityDir())
      const keyPath = join(dir, KEY_FILE)
      if (existsSync(keyPath)) throw new Error(`${keyPath} exists already; an authority key is never overwritten`)
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      chmodSync(dir, 0o700)
      const key = generateAuthorityKey()
      writeFileSync(keyPath, key, { mode: 0o600, flag: 'wx' })
      const publicKey = formatAuthorityKey(authorityPublicKey(key))
      writeFileSync(join(dir, PUBLIC_FILE), `${publicKey}\n`, { mode: 0o644 })
      if (opts.json) process.stdout.write(`${JSON.stringify({ publicKey, dir })}\n`)
      else process.stdout.write(`${publicKey}\nthe key is in ${keyPath}; start nodes with --authority ${publicKey}\n`)
    })

  mesh
    .command('admit <peerId>')
    .description("issue a certificate: the node <peerId> holds these roles until it expires")
    .requiredOption('--roles <roles>', 'comma-separated: client, coordinator, submitter, admin')
    .option('--expires <duration>', 'lifetime, e.g. 30d, 12h (default 30d)', '30d')
    .option('--dir <dir>', 'the authority directory (default ~/.weft-authority)')
    .option('--out <file>', "write the certificate here (default <dir>/certs/<peerId>.cert); give it to the node as <data-dir>/member.cert or --certificate")
    .option('--json', 'print JSON for scripts')
    .action(async (peerId: string, opts: DirOptions & { roles: string; expires: string; out?: string }) => {
      if (!PEER_ID.test(peerId)) throw new Error(`'${peerId}' is not a peer id (the node prints its id at start; \`weft status\`)`)
      const { issueCertificate, ROLES, verifyCertificate, authorityPublicKey } = await import('@weft/mesh')
      const roles = opts.roles.split(',').map((r) => r.trim()).filter((r) => r.length > 0)
      for (const role of roles) if (!(ROLES as readonly string[]).includes(role)) throw new Error(`--roles: unknown role '${role}'; expected ${ROLES.join(', ')}`)
      if (roles.length === 0) throw new Error(`--roles must name at least one of ${ROLES.join(', ')}`)
      const dir = resolve(opts.dir ?? defaultAuthorityDir())
      const key = readKey(dir)
      const now = Date.now()
      const signed = issueCertificate({ authorityKey: key, peerId, roles: roles as (typeof ROLES)[number][], issuedAtMs: now, expiresAtMs: now + parseDuration(opts.expires) })
      const verdict = verifyCertificate(signed, authorityPublicKey(key), now, peerId)
      if (!verdict.ok) throw new Error(`internal: the new certificate does not verify (${verdict.reason})`)
      const out = resolve(opts.out ?? join(dir, 'certs', `${peerId}.cert`))
      mkdirSync(resolve(out, '..'), { recursive: true })
      writeFileSync(out, signed, { mode: 0o644 })
      const c = verdict.certificate
      const summary = { peerId, roles: [...c.roles], serial: c.serial, issuedAt: c.issuedAtMs, expiresAt: c.expiresAtMs, file: out }
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
      else process.stdout.write(`certificate ${c.serial} for ${peerId}: ${c.roles.join(', ')} until ${new Date(c.expiresAtMs).toISOString()}\nwritten to ${out}\n`)
    })

  addApiOptions(
    mesh
      .command('revoke [target]')
      .description('revoke a peer (its certificates issued until now) or one certificate by its serial; the running node keeps and gossips it'),
  )
    .option('--reason <text>', 'why, for people (at most 256 characters)', '')
    .option('--dir <dir>', 'the authority directory (default ~/.weft-authority)')
    .option('--out <file>', 'also write the signed revocation to this file')
    .option('--from-file <file>', 'post a revocation signed before (by `--out`, or when no node was running) instead of signing one')
    .action(async (target: string | undefined, opts: DirOptions & { reason: string; out?: string; fromFile?: string; dataDir?: string; api?: string; token?: string }) => {
      let signed: Uint8Array
      let written: string | undefined
      const dir = resolve(opts.dir ?? defaultAuthorityDir())
      if (opts.fromFile !== undefined) {
        if (target !== undefined) throw new Error('give either a target or --from-file, not both')
        signed = new Uint8Array(readFileSync(opts.fromFile))
      } else {
        if (target === undefined) throw new Error('name the peer id or certificate serial to revoke')
        const { signRevocation } = await import('@weft/mesh')
        const revokedAtMs = Date.now()
        signed = signRevocation({ authorityKey: readKey(dir), target: PEER_ID.test(target) ? { peerId: target } : { serial: target }, revokedAtMs, reason: opts.reason })
        written = resolve(opts.out ?? join(dir, 'revocations', `${revokedAtMs}.rev`))
        mkdirSync(resolve(written, '..'), { recursive: true })
        writeFileSync(written, signed, { mode: 0o644 })
      }
      const { NodeNotRunningError } = await import('@weft/api-client')
      try {
        const posted = await clientFrom(opts).postRevocation(signed)
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...posted, ...(written === undefined ? {} : { file: written }) })}\n`)
        else process.stdout.write(`revoked ${JSON.stringify(posted.revocation.target)}${posted.isNew ? '' : ' (the node held it already; gossiped again)'}\n`)
      } catch (err) {
        if (!(err instanceof NodeNotRunningError) || written === undefined) throw err
        if (opts.json) process.stdout.write(`${JSON.stringify({ posted: false, file: written })}\n`)
        else process.stdout.write(`no node is running here: the revocation is in ${written}; post it with \`weft mesh revoke --from-file ${written}\`\n`)
      }
    })
}
