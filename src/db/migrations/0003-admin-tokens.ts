import type { Kysely } from 'kysely'

/** Tokens that may use the operator's routes (/api/admin/*), issued with `cabinet token create --admin`. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0)).execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tokens').dropColumn('admin').execute()
}
