import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely'
import { PART_SEPARATOR, type ExtractedPart, type ExtractionFacts, type ExtractionLayout } from '../domain/extraction/extraction-types.js'
import type { EnqueueOptions } from '../jobs/job-queue.js'
import { precompile } from './precompiled.js'
import type { Database, FileExtractionsTable, FilesTable } from './database.js'
import { fileRowToStoredFile } from './file.repository.js'
import { KyselyJobQueue } from './job-queue.repository.js'
import type { ExtractionOutcome, ExtractionRecord, ExtractionRepository, SearchQuery, SearchRepository, StoredFile } from './metadata-store.js'

type Dialect = 'sqlite' | 'postgres'

/** Trigram search needs at least this many characters in a term; shorter ones are matched with LIKE. */
const TRIGRAM_CHARS = 3

interface StoredPart {
  readonly name?: string
  readonly start: number
  readonly end: number
}

function rowToRecord(row: Selectable<FileExtractionsTable>): ExtractionRecord {
  const content = row.content
  const stored = row.parts ? (JSON.parse(row.parts) as StoredPart[]) : []
  return {
    fileId: row.file_id,
    userId: row.user_id,
    status: row.status,
    jobId: row.job_id ?? undefined,
    error: row.error ?? undefined,
    layout: (row.layout ?? 'none') as ExtractionLayout,
    parts: stored.map((part): ExtractedPart => ({ ...(part.name === undefined ? {} : { name: part.name }), text: content.slice(part.start, part.end) })),
    content,
    facts: row.facts ? (JSON.parse(row.facts) as ExtractionFacts) : { truncated: false },
    wordCount: Number(row.word_count),
    updatedAt: new Date(Number(row.updated_at)),
  }
}

/** The parts' texts joined into one searchable string, with where each part lies in it. */
function layOut(parts: readonly ExtractedPart[]): { content: string; stored: StoredPart[] } {
  const stored: StoredPart[] = []
  let content = ''
  for (const [index, part] of parts.entries()) {
    if (index > 0) content += PART_SEPARATOR
    stored.push({ ...(part.name === undefined ? {} : { name: part.name }), start: content.length, end: content.length + part.text.length })
    content += part.text
  }
  return { content, stored }
}

const pendingExtraction = (db: Kysely<Database>, fileId: never, userId: never, name: never, jobId: never, now: never) =>
  db.insertInto('file_extractions').values({
    file_id: fileId,
    user_id: userId,
    name,
    status: 'pending' as const,
    job_id: jobId,
    content: '',
    word_count: 0,
    updated_at: now,
  })
/** Every upload records its pending extraction, so these inserts are compiled once (see precompile). */
const INSERT_PENDING = precompile(['fileId', 'userId', 'name', 'jobId', 'now'], pendingExtraction)
const INSERT_PENDING_IF_ABSENT = precompile(['fileId', 'userId', 'name', 'jobId', 'now'], (db: Kysely<Database>, ...values: never[]) =>
  pendingExtraction(db, ...(values as [never, never, never, never, never])).onConflict((oc) => oc.column('file_id').doNothing()),
)

/**
 * Records a ready file's extraction as pending, inside the caller's transaction. The SQLite search
 * index gets the file once extracted (an FTS5 write costs as much as the rest of an upload's
 * commit); until then search finds a pending file by name with LIKE. With `ifAbsent`, a row that
 * already exists is kept (returns false).
 */
export async function insertPendingExtraction(
  db: Kysely<Database>,
  row: { fileId: string; userId: string; name: string; jobId: string; now: number },
  options: { ifAbsent?: boolean } = {},
): Promise<boolean> {
  const query = (options.ifAbsent ? INSERT_PENDING_IF_ABSENT : INSERT_PENDING)(db, row.fileId, row.userId, row.name, row.jobId, row.now)
  const result = { numInsertedOrUpdatedRows: (await db.executeQuery(query)).numAffectedRows }
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
}

export class KyselyExtractionRepository implements ExtractionRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async find(fileId: string): Promise<ExtractionRecord | undefined> {
    const row = await this.db.selectFrom('file_extractions').selectAll().where('file_id', '=', fileId).executeTakeFirst()
    return row && rowToRecord(row)
  }

  async saveResult(fileId: string, outcome: ExtractionOutcome, options: { completeJob?: { id: string; workerId: string } } = {}): Promise<boolean> {
    const { content, stored } = layOut(outcome.parts)
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('file_extractions')
        .set({
          status: outcome.status,
          error: null,
          layout: outcome.layout,
          parts: JSON.stringify(stored),
          content,
          facts: JSON.stringify(outcome.facts),
          word_count: outcome.wordCount,
          updated_at: Date.now(),
        })
        .where('file_id', '=', fileId)
        .returning(['name', 'search_rowid'])
        .executeTakeFirst()
      if (row && this.dialect === 'sqlite') await this.reindex(trx, fileId, { ...row, content })
      const job = options.completeJob
      if (job) await new KyselyJobQueue(trx, this.dialect).complete(job.id, job.workerId)
      return row !== undefined
    })
  }

  async saveFailure(fileId: string, error: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('file_extractions')
        .set({ status: 'failed', error, updated_at: Date.now() })
        .where('file_id', '=', fileId)
        .returning(['name', 'search_rowid', 'content'])
        .executeTakeFirst()
      if (row && this.dialect === 'sqlite') await this.reindex(trx, fileId, row)
      return row !== undefined
    })
  }

  async queueMissing(options: { limit: number; job: (fileId: string) => EnqueueOptions }): Promise<number> {
    const missing = await this.db
      .selectFrom('files')
      .leftJoin('file_extractions', 'file_extractions.file_id', 'files.id')
      .select(['files.id', 'files.user_id', 'files.original_name'])
      .where('files.status', '=', 'ready')
      .where('file_extractions.file_id', 'is', null)
      .limit(options.limit)
      .execute()
    let queued = 0
    for (const file of missing) {
      const added = await this.db.transaction().execute(async (trx) => {
        const jobId = await new KyselyJobQueue(trx, this.dialect).enqueue(options.job(file.id))
        const row = { fileId: file.id, userId: file.user_id, name: file.original_name, jobId, now: Date.now() }
        return insertPendingExtraction(trx, row, { ifAbsent: true })
      })
      if (added) queued += 1
    }
    return queued
  }

  async failOrphaned(options: { limit: number }): Promise<number> {
    const orphans = await this.db
      .selectFrom('file_extractions')
      .leftJoin('jobs', 'jobs.id', 'file_extractions.job_id')
      .select(['file_extractions.file_id', 'jobs.last_error', 'jobs.state'])
      .where('file_extractions.status', '=', 'pending')
      .where((eb) => eb.or([eb('jobs.id', 'is', null), eb('jobs.state', '=', 'failed')]))
      .limit(options.limit)
      .execute()
    for (const orphan of orphans) {
      const reason = orphan.state === 'failed' ? (orphan.last_error ?? 'The extraction job failed') : 'The extraction job was lost'
      await this.saveFailure(orphan.file_id, reason)
    }
    return orphans.length
  }

  /** Puts the file's name and text in the FTS5 index, replacing its earlier entry. */
  private async reindex(
    trx: Kysely<Database>,
    fileId: string,
    row: { name: string; search_rowid: number | string | null; content: string },
  ): Promise<void> {
    if (row.search_rowid === null) {
      await sql`INSERT INTO file_search (name, body) VALUES (${row.name}, ${row.content})`.execute(trx)
      await trx.updateTable('file_extractions').set({ search_rowid: sql<number>`last_insert_rowid()` }).where('file_id', '=', fileId).execute()
      return
    }
    const rowid = Number(row.search_rowid)
    await sql`DELETE FROM file_search WHERE rowid = ${rowid}`.execute(trx)
    await sql`INSERT INTO file_search (rowid, name, body) VALUES (${rowid}, ${row.name}, ${row.content})`.execute(trx)
  }
}

/** `%term%` for LIKE, with the term's own wildcards escaped (escape character: backslash). */
function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/**
 * Which files a search may return: the user's own; for an API key also those granted to it at
 * that time, or every user's (`allUsers`). `owner` and `file` name the columns of the row's owner and file id.
 */
function readableBy(userId: string, query: SearchQuery, owner: string, file: string): RawBuilder<unknown> {
  if (query.allUsers) return sql`1 = 1`
  const own = sql`${sql.ref(owner)} = ${userId}`
  const grant = query.grantedTo
  if (!grant) return own
  return sql`(${own} OR ${sql.ref(file)} IN (
    SELECT g.file_id FROM file_grants g WHERE g.key_id = ${grant.keyId} AND g.revoked_at IS NULL AND g.expires_at > ${grant.at.getTime()}))`
}

/** A term as an FTS5 string: double quotes doubled, so nothing in it is query syntax. */
function ftsString(term: string): string {
  return `"${term.replaceAll('"', '""')}"`
}

export class KyselySearchRepository implements SearchRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async search(userId: string, query: SearchQuery): Promise<StoredFile[]> {
    if (query.terms.length === 0 || (query.kinds && query.kinds.length === 0)) return []
    const rows = this.dialect === 'sqlite' ? await this.searchSqlite(userId, query) : await this.searchPostgres(userId, query)
    return rows.map(fileRowToStoredFile)
  }

  /**
   * Two tiers, each cheap on a large index: files whose name holds every term (newest first),
   * then files whose name or text holds every term, most recently indexed first. Long terms go
   * through the FTS5 trigram index (CROSS JOIN keeps the index lookup first, so the scan stops
   * once the page is full); short ones are matched with LIKE.
   */
  private async searchSqlite(userId: string, query: SearchQuery): Promise<Array<Selectable<FilesTable>>> {
    const long = query.terms.filter((term) => [...term].length >= TRIGRAM_CHARS)
    const short = query.terms.filter((term) => [...term].length < TRIGRAM_CHARS)
    const kinds = query.kinds ? sql`AND f.kind IN (${sql.join([...query.kinds])})` : sql``
    const like = (column: string, term: string) => sql`${sql.ref(column)} LIKE ${containsPattern(term)} ESCAPE '\\'`
    const shortAnywhere = sql.join(short.map((term) => sql`AND (${like('e.name', term)} OR ${like('e.content', term)})`), sql` `)
    const nameHoldsAll = sql.join(query.terms.map((term) => like('e.name', term)), sql` AND `)
    const wanted = query.offset + query.limit
    const readable = (owner: string, file: string) => readableBy(userId, query, owner, file)

    const byName = long.length > 0
      ? await sql<Selectable<FilesTable>>`
          SELECT * FROM (
            SELECT f.* FROM file_search s
            CROSS JOIN file_extractions e ON e.search_rowid = s.rowid
            CROSS JOIN files f ON f.id = e.file_id
            WHERE file_search MATCH ${`{name}: (${long.map(ftsString).join(' AND ')})`} AND ${readable('e.user_id', 'e.file_id')} AND f.status = 'ready' ${kinds} AND ${nameHoldsAll}
            UNION ALL
            SELECT f.* FROM file_extractions e JOIN files f ON f.id = e.file_id
            WHERE ${readable('e.user_id', 'e.file_id')} AND e.status = 'pending' AND e.search_rowid IS NULL AND f.status = 'ready' ${kinds} AND ${nameHoldsAll}
          )
          ORDER BY uploaded_at DESC, id DESC LIMIT ${wanted}`.execute(this.db)
      : await sql<Selectable<FilesTable>>`
          SELECT f.* FROM file_extractions e JOIN files f ON f.id = e.file_id
          WHERE ${readable('e.user_id', 'e.file_id')} AND f.status = 'ready' ${kinds} AND ${nameHoldsAll}
          ORDER BY f.uploaded_at DESC, f.id DESC LIMIT ${wanted}`.execute(this.db)
    const named = byName.rows.slice(query.offset)
    if (byName.rows.length >= wanted) return named
    // Fewer name matches than the page reaches: byName.rows.length is their exact count.
    const limit = query.limit - named.length
    const offset = Math.max(0, query.offset - byName.rows.length)
    const byText = long.length > 0
      ? await sql<Selectable<FilesTable>>`
          SELECT f.* FROM file_search s
          CROSS JOIN file_extractions e ON e.search_rowid = s.rowid
          CROSS JOIN files f ON f.id = e.file_id
          WHERE file_search MATCH ${`{name body}: (${long.map(ftsString).join(' AND ')})`} AND ${readable('e.user_id', 'e.file_id')} AND f.status = 'ready' ${kinds} ${shortAnywhere}
            AND NOT (${nameHoldsAll})
          ORDER BY s.rowid DESC LIMIT ${limit} OFFSET ${offset}`.execute(this.db)
      : await sql<Selectable<FilesTable>>`
          SELECT f.* FROM files f
          CROSS JOIN file_extractions e ON e.file_id = f.id
          WHERE ${readable('f.user_id', 'f.id')} AND f.status = 'ready' ${kinds} ${shortAnywhere} AND NOT (${nameHoldsAll})
          ORDER BY f.uploaded_at DESC, f.id DESC LIMIT ${limit} OFFSET ${offset}`.execute(this.db)
    return [...named, ...byText.rows]
  }

  private async searchPostgres(userId: string, query: SearchQuery): Promise<Array<Selectable<FilesTable>>> {
    const patterns = query.terms.map(containsPattern)
    const kinds = query.kinds ? sql`AND f.kind IN (${sql.join([...query.kinds])})` : sql``
    const matches = sql.join(
      patterns.map((pattern) => sql`AND (e.name ILIKE ${pattern} OR e.content ILIKE ${pattern})`),
      sql` `,
    )
    const nameMatches = sql.join(
      patterns.map((pattern) => sql`e.name ILIKE ${pattern}`),
      sql` AND `,
    )
    const result = await sql<Selectable<FilesTable>>`
      SELECT f.* FROM file_extractions e
      JOIN files f ON f.id = e.file_id
      WHERE ${readableBy(userId, query, 'e.user_id', 'e.file_id')} AND f.status = 'ready' ${kinds} ${matches}
      ORDER BY (${nameMatches}) DESC, f.uploaded_at DESC, f.id DESC
      LIMIT ${query.limit} OFFSET ${query.offset}`.execute(this.db)
    return result.rows
  }
}
