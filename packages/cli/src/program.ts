// Builds the `weft` commander program from one module per command group.
import { Command } from 'commander'
import { registerBatchSlurmCommands } from './commands/batch-slurm.js'
import { registerDemoCommand } from './commands/demo.js'
import { registerDataCommands } from './commands/data.js'
import { registerDpCommands } from './commands/dp.js'
import { registerFlCommands } from './commands/fl.js'
import { registerFlSimulateCommand } from './commands/fl-simulate.js'
import { registerInferenceCommands } from './commands/inference.js'
import { registerJobCommands } from './commands/job.js'
import { registerK8sCommands } from './commands/k8s.js'
import { registerLmCommands } from './commands/lm.js'
import { registerMeshCommands } from './commands/mesh.js'
import { registerNodeCommands } from './commands/node.js'
import { registerSlurmCommands } from './commands/slurm.js'
import { registerStoreCommands } from './commands/store.js'
import { registerSwarmCommands } from './commands/swarm.js'
import { registerSwarmNodeCommands } from './commands/swarm-node.js'
import { registerTrainCommand } from './commands/train.js'

/** Builds the program; each command group lives in `commands/<group>.ts`. */
export function buildProgram(): Command {
  const program = new Command()
  program.name('weft').description('Weft: a decentralized AI compute fabric').showHelpAfterError()
  registerNodeCommands(program)
  registerMeshCommands(program)
  registerDemoCommand(program)
  registerTrainCommand(program)
  registerDataCommands(program)
  registerDpCommands(program)
  registerFlSimulateCommand(registerFlCommands(program))
  registerSwarmNodeCommands(registerSwarmCommands(program))
  registerStoreCommands(program)
  registerLmCommands(program)
  registerInferenceCommands(program)
  registerJobCommands(program)
  registerBatchSlurmCommands(program)
  registerK8sCommands(program)
  registerSlurmCommands(program)
  return program
}

/** Runs the CLI with `argv` (as in `process.argv`). */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv])
  } catch (err) {
    const e = err as Error
    // Expected failures (bad config, node not running, bad input) print one clear line; bugs print the stack.
    const expected = /Error$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError' && e.name !== 'ReferenceError'
    process.stderr.write(`weft: ${expected || e.name === 'Error' ? e.message : (e.stack ?? e.message)}\n`)
    process.exitCode = 1
  }
}
