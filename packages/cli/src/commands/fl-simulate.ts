// `weft fl simulate`: a federated job over virtual clients in one process, through the same coordinator and strategies.
// Registered here; what it runs (fl-simulate-run.ts, with the data-set, FL and node packages) loads only when it runs.
import { type Command, InvalidArgumentError, Option } from 'commander'
import { positive, positiveInt } from './option-parsers.js'
import type { SimulateOptions } from './fl-simulate-run.js'

function fractionOf(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${name} must be a number in [0, 1), got "${v}"`)
    return n
  }
}

function siteFraction(v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`--site-fraction must be a number in (0, 1], got "${v}"`)
  return n
}

/** Registers `simulate` under the `fl` command group. */
export function registerFlSimulateCommand(fl: Command): void {
  fl.command('simulate')
    .description('run a job over virtual clients in one process (each with its own Fashion-MNIST share), through the same coordinator and strategies')
    .argument('<job>', 'job spec file (YAML or JSON); its data set is replaced by the virtual clients’ shares')
    .requiredOption('--clients <n>', 'number of virtual clients', positiveInt('--clients'))
    .addOption(new Option('--partition <scheme>', 'how the training set is split').choices(['iid', 'dirichlet', 'shards', 'quantity-skew']).default('dirichlet'))
    .option('--alpha <a>', 'Dirichlet concentration', positive('--alpha'), 0.5)
    .option('--shards <n>', 'label-sorted shards per client (shards scheme)', positiveInt('--shards'), 2)
    .option('--exponent <e>', 'power-law exponent (quantity-skew scheme)', positive('--exponent'), 1.5)
    .option('--partition-seed <n>', 'seed of the split', positiveInt('--partition-seed'), 1)
    .option('--workers <n>', 'engine workers: tfjs threads or torch processes (default: available cores)', positiveInt('--workers'))
    .addOption(
      new Option('--runtime <engine>', 'engine of the clients: tfjs, torch, or mixed (every other client on each: a mixed federation)')
        .choices(['tfjs', 'torch', 'mixed'])
        .default('tfjs'),
    )
    .option('--torch-threads <n>', 'intra-op threads per torch worker', positiveInt('--torch-threads'), 1)
    .option('--rounds <n>', 'override the spec’s rounds', positiveInt('--rounds'))
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST files (default: search, then download)')
    .addOption(
      new Option('--attack <kind>', 'for robustness evaluation: a seeded fraction of the clients attack').choices(['label-flip', 'sign-flip', 'gaussian', 'alie', 'ipm']),
    )
    .option('--attack-fraction <f>', 'share of the clients that attack (with --attack)', fractionOf('--attack-fraction'), 0.1)
    .option('--sites <n>', 'hierarchical rounds: deal the clients to n sites in order, each one aggregator client to the coordinator', positiveInt('--sites'))
    .option('--site-fraction <f>', 'with --sites: share of a site’s clients that train each round, in (0, 1]', siteFraction)
    .option('--json', 'print one JSON object with every round on stdout')
    .option('--quiet', 'no per-round lines on stderr')
    .action(async (file: string, opts: SimulateOptions) => {
      const { runFlSimulate } = await import('./fl-simulate-run.js')
      await runFlSimulate(file, opts)
    })
}
