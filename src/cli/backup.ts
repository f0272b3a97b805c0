import { access, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig, type Config } from '../config.js'
import { installSqliteSnapshot, isPostgresDatabaseEmpty, restorePostgresDump } from '../db/restore-target.js'
import { BackupService, verifyArchive } from '../domain/backup/backup-service.js'
import { restoreArchive, settleRestoredMetadata } from '../domain/backup/restore.js'
import { FileService } from '../domain/files/file-service.js'
import { runExclusive } from '../domain/operations/exclusive-run.js'
import { ConsistencyCheck } from '../domain/verify/consistency-check.js'
import { openBlobStore } from '../blob/open-blob-store.js'
import { openMetadataStore } from '../db/open-metadata-store.js'
import { commandLogger, EXIT_BUSY, openOperations } from './operations-context.js'
import { createProgressReporter, formatBytes } from './progress.js'
import { printVerifyReport } from './verify.js'

/** `cabinet backup [--to DIR] [--json]` and `cabinet backup verify ARCHIVE [--json]`. */
export async function backupCommand(args: string[]): Promise<number> {
  if (args[0] === 'verify') return verifyArchiveCommand(args.slice(1))
  const { values } = parseArgs({ args, options: { to: { type: 'string' }, json: { type: 'boolean' } } })
  const config = loadConfig(process.env)
  const logger = commandLogger(process.env)
  const context = await openOperations(config, logger)
  const progress = createProgressReporter('backup')
  try {
    const backups = new BackupService(context.metadata, context.blobs, logger)
    const dir = values.to === undefined ? config.backupDir : resolve(values.to)
    const outcome = await runExclusive(context.exclusive, 'backup', { triggeredBy: 'cli' }, (signal) =>
      backups.create({ dir, retentionMs: config.backupRetentionMs, onProgress: progress.onProgress, signal }),
    )
    progress.stop()
    if (outcome.status === 'skipped') {
      console.error(`cabinet: ${outcome.reason}; try again once it has finished`)
      return EXIT_BUSY
    }
    if (outcome.status === 'failed') throw outcome.error
    if (outcome.status === 'duplicate') throw new Error('unexpected duplicate run')
    const report = outcome.result
    if (values.json) console.log(JSON.stringify(report))
    else {
      console.log(`Backup written: ${report.archive}`)
      console.log(`  ${report.files} files (${formatBytes(report.blobBytes)}) and the ${report.metadata === 'sqlite' ? 'SQLite' : 'PostgreSQL'} metadata; archive ${formatBytes(report.archiveBytes)}`)
      if (report.removedDuringBackup > 0) console.log(`  ${report.removedDuringBackup} files were deleted while it ran and are left out`)
      if (report.pruned.length > 0) console.log(`  removed ${report.pruned.length} archives past the retention: ${report.pruned.join(', ')}`)
    }
    return 0
  } finally {
    progress.stop()
    await context.close()
  }
}

async function verifyArchiveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean' } }, allowPositionals: true })
  const archive = positionals[0]
  if (!archive) throw new Error('usage: cabinet backup verify ARCHIVE [--json]')
  const progress = createProgressReporter('backup verify')
  try {
    const manifest = await verifyArchive(resolve(archive), progress.onProgress)
    progress.stop()
    const result = { ok: true, archive: resolve(archive), createdAt: manifest.createdAt, metadata: manifest.metadata, files: manifest.files, entries: manifest.entries.length }
    if (values.json) console.log(JSON.stringify(result))
    else console.log(`OK: ${archive} (taken ${manifest.createdAt}) holds ${manifest.files} files and the metadata; every entry matches its SHA-256.`)
    return 0
  } catch (error) {
    progress.stop()
    const message = error instanceof Error ? error.message : String(error)
    if (values.json) console.log(JSON.stringify({ ok: false, archive: resolve(archive), error: message }))
    else console.error(`cabinet: ${archive} failed verification: ${message}`)
    return 1
  }
}

/** Settings without any database or bucket: the embedded layout in `dir`. */
function embeddedConfig(dir: string): Config {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'CABINET_DATABASE_URL' && !name.startsWith('CABINET_S3_')))
  return loadConfig({ ...env, CABINET_DATA_DIR: dir })
}

/**
 * `cabinet restore ARCHIVE [--to DIR] [--json]`: into an empty data dir (`--to`, or the configured
 * embedded one), or into the empty PostgreSQL database and bucket the environment names. Exit 0
 * only when every checksum matched and `cabinet verify` finds the restored storage clean.
 */
export async function restoreCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { to: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true })
  const archive = positionals[0]
  if (!archive) throw new Error('usage: cabinet restore ARCHIVE [--to DIR] [--json]')
  const config = values.to === undefined ? loadConfig(process.env) : embeddedConfig(resolve(values.to))
  const logger = commandLogger(process.env)

  await mkdir(join(config.dataDir, 'tmp'), { recursive: true, mode: 0o750 })
  if (config.database.kind === 'sqlite' && (await access(config.database.path).then(() => true, () => false))) {
    throw new Error(`${config.database.path} exists: restore only into an empty data dir`)
  }
  if (config.database.kind === 'postgres' && !(await isPostgresDatabaseEmpty(config.database.url))) {
    throw new Error('the PostgreSQL database named by CABINET_DATABASE_URL is not empty: restore only into a new database')
  }
  const blobs = await openBlobStore(config)
  const progress = createProgressReporter('restore')
  try {
    for await (const blob of blobs.list('')) {
      throw new Error(`the blob store is not empty (it holds ${blob.key}): restore only into an empty one`)
    }
    const { database } = config
    const restored = await restoreArchive(
      resolve(archive),
      {
        blobs,
        metadataFormat: database.kind === 'sqlite' ? 'sqlite' : 'pg_dump',
        stagingPath: join(config.dataDir, 'tmp', `restore-${process.pid}.metadata`),
        install: (staged) => (database.kind === 'sqlite' ? installSqliteSnapshot(staged, database.path) : restorePostgresDump(staged, database.url)),
      },
      progress.onProgress,
    )
    progress.stop()
    const metadata = await openMetadataStore(config)
    try {
      const files = new FileService(metadata, blobs, { ...config, uploadTimeoutMs: 0 }, logger)
      await settleRestoredMetadata(metadata, files, restored.manifest)
      const check = await new ConsistencyCheck(metadata, blobs, files, logger).run({
        repair: false,
        uploadTimeoutMs: config.uploadTimeoutMs,
        quarantineRoot: config.quarantineDir,
        onProgress: progress.onProgress,
      })
      progress.stop()
      const result = { archive: resolve(archive), createdAt: restored.manifest.createdAt, files: restored.blobs, bytes: restored.bytes, verify: check }
      if (values.json) console.log(JSON.stringify(result))
      else {
        console.log(`Restored ${restored.blobs} files (${formatBytes(restored.bytes)}) and the metadata from ${archive}, every checksum matching.`)
        printVerifyReport(check)
      }
      return check.clean ? 0 : 1
    } finally {
      await metadata.close()
    }
  } finally {
    progress.stop()
    await blobs.close()
  }
}
