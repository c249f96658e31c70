// A served call's answer on the wire: the RpcResponse envelope around the method's encoded output, written as
// segments so that a large output (blocks read from disk) is framed without being copied.
import { create, toBinary } from '@bufbuild/protobuf'
import { RpcResponseSchema, type WireError } from '@weft/protocol'

/** What a served call answers: the method's output as encoded segments, or a wire error. */
export type Answer =
  | { readonly case: 'ok'; readonly segments: readonly Uint8Array[]; /** Their total length. */ readonly bytes: number }
  | { readonly case: 'error'; readonly value: WireError }

/**
 * The RpcResponse for `answer`, as segments whose concatenation is exactly `toBinary(RpcResponse{ id, result })`:
 * the envelope's few bytes, then the output's segments as they are.
 */
export function responseSegments(id: bigint, answer: Answer): Uint8Array[] {
  if (answer.case === 'error') return [toBinary(RpcResponseSchema, create(RpcResponseSchema, { id, result: answer }))]
  const head: number[] = []
  // Field 1 (id, uint64 varint; proto3 leaves 0 out), then field 2 (ok, bytes) with its length.
  if (id !== 0n) {
    head.push(0x08)
    let n = id
    while (n >= 0x80n) {
      head.push(Number(n & 0x7fn) | 0x80)
      n >>= 7n
    }
    head.push(Number(n))
  }
  head.push(0x12)
  let len = answer.bytes
  while (len >= 0x80) {
    head.push((len % 128) | 0x80)
    len = Math.floor(len / 128)
  }
  head.push(len)
  return [Uint8Array.from(head), ...answer.segments]
}
