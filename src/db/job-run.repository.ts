import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { Database, JobRunsTable } from './database.js'
import type { JobRun, JobRunOutcome, JobRunRepository } from './metadata-store.js'

function optionalDate(ms: number | string | null): Date | undefined {
  return ms === null ? undefined : new Date(Number(ms))
}

function jobRunRowToJobRun(row: Selectable<JobRunsTable>): JobRun {
  return {
    id: row.id,
    job: row.job,
    triggeredBy: row.triggered_by,
    scheduledFor: optionalDate(row.scheduled_for),
    instance: row.instance,
    startedAt: new Date(Number(row.started_at)),
    finishedAt: optionalDate(row.finished_at),
    outcome: row.outcome,
    summary: row.summary === null ? undefined : (JSON.parse(row.summary) as unknown),
    error: row.error ?? undefined,
  }
}

export class KyselyJobRunRepository implements JobRunRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async start(run: { job: string; triggeredBy: 'schedule' | 'cli'; scheduledFor?: Date; instance: string; startedAt: Date }): Promise<JobRun | undefined> {
    const row = await this.db
      .insertInto('job_runs')
      .values({
        id: randomBytes(16).toString('hex'),
        job: run.job,
        triggered_by: run.triggeredBy,
        scheduled_for: run.scheduledFor?.getTime() ?? null,
        instance: run.instance.slice(0, 64),
        started_at: run.startedAt.getTime(),
        finished_at: null,
        outcome: 'running',
        summary: null,
        error: null,
      })
      // Another instance already took this tick (NULL ticks never conflict: CLI runs).
      .onConflict((oc) => oc.columns(['job', 'scheduled_for']).doNothing())
      .returningAll()
      .executeTakeFirst()
    return row && jobRunRowToJobRun(row)
  }

  async finish(id: string, result: { outcome: Exclude<JobRunOutcome, 'running'>; finishedAt: Date; summary?: unknown; error?: string }): Promise<void> {
    await this.db
      .updateTable('job_runs')
      .set({
        outcome: result.outcome,
        finished_at: result.finishedAt.getTime(),
        summary: result.summary === undefined ? null : JSON.stringify(result.summary),
        error: result.error ?? null,
      })
      .where('id', '=', id)
      .execute()
  }

  async markInterrupted(job: string, exceptId: string, at: Date): Promise<number> {
    const result = await this.db
      .updateTable('job_runs')
      .set({ outcome: 'interrupted', finished_at: at.getTime(), error: 'The process running it stopped before it finished' })
      .where('job', '=', job)
      .where('outcome', '=', 'running')
      .where('id', '!=', exceptId)
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  async list(options: { job?: string; limit: number }): Promise<JobRun[]> {
    let select = this.db.selectFrom('job_runs').selectAll()
    if (options.job !== undefined) select = select.where('job', '=', options.job)
    const rows = await select.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute()
    return rows.map(jobRunRowToJobRun)
  }
}
