import { describe, expect, it } from 'vitest'
import type { ApiKeyRecord, ApiKeyRepository } from '../../db/metadata-store.js'
import { ApiKeyService, looksLikeApiKey } from './api-key-service.js'

/** The ApiKeyRepository contract in memory. */
class MemoryKeys implements ApiKeyRepository {
  readonly records = new Map<string, ApiKeyRecord>()
  async insert(key: ApiKeyRecord): Promise<void> {
    if ([...this.records.values()].some((r) => r.name === key.name && !r.revokedAt)) throw new Error('duplicate name')
    this.records.set(key.id, key)
  }
  async findById(id: string) {
    return this.records.get(id)
  }
  async findActiveByName(name: string) {
    return [...this.records.values()].find((r) => r.name === name && !r.revokedAt)
  }
  async revoke(id: string, at: Date) {
    const record = this.records.get(id)
    if (!record || record.revokedAt) return false
    this.records.set(id, { ...record, revokedAt: at })
    return true
  }
  async list() {
    return [...this.records.values()]
  }
}

const START_MS = Date.UTC(2025, 0, 1)

function setup() {
  const clock = { nowMs: START_MS }
  const repository = new MemoryKeys()
  return { clock, repository, service: new ApiKeyService(repository, () => new Date(clock.nowMs)) }
}

describe('ApiKeyService', () => {
  it('issues cabk_<id>.<secret>, stores only a hash, and verifies it', async () => {
    const { service, repository } = setup()
    const issued = await service.issue({ name: 'openclaw', scopes: ['chat', 'files:read'] })
    expect(issued.key).toMatch(/^cabk_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/)
    expect(looksLikeApiKey(issued.key)).toBe(true)
    expect(looksLikeApiKey('cab_0123456789abcdef.x')).toBe(false)
    expect(issued.record).toMatchObject({ name: 'openclaw', scopes: ['files:read', 'chat'], allUsers: false, expiresAt: undefined })
    expect(JSON.stringify(repository.records.get(issued.record.id))).not.toContain(issued.key.split('.')[1])
    expect(await service.verify(issued.key)).toEqual(issued.record)
    const wrong = issued.key.slice(0, -1) + (issued.key.endsWith('A') ? 'B' : 'A')
    expect(await service.verify(wrong)).toBeUndefined()
    expect(await service.verify(`${issued.key} `)).toBeUndefined()
  })

  it('refuses unknown scopes, no scopes, bad names and a second active key of one name', async () => {
    const { service } = setup()
    await expect(service.issue({ name: 'a', scopes: ['files:delete' as never] })).rejects.toThrow(/unknown: files:delete/)
    await expect(service.issue({ name: 'a', scopes: [] })).rejects.toThrow(/Scopes must be/)
    await expect(service.issue({ name: 'has space', scopes: ['files:read'] })).rejects.toThrow(/Key name/)
    await service.issue({ name: 'twin', scopes: ['files:read'] })
    await expect(service.issue({ name: 'twin', scopes: ['files:read'] })).rejects.toThrow(/An active key named "twin"/)
  })

  it('stops verifying at expiry and at once when revoked by id, name or the key itself', async () => {
    const { service, clock } = setup()
    const expiring = await service.issue({ name: 'short', scopes: ['files:read'], ttlMs: 1000 })
    clock.nowMs = START_MS + 999
    expect(await service.verify(expiring.key)).toBeDefined()
    expect(await service.findActive('short')).toBeDefined()
    clock.nowMs = START_MS + 1000
    expect(await service.verify(expiring.key)).toBeUndefined()
    expect(await service.findActive('short')).toBeUndefined()

    for (const how of ['id', 'name', 'key'] as const) {
      const issued = await service.issue({ name: `k-${how}`, scopes: ['files:read'] })
      const target = how === 'id' ? issued.record.id : how === 'name' ? issued.record.name : issued.key
      expect(await service.revoke(target)).toBe(true)
      expect(await service.verify(issued.key)).toBeUndefined()
      expect(await service.findActive(issued.record.id)).toBeUndefined()
      expect(await service.revoke(target)).toBe(false)
    }
  })
})
