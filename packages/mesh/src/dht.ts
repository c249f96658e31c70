// Namespaced DHT records: `/<namespace>/<key>` keys whose namespace has a validator and a selector.
import type { AbortOptions, Libp2p } from '@libp2p/interface'
import { InvalidDhtKeyError, InvalidDhtRecordError } from './errors.js'

/** Rules for one record namespace; every node that stores the records must register the same. */
export interface DhtNamespace {
  /** Throw to reject a record (bad signature, expired, malformed). `key` is the full `/<ns>/<key>` bytes. */
  validate(key: Uint8Array, value: Uint8Array, options?: AbortOptions): void | Promise<void>
  /** Index of the best of several valid records (e.g. the newest sequence number). */
  select(key: Uint8Array, records: Uint8Array[]): number | Promise<number>
}

/** Put and get records under registered namespaces. */
export interface MeshDht {
  /** Store `value` under `/<namespace>/<key>` on the closest peers. Throws InvalidDhtRecordError when the namespace's validator rejects it. */
  put(namespace: string, key: string, value: Uint8Array, options?: AbortOptions): Promise<void>
  /** The best record under `/<namespace>/<key>`, or undefined when none is found. */
  get(namespace: string, key: string, options?: AbortOptions): Promise<Uint8Array | undefined>
}

const NS = /^[a-z0-9][a-z0-9_-]{0,31}$/

/** The DHT key bytes for `/<namespace>/<key>`. */
export function dhtKey(namespace: string, key: string): Uint8Array {
  if (!NS.test(namespace)) {
    throw new InvalidDhtKeyError(`DHT namespace must match ${NS}, got ${JSON.stringify(namespace)}`)
  }
  if (key.length === 0 || key.length > 512) {
    throw new InvalidDhtKeyError(`DHT key must be 1..512 characters, got ${key.length}`)
  }
  return new TextEncoder().encode(`/${namespace}/${key}`)
}

/** Create the DHT helper over a node's content routing. */
export function createMeshDht(libp2p: Libp2p, namespaces: Readonly<Record<string, DhtNamespace>>): MeshDht {
  const check = (namespace: string): void => {
    if (!Object.hasOwn(namespaces, namespace)) {
      throw new InvalidDhtKeyError(`DHT namespace "${namespace}" is not registered on this node (MeshNodeInit.dht.namespaces)`)
    }
  }
  return Object.freeze({
    async put(namespace: string, key: string, value: Uint8Array, options: AbortOptions = {}): Promise<void> {
      check(namespace)
      const k = dhtKey(namespace, key)
      try {
        await (namespaces[namespace] as DhtNamespace).validate(k, value, options)
      } catch (cause) {
        throw new InvalidDhtRecordError(`record for /${namespace}/${key} fails its namespace validator: ${(cause as Error)?.message}`, { cause })
      }
      await libp2p.contentRouting.put(k, value, options)
    },
    async get(namespace: string, key: string, options: AbortOptions = {}): Promise<Uint8Array | undefined> {
      check(namespace)
      try {
        return await libp2p.contentRouting.get(dhtKey(namespace, key), options)
      } catch (err) {
        // libp2p's content routing asks every router with Promise.any: "not found" arrives as an AggregateError.
        const errors = err instanceof AggregateError ? (err.errors as unknown[]) : [err]
        if (errors.every((e) => (e as Error)?.name === 'NotFoundError')) {
          return undefined
        }
        throw err
      }
    },
  })
}
