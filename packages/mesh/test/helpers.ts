// Test helpers: real mesh nodes on 127.0.0.1 sharing one private network key.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generatePsk, type MeshLogger, type MeshMetrics } from '@weft/mesh'
import { createMeshNode, type MeshNode, type MeshNodeInit } from '@weft/mesh/node'

export const psk = generatePsk()

/** Records what a node logs and counts, so tests can assert on the "clear logged reason". */
export class Recorder implements MeshLogger, MeshMetrics {
  readonly warnings: string[] = []
  readonly bad: string[] = []
  debug(): void {}
  info(): void {}
  warn(obj: object, msg: string): void {
    this.warnings.push(`${msg} ${JSON.stringify(obj)}`)
  }
  error(obj: object, msg: string): void {
    this.warnings.push(`${msg} ${JSON.stringify(obj)}`)
  }
  /** Bytes read per protocol. */
  readonly bytesIn = new Map<string, number>()
  onBytes(protocol: string, direction: 'in' | 'out', n: number): void {
    if (direction === 'in') this.bytesIn.set(protocol, (this.bytesIn.get(protocol) ?? 0) + n)
  }
  onRpc(): void {}
  onTensorTransfer(): void {}
  onBadMessage(protocol: string, reason: string): void {
    this.bad.push(`${protocol}: ${reason}`)
  }
}

export async function startNode(init: Partial<MeshNodeInit> = {}, recorder = new Recorder()): Promise<MeshNode & { recorder: Recorder }> {
  const node = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), psk, network: 'loopback', ...init }, { logger: recorder, metrics: recorder })
  return Object.assign(node, { recorder })
}

/** Resolve when `check` passes, polling on a short interval (for gossip state that has no event of its own). */
export async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) {
      throw new Error('condition not met in time')
    }
    await new Promise((r) => setTimeout(r, 25))
  }
}
