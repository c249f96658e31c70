// The chaos scenarios' files and fault plans: every shipped scenario loads in both forms, a seed gives one schedule,
// clock jumps fall in their range on both sides of true time, and a bad file is refused naming its field.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CLOCK_FAULTS, loadScenario, planFaults } from './scenario.js'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'scenarios')
const shipped = readdirSync(dir).filter((f) => f.endsWith('.yaml'))

describe('chaos scenarios', () => {
  it('every shipped scenario loads, long and short, and plans faults that fit its duration one at a time', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(9)
    for (const file of shipped) {
      for (const form of ['long', 'short'] as const) {
        const s = loadScenario(join(dir, file), form)
        const plan = planFaults(s)
        expect(plan.length, `${file} ${form}`).toBeGreaterThan(0)
        expect(plan.every((f) => s.faults.kinds.includes(f.kind))).toBe(true)
        for (let i = 0; i < plan.length; i++) {
          const f = plan[i] as (typeof plan)[number]
          expect(f.at + f.downSeconds).toBeLessThanOrEqual(s.faults.durationSeconds)
          if (i > 0) expect(f.at).toBeGreaterThanOrEqual((plan[i - 1]?.at ?? 0) + (plan[i - 1]?.downSeconds ?? 0))
        }
      }
    }
  })

  it('a seed gives one schedule; clock jumps lie in their range, ahead and behind', () => {
    const s = loadScenario(join(dir, 'fl-degraded-links.yaml'))
    expect(planFaults(s)).toEqual(planFaults(s))
    const jumps = planFaults(s).filter((f) => CLOCK_FAULTS.includes(f.kind))
    expect(jumps.length).toBeGreaterThan(10)
    const [lo, hi] = s.faults.clockJumpSeconds
    for (const f of jumps) {
      expect(Math.abs(f.clockSeconds as number)).toBeGreaterThanOrEqual(lo)
      expect(Math.abs(f.clockSeconds as number)).toBeLessThanOrEqual(hi)
    }
    expect(jumps.some((f) => (f.clockSeconds as number) < 0) && jumps.some((f) => (f.clockSeconds as number) > 0)).toBe(true)
    // Faults without a clock carry no jump.
    expect(planFaults(s).filter((f) => !CLOCK_FAULTS.includes(f.kind)).every((f) => f.clockSeconds === undefined)).toBe(true)
  })

  it('a bad scenario is refused naming the file and the field', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'weft-chaos-scenario-'))
    try {
      const bad = join(tmp, 'bad.yaml')
      const base = 'name: x\nseed: 1\ntopology: { clients: 2 }\nworkload: { kind: fl, spec: {} }\nlivenessSeconds: 10\n'
      writeFileSync(bad, `${base}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [lossy-client], downSeconds: [1, 2], lossPercent: 140 }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: faults.lossPercent:`)
      writeFileSync(bad, `${base}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [clock-jump-client], downSeconds: [1, 2], clockJumpSeconds: [9, 3] }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: faults.clockJumpSeconds:`)
      writeFileSync(bad, `${base}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [melt-client], downSeconds: [1, 2] }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: faults.kinds.0:`)
      // Relays and partitions by address do not mix; a client's full disk needs its tmpfs; a batch needs an honest worker.
      writeFileSync(bad, `${base}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [laggy-client, partition-client], downSeconds: [1, 2] }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: faults.kinds: laggy-client routes the mesh through relays`)
      writeFileSync(bad, `${base}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [full-disk-client], downSeconds: [1, 2] }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: topology.clientDiskMiB: full-disk-client needs`)
      const batch = base.replace('workload: { kind: fl, spec: {} }', 'workload: { kind: batch, spec: {}, cheaters: 2 }')
      writeFileSync(bad, `${batch}faults: { durationSeconds: 10, meanGapSeconds: 1, kinds: [kill-client], downSeconds: [1, 2] }\n`)
      expect(() => loadScenario(bad)).toThrow(`${bad}: workload.cheaters: at least one client must be honest`)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })
})
