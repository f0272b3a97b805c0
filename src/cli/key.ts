import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import type { ApiKeyScope } from '../db/metadata-store.js'
import { API_KEY_SCOPES, ApiKeyService } from '../domain/auth/api-key-service.js'
import { parseDurationMs } from '../duration.js'
import { openMetadataStore } from '../db/open-metadata-store.js'

export async function keyCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, scope: { type: 'string' }, 'all-users': { type: 'boolean' }, ttl: { type: 'string' } },
    allowPositionals: true,
  })
  const config = loadConfig(process.env)
  const metadata = await openMetadataStore(config)
  const keys = new ApiKeyService(metadata.apiKeys)
  try {
    switch (action) {
      case 'create': {
        if (!values.name) throw new Error('key create needs --name <name>')
        if (!values.scope) throw new Error(`key create needs --scope, some of ${API_KEY_SCOPES.join(',')}`)
        const ttlMs = values.ttl === undefined ? undefined : parseDurationMs(values.ttl)
        if (values.ttl !== undefined && ttlMs === undefined) throw new Error(`--ttl "${values.ttl}" is not a duration like 90d, 12h, 10m or 5s`)
        const scopes = values.scope.split(',').map((scope) => scope.trim()).filter(Boolean) as ApiKeyScope[]
        const issued = await keys.issue({ name: values.name, scopes, allUsers: values['all-users'] === true, ...(ttlMs === undefined ? {} : { ttlMs }) })
        const { record } = issued
        const reach = record.allUsers ? 'every user\'s files' : 'only files granted to it'
        const expiry = record.expiresAt ? `expires ${record.expiresAt.toISOString()}` : 'never expires'
        console.log(`API key ${record.id} "${record.name}" with ${record.scopes.join(',')}: reads ${reach}; ${expiry}. It is shown only once:`)
        console.log(issued.key)
        return 0
      }
      case 'revoke': {
        const target = positionals[0]
        if (!target) throw new Error('key revoke needs a key, key id or name')
        if (!(await keys.revoke(target))) {
          console.error(`cabinet: no active key ${JSON.stringify(target.slice(0, 24))}`)
          return 1
        }
        console.log('Key revoked.')
        return 0
      }
      case 'list': {
        const now = new Date()
        for (const key of await keys.list()) {
          const state = key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= now ? 'expired' : 'active'
          console.log(
            [key.id, key.name, state, key.scopes.join(','), key.allUsers ? 'all-users' : 'granted-only', key.createdAt.toISOString(), key.expiresAt?.toISOString() ?? 'no-expiry'].join('\t'),
          )
        }
        return 0
      }
      default:
        throw new Error('usage: cabinet key create|revoke|list')
    }
  } finally {
    await metadata.close()
  }
}
