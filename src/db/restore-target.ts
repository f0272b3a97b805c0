import { access, chmod, rename, rm } from 'node:fs/promises'
import { runPgTool } from './pg-tools.js'

/** True when the PostgreSQL database at `url` has no table in its schema yet (a fresh CREATE DATABASE). */
export async function isPostgresDatabaseEmpty(url: string): Promise<boolean> {
  // Loaded only when used, as in KyselyMetadataStore.openPostgres.
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
  await client.connect()
  try {
    const { rows } = await client.query<{ count: string }>(
      'select count(*) as count from information_schema.tables where table_schema = current_schema()',
    )
    return Number(rows[0]?.count) === 0
  } finally {
    await client.end()
  }
}

/** Loads a pg_dump archive into the (empty) database at `url`, all or nothing. */
export async function restorePostgresDump(dumpPath: string, url: string): Promise<void> {
  await runPgTool('pg_restore', url, ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', dumpPath])
}

/** Moves a SQLite snapshot into place as the database file; there must be none there yet. */
export async function installSqliteSnapshot(snapshotPath: string, databasePath: string): Promise<void> {
  if (await access(databasePath).then(() => true, () => false)) throw new Error(`${databasePath} already exists`)
  await rm(`${databasePath}-wal`, { force: true })
  await rm(`${databasePath}-shm`, { force: true })
  await chmod(snapshotPath, 0o640)
  await rename(snapshotPath, databasePath)
}
