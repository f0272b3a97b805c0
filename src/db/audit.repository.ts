import type { Insertable, Kysely, Selectable } from 'kysely'
import type { AuditLogTable, Database } from './database.js'
import type { AuditEntry, AuditQuery, AuditRepository } from './metadata-store.js'

function auditRowToEntry(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: row.id,
    at: new Date(Number(row.at)),
    keyId: row.key_id ?? undefined,
    userId: row.user_id ?? undefined,
    action: row.action,
    fileId: row.file_id ?? undefined,
    fileOwner: row.file_owner ?? undefined,
    ip: row.ip ?? undefined,
    outcome: row.outcome,
    detail: row.detail ?? undefined,
  }
}

function entryToRow(entry: AuditEntry): Insertable<AuditLogTable> {
  return {
    id: entry.id,
    at: entry.at.getTime(),
    key_id: entry.keyId ?? null,
    user_id: entry.userId ?? null,
    action: entry.action,
    file_id: entry.fileId ?? null,
    file_owner: entry.fileOwner ?? null,
    ip: entry.ip ?? null,
    outcome: entry.outcome,
    detail: entry.detail ?? null,
  }
}

export class KyselyAuditRepository implements AuditRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(entry: AuditEntry): Promise<void> {
    await this.db.insertInto('audit_log').values(entryToRow(entry)).execute()
  }

  async list(query: AuditQuery): Promise<AuditEntry[]> {
    let select = this.db.selectFrom('audit_log').selectAll()
    if (query.keyId !== undefined) select = select.where('key_id', '=', query.keyId)
    if (query.fileId !== undefined) select = select.where('file_id', '=', query.fileId)
    if (query.since !== undefined) select = select.where('at', '>=', query.since.getTime())
    const rows = await select.orderBy('at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()
    return rows.map(auditRowToEntry)
  }

  async purgeBefore(before: Date): Promise<number> {
    const result = await this.db.deleteFrom('audit_log').where('at', '<', before.getTime()).executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  async listAfter(options: { after?: { atMs: number; id: string }; limit: number }): Promise<AuditEntry[]> {
    let select = this.db.selectFrom('audit_log').selectAll()
    const after = options.after
    if (after) select = select.where((eb) => eb.or([eb('at', '>', after.atMs), eb.and([eb('at', '=', after.atMs), eb('id', '>', after.id)])]))
    const rows = await select.orderBy('at').orderBy('id').limit(options.limit).execute()
    return rows.map(auditRowToEntry)
  }

  async importMissing(entries: readonly AuditEntry[]): Promise<number> {
    if (entries.length === 0) return 0
    const result = await this.db
      .insertInto('audit_log')
      .values(entries.map(entryToRow))
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst()
    return Number(result.numInsertedOrUpdatedRows ?? 0)
  }
}
