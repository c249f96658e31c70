// `weft demo` (what `npm start` runs): federated learning on a local fabric of node processes on 127.0.0.1:
// one coordinator and N clients, each client training on its own non-IID share of Fashion-MNIST. The command is
// registered here; what it runs (demo-run.ts, with the data sets, FL and runtime packages) loads only when it runs.
import { Argument, type Command, InvalidArgumentError, Option } from 'commander'
import type { DemoOptions } from './demo-run.js'

function positiveInt(name: string, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer in 1..${max}, got "${v}"`)
    return n
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'a local fabric of node processes on 127.0.0.1: `fl` (default) trains a Fashion-MNIST classifier by federated learning; `inference` serves the shipped King James language model in spans and generates through them',
    )
    .addArgument(new Argument('[kind]', 'what the fabric does').choices(['fl', 'inference']).default('fl'))
    .option('--nodes <n>', 'number of client nodes (plus one coordinator)', positiveInt('--nodes', 32), 10)
    .option('--rounds <n>', 'federated rounds', positiveInt('--rounds', 1000), 8)
    .addOption(new Option('--model <name>', 'model architecture').choices(['mlp', 'cnn-lenet']).default('mlp'))
    .option('--strategy <name>', 'aggregation strategy (fedavg, fedavgm, fedprox, fedadam, fedyogi, fedmedian, fedtrimmedavg, krum, …)', 'fedavg')
    .option('--dir <dir>', 'parent directory for the nodes’ data directories (default: a new temp dir)')
    .option('--port <n>', "the coordinator's API and dashboard port on 127.0.0.1 (default: any free port)", positiveInt('--port', 65535))
    .option('--keep', 'keep the data directories (and model.weft) afterwards')
    .option('--exit', 'stop the fabric once the job ends, exiting non-zero if it failed (instead of running until Ctrl-C)')
    .addOption(
      new Option('--runtime <engine>', 'engine of the client nodes: tfjs, torch, auto, or mixed (even clients torch, odd tfjs)')
        .choices(['tfjs', 'torch', 'auto', 'mixed'])
        .default('tfjs'),
    )
    .action(async (kind: 'fl' | 'inference', opts: DemoOptions) => {
      if (kind === 'inference') {
        const { runDemoInference } = await import('./demo-inference-run.js')
        await runDemoInference(opts)
        return
      }
      const { runDemo } = await import('./demo-run.js')
      await runDemo(opts)
    })
}
