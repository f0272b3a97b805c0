import type { Migration } from 'kysely'
import * as filesAndTokens from './0001-files-and-tokens.js'

/** Every migration, in order. Names are stable: they are recorded in the database. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-files-and-tokens': filesAndTokens,
}
