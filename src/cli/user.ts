import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { QuotaService, type LimitChange, type QuotaStatus } from '../domain/users/quota-service.js'
import { openMetadataStore } from '../db/open-metadata-store.js'
import { setRetentionCommand } from './user-retention.js'

function parseLimit(flag: string, text: string | undefined): LimitChange | undefined {
  if (text === undefined) return undefined
  if (text === 'unlimited' || text === 'default') return text
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new Error(`${flag} "${text}" must be a whole number, "unlimited" or "default"`)
  return Number(text)
}

function describe(status: QuotaStatus): string {
  const limit = (value: number | undefined, own: boolean) => `${value ?? 'unlimited'}${own ? '' : ' (default)'}`
  return `User ${status.userId}: ${status.usedBytes} of ${limit(status.maxBytes, status.ownLimits.maxBytes)} bytes, ${status.usedFiles} of ${limit(status.maxFiles, status.ownLimits.maxFiles)} files`
}

/** `cabinet user <action>`: one function per action, so that more can be added beside these. */
const USER_ACTIONS: Record<string, (quotas: QuotaService, args: string[]) => Promise<number>> = {
  'set-quota': async (quotas, args) => {
    const { values } = parseArgs({ args, options: { user: { type: 'string' }, 'max-bytes': { type: 'string' }, 'max-files': { type: 'string' } } })
    if (!values.user) throw new Error('user set-quota needs --user <id>')
    const maxBytes = parseLimit('--max-bytes', values['max-bytes'])
    const maxFiles = parseLimit('--max-files', values['max-files'])
    if (maxBytes === undefined && maxFiles === undefined) throw new Error('user set-quota needs --max-bytes and/or --max-files')
    console.log(describe(await quotas.setLimits(values.user, { ...(maxBytes === undefined ? {} : { maxBytes }), ...(maxFiles === undefined ? {} : { maxFiles }) })))
    return 0
  },
  show: async (quotas, args) => {
    const { values } = parseArgs({ args, options: { user: { type: 'string' } } })
    if (!values.user) throw new Error('user show needs --user <id>')
    console.log(describe(await quotas.status(values.user)))
    return 0
  },
}

export async function userCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args
  // Retention (issue 6) opens the store itself: it needs no quota service.
  if (action === 'set-retention') return setRetentionCommand(rest)
  const run = action === undefined ? undefined : USER_ACTIONS[action]
  if (!run) throw new Error(`usage: cabinet user ${[...Object.keys(USER_ACTIONS), 'set-retention'].join('|')}`)
  const config = loadConfig(process.env)
  const metadata = await openMetadataStore(config)
  try {
    return await run(new QuotaService(metadata.users, config.quota), rest)
  } finally {
    await metadata.close()
  }
}
