// Builds the `weft` commander program from one module per command group.
import { Command } from 'commander'
import { registerDataCommands } from './commands/data.js'
import { registerTrainCommand } from './commands/train.js'

/** Builds the program; each command group lives in `commands/<group>.ts`. */
export function buildProgram(): Command {
  const program = new Command()
  program.name('weft').description('Weft: a decentralized AI compute fabric').showHelpAfterError()
  registerTrainCommand(program)
  registerDataCommands(program)
  return program
}

/** Runs the CLI with `argv` (as in `process.argv`). */
export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv])
}
