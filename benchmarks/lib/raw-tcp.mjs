// The raw-TCP floor the mesh benchmarks measure against, shared by all of them: a sink in a process of its own (as a
// peer node would be) that reads a 9-byte header (the length, 8 bytes big-endian, then flags), takes the bytes, does per
// MiB what the flags ask (sha256 of it, as a store verifies blocks; a crash-safe write of it, as a store keeps blocks)
// and answers one byte when it has all of them.
//   const sink = await startRawTcpSink()
//   const ms = await sendRawTcp(sink.port, bytes, { hash: true, disk: false })
//   sink.close()
import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const MIB = 2 ** 20
const HASH = 1
const DISK = 2

if (process.argv[2] === '--raw-tcp-sink') runSink(process.argv[3])

/** Forks the sink; `close()` ends it and removes its folder. */
export async function startRawTcpSink() {
  const dir = mkdtempSync(join(tmpdir(), 'weft-raw-tcp-sink-'))
  const child = fork(fileURLToPath(import.meta.url), ['--raw-tcp-sink', dir], { stdio: 'inherit' })
  const { port } = await new Promise((resolve) => child.once('message', resolve))
  return {
    port,
    close() {
      child.kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Sends `data` over one fresh connection to the sink; resolves with the milliseconds until the sink had all of it
 * (hashed, and written when `disk`).
 */
export async function sendRawTcp(port, data, { hash = true, disk = false } = {}) {
  const header = Buffer.alloc(9)
  header.writeBigUInt64BE(BigInt(data.length), 0)
  header[8] = (hash ? HASH : 0) | (disk ? DISK : 0)
  const t0 = performance.now()
  await new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', async () => {
      sock.write(header)
      for (let at = 0; at < data.length; at += 4 * MIB) {
        if (!sock.write(data.subarray(at, at + 4 * MIB))) await new Promise((r) => sock.once('drain', r))
      }
    })
    sock.on('data', () => {
      sock.destroy()
      resolve(undefined)
    })
    sock.on('error', reject)
  })
  return performance.now() - t0
}

function runSink(dir) {
  let seq = 0
  const server = net.createServer((sock) => {
    let total = -1
    let got = 0
    let flags = 0
    let header = Buffer.alloc(0)
    let pending = []
    let pendingBytes = 0
    const written = []
    const flush = (all) => {
      while (pendingBytes >= MIB || (all && pendingBytes > 0)) {
        const joined = pending.length === 1 ? pending[0] : Buffer.concat(pending)
        const n = Math.min(MIB, joined.length)
        const block = joined.subarray(0, n)
        if (flags & HASH) createHash('sha256').update(block).digest()
        if (flags & DISK) {
          const tmp = join(dir, `t${seq}`)
          const fd = openSync(tmp, 'w')
          writeSync(fd, block)
          fsyncSync(fd)
          closeSync(fd)
          const name = join(dir, `b${seq++}`)
          renameSync(tmp, name)
          written.push(name)
          const dfd = openSync(dir, 'r')
          fsyncSync(dfd)
          closeSync(dfd)
        }
        pending = n < joined.length ? [joined.subarray(n)] : []
        pendingBytes = joined.length - n
      }
    }
    sock.on('data', (b) => {
      if (total < 0) {
        header = Buffer.concat([header, b])
        if (header.length < 9) return
        total = Number(header.readBigUInt64BE(0))
        flags = header[8]
        b = header.subarray(9)
      }
      got += b.length
      if (flags !== 0) {
        pending.push(b)
        pendingBytes += b.length
        flush(false)
      }
      if (got >= total) {
        flush(true)
        sock.end('k')
        // The next run starts on an empty folder, as a store's does after gc.
        for (const name of written) rmSync(name, { force: true })
      }
    })
  })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('disconnect', () => process.exit(0))
}
