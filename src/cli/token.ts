import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { TokenService } from '../domain/auth/token-service.js'
import { parseDurationMs } from '../duration.js'
import { openMetadataStore } from '../db/open-metadata-store.js'

export async function tokenCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    options: { user: { type: 'string' }, ttl: { type: 'string' }, admin: { type: 'boolean' } },
    allowPositionals: true,
  })
  const config = loadConfig(process.env)
  const metadata = await openMetadataStore(config)
  const tokens = new TokenService(metadata.tokens)
  try {
    switch (action) {
      case 'create': {
        if (!values.user) throw new Error('token create needs --user <id>')
        const ttlMs = values.ttl === undefined ? undefined : parseDurationMs(values.ttl)
        if (values.ttl !== undefined && ttlMs === undefined) throw new Error(`--ttl "${values.ttl}" is not a duration like 30d, 12h, 10m or 5s`)
        const issued = await tokens.issue(values.user, { ...(ttlMs === undefined ? {} : { ttlMs }), admin: values.admin === true })
        const expiry = issued.record.expiresAt ? `expires ${issued.record.expiresAt.toISOString()}` : 'never expires'
        const role = issued.record.admin ? 'admin token' : 'Token'
        console.log(`${role} ${issued.record.id} for user ${values.user} (${expiry}). It is shown only once:`)
        console.log(issued.token)
        return 0
      }
      case 'revoke': {
        const target = positionals[0]
        if (!target) throw new Error('token revoke needs a token or token id')
        if (!(await tokens.revoke(target))) {
          console.error(`cabinet: no active token ${JSON.stringify(target.slice(0, 24))}`)
          return 1
        }
        console.log('Token revoked.')
        return 0
      }
      case 'list': {
        for (const token of await tokens.list(values.user)) {
          const state = token.revokedAt ? 'revoked' : token.expiresAt && token.expiresAt <= new Date() ? 'expired' : 'active'
          console.log(
            [token.id, token.userId, state, token.createdAt.toISOString(), token.expiresAt?.toISOString() ?? 'no-expiry', token.admin ? 'admin' : 'user'].join('\t'),
          )
        }
        return 0
      }
      default:
        throw new Error('usage: cabinet token create|revoke|list')
    }
  } finally {
    await metadata.close()
  }
}
