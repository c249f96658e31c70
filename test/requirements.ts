// What tests need from outside the repository (Fashion-MNIST, Debian's chromium, Python with torch, a Slurm cluster,
// root with network namespaces, libfaketime), checked up front.
// Outside CI a test group whose requirement is missing is skipped, with the reason and how to enable it recorded for
// the closing summary of `npm test` (scripts/run-tests.mjs); under CI (CI=true) a missing requirement fails the run.
import { execFile } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The external things a test group may need. */
export type RequirementName = 'fashion-mnist' | 'chromium' | 'torch' | 'slurm' | 'netns' | 'faketime'

/** Whether a requirement is met, and the text a skipped group carries. */
export interface RequirementCheck {
  readonly available: boolean
  /** Why it is missing ('' when available). */
  readonly reason: string
  /** A suffix for the group's title: '' when available, else ` (skipped: <reason>)`. */
  readonly note: string
}

/** How to enable each requirement, as `npm test`'s summary prints it. */
export const ENABLE: Readonly<Record<RequirementName, { readonly what: string; readonly how: string; readonly apt?: readonly string[] }>> = Object.freeze({
  'fashion-mnist': { what: 'Fashion-MNIST', how: 'run npm install (it brings @weft/dataset-fashion-mnist), or set WEFT_DATA to a folder with the four files' },
  chromium: { what: "Debian's chromium", how: 'apt install chromium (or set WEFT_CHROMIUM to a Chromium binary)', apt: ['chromium'] },
  torch: {
    what: 'Python with torch and numpy',
    how: 'apt install python3-torch python3-numpy libopenblas0-openmp (or set WEFT_TORCH_PYTHON)',
    apt: ['python3-torch', 'python3-numpy', 'libopenblas0-openmp'],
  },
  slurm: {
    what: 'a Slurm cluster that answers (sinfo) with a node up',
    how: 'apt install slurm-wlm munge, then (as root) scripts/slurm-cluster.sh start',
    apt: ['slurm-wlm', 'munge'],
  },
  netns: {
    what: 'root with network namespaces and nftables (a NAT made on this machine)',
    how: 'run as root with apt install nftables iproute2',
    apt: ['nftables', 'iproute2'],
  },
  faketime: { what: "Debian's libfaketime (the chaos harness's clock jumps)", how: 'apt install faketime', apt: ['faketime'] },
})

/** Debian's libfaketime: a process started under it takes its wall clock's offset from a file. */
export const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1'

/** Where skipped groups are recorded, one JSON line each: `$WEFT_TEST_SKIPS`, else test-results/ in the repository. */
export const SKIPS_FILE = process.env['WEFT_TEST_SKIPS'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results', 'skipped-requirements.jsonl')

/** The Chromium binary the browser tests drive. */
export const CHROMIUM = process.env['WEFT_CHROMIUM'] ?? '/usr/bin/chromium'
/**
 * Chromium's flags in the tests: headless as root, and none of its background connections, which this machine's
 * closed network refuses many at a time.
 */
export const CHROMIUM_ARGS: readonly string[] = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

const probes = new Map<RequirementName, Promise<string>>()

/** '' when the requirement is met here, else why not. Each is probed once per test process. */
function probe(name: RequirementName): Promise<string> {
  let p = probes.get(name)
  if (p === undefined) {
    p = run(name)
    probes.set(name, p)
  }
  return p
}

async function run(name: RequirementName): Promise<string> {
  switch (name) {
    case 'fashion-mnist': {
      const { locateFashionMnist } = await import('@weft/data/node')
      for (const split of ['train', 'test'] as const) {
        const loc = await locateFashionMnist({ split })
        if (!('dir' in loc)) return `Fashion-MNIST ${split} split not found (${loc.searched.join('; ')})`
      }
      return ''
    }
    case 'chromium':
      return existsSync(CHROMIUM) ? '' : `no Chromium at ${CHROMIUM}`
    case 'torch': {
      const device = process.env['WEFT_TORCH_TEST_DEVICE'] === 'cuda' ? 'cuda' : 'cpu'
      const { probeTorch } = await import('@weft/runtime-torch')
      const r = await probeTorch({ device })
      return r.ok ? '' : r.reason
    }
    case 'slurm':
      return new Promise((resolve) => {
        execFile('sinfo', ['-h', '-o', '%T'], { timeout: 10_000 }, (err, stdout, stderr) => {
          if (err !== null) resolve(`sinfo failed: ${(stderr.trim() || err.message).split('\n')[0]}`)
          // A node running jobs (allocated, mixed, completing) is up: a job queues behind them and runs when they end.
          else if (!/^(idle|mixed|allocated|completing)/m.test(stdout)) resolve(`no Slurm node up (sinfo: ${stdout.trim().replaceAll('\n', ', ') || 'nothing'})`)
          else resolve('')
        })
      })
    case 'netns': {
      if (process.getuid?.() !== 0) return 'not root: making network namespaces needs root'
      if (!existsSync('/usr/sbin/nft')) return 'no /usr/sbin/nft (nftables)'
      if (!['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'].some((p) => existsSync(p))) return 'no ip (iproute2)'
      return new Promise((resolve) => {
        const probe = `weftprobe${process.pid}`
        execFile('ip', ['netns', 'add', probe], { timeout: 10_000 }, (err, _out, stderr) => {
          if (err !== null) {
            resolve(`ip netns add failed: ${(stderr.trim() || err.message).split('\n')[0]}`)
            return
          }
          execFile('ip', ['netns', 'del', probe], { timeout: 10_000 }, () => resolve(''))
        })
      })
    }
    case 'faketime':
      return existsSync(FAKETIME_LIB) ? '' : `no ${FAKETIME_LIB}`
    default: {
      const never: never = name
      throw new Error(`unknown requirement ${String(never)}`)
    }
  }
}

/**
 * Checks a requirement for a group of tests.
 * @param name what the group needs
 * @param group the group, in words (it names the skip in the summary)
 * @returns whether to run the group; outside CI a missing requirement is recorded as a skip
 * @throws Error under CI=true when the requirement is missing, so the run fails instead of skipping
 */
export async function requirement(name: RequirementName, group: string): Promise<RequirementCheck> {
  const reason = await probe(name)
  if (reason === '') return { available: true, reason: '', note: '' }
  const enable = ENABLE[name]
  if (process.env['CI'] === 'true') throw new Error(`CI needs ${enable.what} for ${group}: ${reason}. Install it: ${enable.how}`)
  process.stderr.write(`skipping ${group}: ${reason}\n`)
  try {
    mkdirSync(dirname(SKIPS_FILE), { recursive: true })
    appendFileSync(SKIPS_FILE, `${JSON.stringify({ requirement: name, group, reason })}\n`)
  } catch {
    // The summary is a convenience; a read-only checkout still runs the tests.
  }
  return { available: false, reason, note: ` (skipped: ${reason}; to run it: ${enable.how})` }
}
