// The metrics sink the mesh reports into; the node daemon implements it (prom-client), the default drops everything.

/** Outcome label of an RPC: 'ok' or a wire error code name ('TIMEOUT', 'CANCELLED', ...). */
export type RpcOutcome = string

/** Hooks called where things happen; implementations must be cheap and must not throw. */
export interface MeshMetrics {
  /**
   * Bytes of Weft protocol traffic (frames on RPC and tensor streams, pubsub payloads), with the peer at the other
   * end where one is known (pubsub payloads arriving by relay have none).
   */
  onBytes(protocol: string, direction: 'in' | 'out', bytes: number, peer?: string): void
  /** One RPC finished (client side: round trip; server side: handling time). */
  onRpc(protocol: string, method: string, side: 'client' | 'server', outcome: RpcOutcome, seconds: number): void
  /** One tensor-set transfer finished; outcome 'ok', a decline, or a wire error code name. */
  onTensorTransfer(purpose: string, direction: 'in' | 'out', outcome: string, bytes: number, seconds: number): void
  /** A message from a peer was dropped (garbage, oversized, malformed); the reason is a short label. */
  onBadMessage(protocol: string, reason: string): void
}

/** Metrics sink that records nothing. */
export const noopMetrics: MeshMetrics = Object.freeze({
  onBytes(): void {},
  onRpc(): void {},
  onTensorTransfer(): void {},
  onBadMessage(): void {},
})
