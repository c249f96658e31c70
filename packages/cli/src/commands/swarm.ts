// `weft swarm simulate`: serverless training (DiLoCo or periodic averaging in small groups) over virtual peers in one
// process, through the same peer code as a node. Registered here; what it runs (swarm-simulate-run.ts, with the
// data-set, engine and swarm packages) loads only when it runs.
import { type Command, Option } from 'commander'
import { positive, positiveInt } from './option-parsers.js'
import type { SwarmSimulateOptions } from './swarm-simulate-run.js'

/** Registers the `swarm` command group and its `simulate` command. */
export function registerSwarmCommands(program: Command): Command {
  const swarm = program.command('swarm').description('serverless distributed training: peers train one model together, no coordinator')
  swarm
    .command('simulate')
    .description('run a swarm spec over virtual peers in one process (each with its own Fashion-MNIST share), through the same peer code as a node')
    .argument('<spec>', 'swarm spec file (YAML or JSON); its data set names the virtual peers’ shares')
    .option('--peers <n>', 'number of virtual peers', positiveInt('--peers'), 4)
    .addOption(new Option('--partition <scheme>', 'how the training set is split').choices(['iid', 'dirichlet']).default('dirichlet'))
    .option('--alpha <a>', 'Dirichlet concentration', positive('--alpha'), 0.5)
    .option('--partition-seed <n>', 'seed of the split', positiveInt('--partition-seed'), 1)
    .option('--workers <n>', 'tfjs engine threads (default: available cores)', positiveInt('--workers'))
    .option('--samples <n>', 'override the spec’s totalSamples', positiveInt('--samples'))
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST files (default: search, then download)')
    .option('--json', 'print one JSON object with the result on stdout')
    .option('--quiet', 'no per-step lines on stderr')
    .action(async (file: string, opts: SwarmSimulateOptions) => {
      const { runSwarmSimulate } = await import('./swarm-simulate-run.js')
      await runSwarmSimulate(file, opts)
    })
  return swarm
}
