import { parseArgs } from 'node:util'
import { loadConfig, type Config } from '../config.js'
import { migrateStorage, type Storage } from '../domain/migration/migrate-storage.js'
import { openBlobStore, openMetadataStore } from '../main.js'
import { readEnvFile } from './env-file.js'

function describe(config: Config): string {
  const database = config.database.kind === 'postgres' ? 'PostgreSQL' : `SQLite ${config.database.path}`
  const blobs = config.blobs.kind === 's3' ? `bucket ${config.blobs.bucket}` : `disk ${config.blobs.rootDir}`
  return `${database} + ${blobs}`
}

async function openStorage(config: Config): Promise<Storage & { close(): Promise<void> }> {
  const metadata = await openMetadataStore(config)
  const blobs = await openBlobStore(config)
  return { metadata, blobs, close: async () => void (await Promise.all([metadata.close(), blobs.close()])) }
}

export async function migrateStorageCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } } })
  if (!values.from || !values.to) throw new Error('usage: cabinet migrate-storage --from <env file> --to <env file> [--json]')
  const fromConfig = loadConfig(await readEnvFile(values.from))
  const toConfig = loadConfig(await readEnvFile(values.to))
  const from = await openStorage(fromConfig)
  const to = await openStorage(toConfig)
  try {
    if (!values.json) console.log(`Copying ${describe(fromConfig)} -> ${describe(toConfig)}`)
    let seen = 0
    const report = await migrateStorage(from, to, (file, outcome) => {
      seen += 1
      if (!values.json && (outcome === 'failed' || seen % 100 === 0)) console.log(`${seen} files checked (last: ${file.id} ${outcome})`)
    })
    if (values.json) console.log(JSON.stringify(report))
    else {
      console.log(
        `Done: ${report.copiedFiles} files copied (${report.copiedBytes} bytes), ${report.skippedFiles} already there, ` +
          `${report.failures.length} failed; copied ${report.copiedTokens} tokens, ${report.copiedKeys} API keys, ` +
          `${report.copiedRetentionPolicies} retention policies, ${report.copiedGrants} grants, ` +
          `${report.copiedConversations} conversations (${report.copiedMessages} messages), ${report.copiedAuditEntries} audit entries; ` +
          `${report.carriedRevocations} revocations carried.`,
      )
      for (const failure of report.failures) console.error(`  ${failure.fileId}: ${failure.reason}`)
    }
    return report.failures.length === 0 ? 0 : 1
  } finally {
    await Promise.all([from.close(), to.close()])
  }
}
