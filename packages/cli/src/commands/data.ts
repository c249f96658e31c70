// `weft data …`: data-set utilities (owned by the data work).
import type { Command } from 'commander'

export function registerDataCommands(program: Command): void {
  program.command('data').description('data-set utilities (not built yet)')
}
