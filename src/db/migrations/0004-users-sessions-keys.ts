import { sql, type Kysely } from 'kysely'

/**
 * Users (quota overrides and exact usage), WeChat sign-in, API keys for agents, the grants
 * that let a key read a user's file, the audit log of key access, and the shared rate-limit
 * counters of instances on PostgreSQL.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('used_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('used_files', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('max_bytes', 'bigint')
    .addColumn('max_files', 'bigint')
    .execute()
  // Usage counts exactly the ready files; an existing install starts from what it holds.
  await sql`
    insert into users (id, created_at, used_bytes, used_files)
    select user_id, min(created_at), sum(size_bytes), count(*) from files where status = 'ready' group by user_id
  `.execute(db)

  await db.schema
    .createTable('wechat_accounts')
    .addColumn('app_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('openid', 'varchar(128)', (c) => c.notNull())
    .addColumn('unionid', 'varchar(128)')
    .addColumn('user_id', 'varchar(128)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_login_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('wechat_accounts_pk', ['app_id', 'openid'])
    .execute()
  await db.schema.createIndex('wechat_accounts_unionid').on('wechat_accounts').column('unionid').execute()
  await db.schema.createIndex('wechat_accounts_user').on('wechat_accounts').column('user_id').execute()

  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(64)', (c) => c.notNull())
    .addColumn('secret_hash', 'varchar(64)', (c) => c.notNull())
    .addColumn('scopes', 'varchar(200)', (c) => c.notNull())
    .addColumn('all_users', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute()
  // A name picks out one active key; a revoked key's name may be reused.
  await db.schema
    .createIndex('api_keys_active_name')
    .on('api_keys')
    .column('name')
    .unique()
    .where(sql.ref('revoked_at'), 'is', null)
    .execute()

  await db.schema
    .createTable('file_grants')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('file_id', 'varchar(32)', (c) => c.notNull().references('files.id').onDelete('cascade'))
    .addColumn('key_id', 'varchar(32)', (c) => c.notNull().references('api_keys.id'))
    .addColumn('granted_by', 'varchar(128)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute()
  await db.schema.createIndex('file_grants_key_file').on('file_grants').columns(['key_id', 'file_id']).execute()
  await db.schema.createIndex('file_grants_file').on('file_grants').column('file_id').execute()

  await db.schema
    .createTable('audit_log')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('key_id', 'varchar(32)')
    .addColumn('user_id', 'varchar(128)')
    .addColumn('action', 'varchar(64)', (c) => c.notNull())
    .addColumn('file_id', 'varchar(32)')
    .addColumn('file_owner', 'varchar(128)')
    .addColumn('ip', 'varchar(64)')
    .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute()
  await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute()
  await db.schema.createIndex('audit_log_key_at').on('audit_log').columns(['key_id', 'at']).execute()
  await db.schema.createIndex('audit_log_file_at').on('audit_log').columns(['file_id', 'at']).execute()

  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'varchar(300)', (c) => c.primaryKey())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('reset_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('rate_limits_reset_at').on('rate_limits').column('reset_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['rate_limits', 'audit_log', 'file_grants', 'api_keys', 'wechat_accounts', 'users']) {
    await db.schema.dropTable(table).execute()
  }
}
