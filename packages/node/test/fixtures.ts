// Small synthetic data sets for node tests (real data is for benchmarks and demos).
import { writeFileSync } from 'node:fs'

/** Writes a CSV of `n` rows: four features in [-0.5, 0.5) and a label 'pos' when the first is positive. */
export function writeSynthCsv(path: string, n: number, seed: number): void {
  let s = seed
  const rand = () => {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0
    return s / 2 ** 32
  }
  const rows = ['a,b,c,d,label']
  for (let i = 0; i < n; i++) {
    const x = [rand() - 0.5, rand() - 0.5, rand() - 0.5, rand() - 0.5]
    rows.push(`${x.join(',')},${(x[0] as number) > 0 ? 'pos' : 'neg'}`)
  }
  writeFileSync(path, `${rows.join('\n')}\n`)
}
