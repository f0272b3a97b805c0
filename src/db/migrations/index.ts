import type { Migration } from 'kysely'
import * as filesAndTokens from './0001-files-and-tokens.js'
import * as settingsJobsLocks from './0002-settings-jobs-locks.js'
import * as adminTokens from './0003-admin-tokens.js'
import * as usersSessionsKeys from './0004-users-sessions-keys.js'
import * as operations from './0005-operations.js'
import * as extraction from './0006-extraction.js'
import * as chat from './0007-chat.js'
import * as jobClaimOrder from './0008-job-claim-order.js'

/** Every migration, in order. Names are stable: they are recorded in the database. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-files-and-tokens': filesAndTokens,
  '0002-settings-jobs-locks': settingsJobsLocks,
  '0003-admin-tokens': adminTokens,
  '0004-users-sessions-keys': usersSessionsKeys,
  '0005-operations': operations,
  '0006-extraction': extraction,
  '0007-chat': chat,
  '0008-job-claim-order': jobClaimOrder,
}
