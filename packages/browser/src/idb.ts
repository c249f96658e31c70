// A small promise wrapper over IndexedDB: one database, `identity` and `datasets` object stores.

const DB_VERSION = 1
export const STORES = ['identity', 'datasets'] as const
export type StoreName = (typeof STORES)[number]

/** Where a browser peer keeps what must survive a reload: its key and the data sets the user added. */
export interface KeyValueStore {
  get<T>(store: StoreName, key: string): Promise<T | undefined>
  put(store: StoreName, key: string, value: unknown): Promise<void>
  delete(store: StoreName, key: string): Promise<void>
  keys(store: StoreName): Promise<string[]>
  close(): void
}

const done = <T>(request: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'))
  })

/**
 * Opens (creating on first use) the IndexedDB database `name`.
 * @throws Error where IndexedDB is unavailable (a private window may refuse it)
 */
export async function openIndexedDb(name: string): Promise<KeyValueStore> {
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available in this browser context')
  const open = indexedDB.open(name, DB_VERSION)
  open.onupgradeneeded = () => {
    for (const store of STORES) if (!open.result.objectStoreNames.contains(store)) open.result.createObjectStore(store)
  }
  const db = await done(open)
  const tx = (store: StoreName, mode: IDBTransactionMode) => db.transaction(store, mode).objectStore(store)
  return {
    get: async <T>(store: StoreName, key: string) => (await done(tx(store, 'readonly').get(key))) as T | undefined,
    put: async (store, key, value) => {
      await done(tx(store, 'readwrite').put(value, key))
    },
    delete: async (store, key) => {
      await done(tx(store, 'readwrite').delete(key))
    },
    keys: async (store) => (await done(tx(store, 'readonly').getAllKeys())).map(String),
    close: () => db.close(),
  }
}

/** A store kept in memory only (a page without IndexedDB, or a caller that wants nothing kept). */
export function memoryStore(): KeyValueStore {
  const maps = new Map<StoreName, Map<string, unknown>>(STORES.map((s) => [s, new Map()]))
  const of = (s: StoreName) => maps.get(s) as Map<string, unknown>
  return {
    get: async <T>(s: StoreName, k: string) => of(s).get(k) as T | undefined,
    put: async (s, k, v) => void of(s).set(k, v),
    delete: async (s, k) => void of(s).delete(k),
    keys: async (s) => [...of(s).keys()],
    close: () => {},
  }
}
