import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { AuditLog } from '../domain/auth/audit-log.js'
import { parseDurationMs } from '../duration.js'
import { openMetadataStore } from '../db/open-metadata-store.js'

/** `cabinet audit`: the newest entries of the audit log, as tab-separated lines or JSON lines. */
export async function auditCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { key: { type: 'string' }, file: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
  })
  const sinceMs = values.since === undefined ? undefined : parseDurationMs(values.since)
  if (values.since !== undefined && sinceMs === undefined) throw new Error(`--since "${values.since}" is not a duration like 7d, 12h or 10m`)
  const limit = values.limit === undefined ? 100 : Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new Error('--limit must be a whole number from 1 to 100000')
  const config = loadConfig(process.env)
  const metadata = await openMetadataStore(config)
  try {
    const audit = new AuditLog(metadata.audit)
    const names = new Map((await metadata.apiKeys.list()).map((key) => [key.id, key.name]))
    const entries = await audit.list({
      limit,
      ...(values.key ? { keyId: /^[0-9a-f]{16}$/.test(values.key) ? values.key : ((await metadata.apiKeys.findActiveByName(values.key))?.id ?? values.key) } : {}),
      ...(values.file ? { fileId: values.file } : {}),
      ...(sinceMs === undefined ? {} : { since: new Date(Date.now() - sinceMs) }),
    })
    for (const entry of entries) {
      const who = entry.keyId ? `key:${entry.keyId}${names.has(entry.keyId) ? `(${names.get(entry.keyId)})` : ''}` : `user:${entry.userId ?? '-'}`
      if (values.json) {
        console.log(JSON.stringify({ ...entry, at: entry.at.toISOString(), keyName: entry.keyId ? names.get(entry.keyId) : undefined }))
      } else {
        console.log(
          [entry.at.toISOString(), who, entry.action, entry.outcome, entry.fileId ?? '-', entry.fileOwner ?? '-', entry.ip ?? '-', entry.detail ?? ''].join('\t'),
        )
      }
    }
    return 0
  } finally {
    await metadata.close()
  }
}
