import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { isValidUserId } from '../domain/auth/identity.js'
import { parseDurationMs } from '../duration.js'
import { openMetadataStore } from '../db/open-metadata-store.js'

const USAGE = 'usage: cabinet user set-retention --user <id> (--older-than 90d | --never | --default)'

/** `cabinet user set-retention`: a user's own retention, overriding CABINET_RETENTION for their files. */
export async function setRetentionCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { user: { type: 'string' }, 'older-than': { type: 'string' }, never: { type: 'boolean' }, default: { type: 'boolean' } } })
  const user = values.user
  if (!user || !isValidUserId(user)) throw new Error(`set-retention needs --user <id> (a valid user id)\n${USAGE}`)
  const choices = [values['older-than'] !== undefined, values.never === true, values.default === true].filter(Boolean).length
  if (choices !== 1) throw new Error(`set-retention needs exactly one of --older-than, --never, --default\n${USAGE}`)
  let retentionMs: number | null | undefined
  if (values['older-than'] !== undefined) {
    retentionMs = parseDurationMs(values['older-than'])
    if (retentionMs === undefined) throw new Error(`--older-than "${values['older-than']}" is not a duration like 90d, 12h, 10m or 5s`)
  } else if (values.never) retentionMs = null

  const config = loadConfig(process.env)
  const metadata = await openMetadataStore(config)
  try {
    if (retentionMs === undefined) {
      await metadata.retention.clearPolicy(user)
      const global = config.retentionMs === undefined ? 'never expire' : `expire after ${describe(config.retentionMs)}`
      console.log(`User ${user} now follows the global retention (CABINET_RETENTION: files ${global}).`)
    } else {
      await metadata.retention.setPolicy(user, retentionMs, new Date())
      console.log(retentionMs === null ? `Files of user ${user} now never expire.` : `Files of user ${user} now expire ${values['older-than']} after upload (unless pinned).`)
    }
    return 0
  } finally {
    await metadata.close()
  }
}

function describe(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${Math.round(ms / 1000)}s`
}
