// The logger the mesh writes to: pino-compatible (`log.warn({ peer }, 'message')`), libp2p's debug logger by default.
import type { ComponentLogger } from '@libp2p/interface'

/** The subset of pino's API the mesh uses; a pino logger fits as is. */
export interface MeshLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** A MeshLogger writing to libp2p's `debug`-style logger under `weft:mesh` (enable with DEBUG=weft:mesh*). */
export function libp2pMeshLogger(logger: ComponentLogger): MeshLogger {
  const log = logger.forComponent('weft:mesh')
  const fmt = (obj: object, msg: string): string => `${msg} ${JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v))}`
  return {
    debug: (obj, msg) => log.trace('%s', fmt(obj, msg)),
    info: (obj, msg) => log('%s', fmt(obj, msg)),
    warn: (obj, msg) => log('%s', fmt(obj, msg)),
    error: (obj, msg) => log.error('%s', fmt(obj, msg)),
  }
}
