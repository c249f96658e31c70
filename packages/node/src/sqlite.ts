// Opening the node's SQLite databases (state.db, fl.db, jobs.db): private files, WAL, and migrations applied in order
// from the version the file records.
import Database from 'better-sqlite3'
import { privateDatabaseFile } from './data-dir.js'

/**
 * Opens (creating it private, 0600) and migrates a database: `migrations[v]` runs for every version v from the one
 * the file records to the newest, in one transaction.
 * @param path - file path, or ':memory:'
 */
export function openMigratedDatabase(path: string, migrations: readonly string[]): Database.Database {
  if (path !== ':memory:') privateDatabaseFile(path)
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined
  db.transaction(() => {
    for (let v = row?.version ?? 0; v < migrations.length; v++) db.exec(migrations[v] as string)
    if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(migrations.length)
    else db.prepare('UPDATE schema_version SET version = ?').run(migrations.length)
  })()
  return db
}
