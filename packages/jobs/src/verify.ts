// Quorum verification of batch results (BOINC-style): canonical JSON, result CIDs, agreement within a tolerance, and
// the decision over a task's replicated results.
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'

/** Multicodec code of sha2-256. */
const SHA2_256 = 0x12
/** Deepest nesting canonicalJson and agree follow: a hostile result cannot exhaust the stack. */
const MAX_DEPTH = 256
const utf8 = new TextEncoder()

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The canonical JSON text of a value: object keys sorted (by UTF-16 code units, as RFC 8785), no whitespace, numbers
 * and strings as JSON.stringify writes them (so -0 is "0"). Two results are the same result exactly when their
 * canonical texts are equal.
 * @param value - null, booleans, finite numbers, strings, arrays and plain objects of these
 * @returns the canonical text
 * @throws RangeError on a non-finite number, undefined (also as an object member or array element), a function, a
 *   symbol, a bigint, an object that is not plain (Date, Map, typed arrays…), a cycle, or nesting deeper than 256
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = []
  write(value, parts, new Set(), 0)
  return parts.join('')
}

function write(value: unknown, out: string[], ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value))
      return
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: value: non-finite number ${value} has no JSON form`)
      out.push(JSON.stringify(value))
      return
    case 'object': {
      if (value === null) {
        out.push('null')
        return
      }
      if (depth >= MAX_DEPTH) throw new RangeError(`canonicalJson: value: nested deeper than ${MAX_DEPTH}`)
      if (ancestors.has(value)) throw new RangeError('canonicalJson: value: contains a cycle')
      ancestors.add(value)
      if (Array.isArray(value)) {
        out.push('[')
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',')
          write(value[i], out, ancestors, depth + 1)
        }
        out.push(']')
      } else if (isPlainObject(value)) {
        out.push('{')
        const keys = Object.keys(value).sort()
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i]!
          if (i > 0) out.push(',')
          out.push(JSON.stringify(key), ':')
          write(value[key], out, ancestors, depth + 1)
        }
        out.push('}')
      } else {
        throw new RangeError(`canonicalJson: value: ${Object.prototype.toString.call(value)} is not a plain object`)
      }
      ancestors.delete(value)
      return
    }
    default:
      throw new RangeError(`canonicalJson: value: ${typeof value} has no JSON form`)
  }
}

/**
 * The content id of a result's bytes: CIDv1, raw codec, sha2-256, as a base32 string ("bafkrei…").
 * @param bytes - the result as sent (its canonical JSON, UTF-8)
 */
export function resultCid(bytes: Uint8Array): string {
  return CID.create(1, raw.code, createDigest(SHA2_256, sha256(bytes))).toString()
}

/**
 * Whether two results agree.
 * @param a - one result (a JSON value)
 * @param b - the other
 * @param tolerance - 0: canonical equality; otherwise the same structure (array lengths, object key sets, types) with
 *   every pair of numbers within tolerance·max(1, |a|, |b|) and every pair of strings, booleans and nulls equal
 * @returns false also where either is not a JSON value (a non-finite number, undefined, a cycle…): such a result agrees
 *   with nothing
 * @throws RangeError when tolerance is negative or not finite
 */
export function agree(a: unknown, b: unknown, tolerance: number): boolean {
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`agree: tolerance must be a finite number ≥ 0, got ${tolerance}`)
  }
  return same(a, b, tolerance, 0)
}

function same(a: unknown, b: unknown, tolerance: number, depth: number): boolean {
  if (typeof a !== typeof b) return false
  switch (typeof a) {
    case 'string':
    case 'boolean':
      return a === b
    case 'number': {
      const x = a as number
      const y = b as number
      if (!Number.isFinite(x) || !Number.isFinite(y)) return false
      if (tolerance === 0) return x === y
      return Math.abs(x - y) <= tolerance * Math.max(1, Math.abs(x), Math.abs(y))
    }
    case 'object': {
      if (a === null || b === null) return a === b
      if (depth >= MAX_DEPTH) return false
      const x = a as object
      const y = b as object
      if (Array.isArray(x)) {
        if (!Array.isArray(y) || x.length !== y.length) return false
        for (let i = 0; i < x.length; i++) if (!same(x[i], y[i], tolerance, depth + 1)) return false
        return true
      }
      if (Array.isArray(y) || !isPlainObject(x) || !isPlainObject(y)) return false
      // A cycle exhausts MAX_DEPTH and so agrees with nothing.
      const keys = Object.keys(x)
      if (keys.length !== Object.keys(y).length) return false
      for (const key of keys) {
        if (!Object.hasOwn(y, key) || !same(x[key], y[key], tolerance, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

/** One worker's result for a task, as the owner parsed it. */
export interface TaskResult {
  readonly worker: string
  /** The parsed result (a JSON value). */
  readonly result: unknown
  /** The CID the worker gave for it; it must be resultCid of the result's canonical JSON. */
  readonly resultCid: string
}

/** Where a task's verification stands. */
export type QuorumDecision =
  | {
      readonly state: 'accepted'
      /** The canonical result: the first result of the agreeing group. */
      readonly result: unknown
      readonly resultCid: string
      /** Workers whose results agreed with it. */
      readonly valid: readonly string[]
      /** Workers whose results did not. */
      readonly invalid: readonly string[]
    }
  /** `need` more results are needed before a decision can be reached (at least 1). */
  | { readonly state: 'pending'; readonly need: number }
  | { readonly state: 'failed'; readonly reason: string; readonly invalid: readonly string[] }

/**
 * The quorum a task's results are held to under adaptive replication. A task first sent to a trusted worker needs
 * one result (`taskQuorum` 1), but a task is sent on to another worker when one fails it (dies, stalls, is cut off):
 * results from any worker that is not trusted are held to the job's quorum, or an untrusted worker's lone result
 * would be accepted on another worker's trust.
 * @param results - the task's results so far
 * @param taskQuorum - the quorum set when the task was first sent (0 before that: read as 1)
 * @param jobQuorum - the job's quorum
 * @param trusted - whether a worker is trusted now
 */
export function effectiveQuorum(results: readonly TaskResult[], taskQuorum: number, jobQuorum: number, trusted: (worker: string) => boolean): number {
  const quorum = Math.max(1, taskQuorum)
  return quorum < jobQuorum && results.some((r) => !trusted(r.worker)) ? jobQuorum : quorum
}

/**
 * Decides a task from the results it has so far. Results that agree (see agree) form groups: a result joins the first
 * group whose first member it agrees with. The task is accepted once a group has `quorum` members; pending while
 * fewer than `maxResults` results came in and a quorum can still be reached; failed once it cannot.
 *
 * Hostile results: one worker counts once (a second result from the same worker is ignored, the first kept); only the
 * first `maxResults` workers' results count; a result that has no canonical JSON, or whose CID is not the CID of its
 * canonical JSON, joins no group (it cannot be accepted, and its worker is named invalid).
 * @param results - the task's results in the order they arrived
 * @param quorum - how many agreeing results accept the task (an integer ≥ 1; 1 for a trusted worker's unreplicated task)
 * @param tolerance - see agree
 * @param maxResults - most results the task may use (an integer ≥ quorum)
 * @returns the decision; when failed, `invalid` names every worker that answered
 * @throws RangeError on a bad quorum, tolerance or maxResults
 */
export function decideQuorum(results: readonly TaskResult[], quorum: number, tolerance: number, maxResults: number): QuorumDecision {
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new RangeError(`decideQuorum: quorum must be an integer ≥ 1, got ${quorum}`)
  if (!Number.isSafeInteger(maxResults) || maxResults < quorum) {
    throw new RangeError(`decideQuorum: maxResults must be an integer ≥ quorum (${quorum}), got ${maxResults}`)
  }
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`decideQuorum: tolerance must be a finite number ≥ 0, got ${tolerance}`)
  }
  const seen = new Set<string>()
  const counted: TaskResult[] = []
  for (const r of results) {
    if (counted.length >= maxResults) break
    if (seen.has(r.worker)) continue
    seen.add(r.worker)
    counted.push(r)
  }
  const groups: TaskResult[][] = []
  for (const r of counted) {
    if (!wellFormed(r)) continue
    const group = groups.find((g) => agree(g[0]!.result, r.result, tolerance))
    if (group === undefined) groups.push([r])
    else group.push(r)
  }
  // The largest group, the earliest formed among equals.
  let best: TaskResult[] = []
  for (const g of groups) if (g.length > best.length) best = g
  if (best.length >= quorum) {
    const valid = new Set(best.map((r) => r.worker))
    const first = best[0]!
    return {
      state: 'accepted',
      result: first.result,
      resultCid: first.resultCid,
      valid: [...valid],
      invalid: counted.filter((r) => !valid.has(r.worker)).map((r) => r.worker),
    }
  }
  const left = maxResults - counted.length
  if (best.length + left >= quorum) return { state: 'pending', need: Math.max(1, quorum - best.length) }
  return {
    state: 'failed',
    reason: `no ${quorum} agreeing results among ${counted.length} (at most ${maxResults}); the largest agreeing group has ${best.length}`,
    invalid: counted.map((r) => r.worker),
  }
}

function wellFormed(r: TaskResult): boolean {
  let text: string
  try {
    text = canonicalJson(r.result)
  } catch {
    return false
  }
  return resultCid(utf8.encode(text)) === r.resultCid
}
