// `weft data …`: data-set utilities: `weft data partition` (per-client label table and skew), `weft data info`, and
// `weft data publish|get` (data sets by CID on the mesh, data-mesh.ts).
// Registered here; what they run (data-run.ts, with the data-set packages) loads only when they run.
import { type Command, InvalidArgumentError, Option } from 'commander'
import { positiveInt } from './option-parsers.js'
import { registerDataMeshCommands } from './data-mesh.js'
import type { InfoOptions, PartitionOptions } from './data-run.js'

function integer(v: string): number {
  const n = Number(v)
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${v}"`)
  return n
}

function number(name: string, min: number, exclusive: boolean): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (exclusive && n === min)) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusive ? '>' : '>='} ${min}, got "${v}"`)
    }
    return n
  }
}

/** The labels of a data set named on the command line, with where they came from. */
function sourceOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', 'fashion-mnist, or a .csv file', 'fashion-mnist')
    .addOption(new Option('--split <split>', 'Fashion-MNIST split').choices(['train', 'test']).default('train'))
    .option('--dir <dir>', 'read the data set from this directory only')
    .option('--label <column>', 'label column of a .csv data set')
    .option('--no-download', 'do not download a missing data set')
}

/** Runs an action, turning its errors into one `error: …` line on stderr and exit code 1. */
function guarded<T>(cmd: Command, run: (o: T) => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await run(cmd.opts<T & object>())
    } catch (err) {
      const e = err as Error
      const name = err instanceof InvalidArgumentError || e.name === 'Error' || !e.name ? '' : `${e.name}: `
      process.stderr.write(`error: ${name}${e.message}\n`)
      process.exitCode = 1
    }
  }
}

/** Registers `weft data partition`, `weft data info`, `weft data publish` and `weft data get`. */
export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('data-set utilities: partitions for federated clients, data-set info')
  const part = sourceOptions(data.command('partition').description('partition a data set among clients and print the per-client label table'))
    .requiredOption('--clients <n>', 'number of clients', positiveInt('--clients'))
    .option('--iid', 'IID: equal random shares')
    .option('--dirichlet <alpha>', 'Dirichlet label skew (smaller alpha = more skew)', number('--dirichlet', 0, true))
    .option('--shards <k>', 'McMahan-style shards: k label-sorted shards per client', positiveInt('--shards'))
    .option('--quantity-skew <exponent>', 'power-law client sizes (Zipf exponent; 0 = equal)', number('--quantity-skew', 0, false))
    .option('--seed <n>', 'partition seed', integer, 0)
    .option('--json', 'print one JSON object on stdout')
  part.action(guarded<PartitionOptions>(part, async (o) => (await import('./data-run.js')).runPartition(o)))
  const info = sourceOptions(data.command('info').description('where a data set is, its sizes, shapes and classes'))
    .option('--verify', 'check SHA-256 digests against the canonical files')
    .option('--json', 'print one JSON object on stdout')
  info.action(guarded<InfoOptions>(info, async (o) => (await import('./data-run.js')).runInfo(o)))
  registerDataMeshCommands(data)
}
