// Helpers around the closed list of wire error codes (the list itself is weft.common.v1.WireErrorCode).
import { WireErrorCode } from './gen/weft/common/v1/errors_pb.js'

/** True when `code` is a known, specified wire error code (anything else from a peer reads as INTERNAL). */
export function isWireErrorCode(code: number): code is WireErrorCode {
  return code !== WireErrorCode.UNSPECIFIED && typeof WireErrorCode[code] === 'string'
}

/** The name of a code (`'TIMEOUT'`), or `'UNKNOWN(<n>)'`. */
export function wireErrorCodeName(code: number): string {
  const name = WireErrorCode[code]
  return typeof name === 'string' ? name : `UNKNOWN(${code})`
}
