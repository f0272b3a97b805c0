import { describe, expect, it } from 'vitest'
import type { TokenRecord, TokenRepository } from '../../db/metadata-store.js'
import { TokenService } from './token-service.js'

/** The TokenRepository contract in memory: revoke is false unless an unrevoked token had that id. */
class MemoryTokens implements TokenRepository {
  readonly records = new Map<string, TokenRecord>()

  async insert(token: TokenRecord): Promise<void> {
    if (this.records.has(token.id)) throw new Error('duplicate id')
    this.records.set(token.id, token)
  }

  async findById(id: string): Promise<TokenRecord | undefined> {
    return this.records.get(id)
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const record = this.records.get(id)
    if (!record || record.revokedAt) return false
    this.records.set(id, { ...record, revokedAt: at })
    return true
  }

  async list(userId?: string): Promise<TokenRecord[]> {
    return [...this.records.values()].filter((r) => userId === undefined || r.userId === userId)
  }
}

const START_MS = Date.UTC(2025, 0, 1)
const TOKEN_SHAPE = /^cab_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/

function setup() {
  const clock = { nowMs: START_MS }
  const repository = new MemoryTokens()
  const service = new TokenService(repository, () => new Date(clock.nowMs))
  return { clock, repository, service }
}

describe('TokenService', () => {
  it('issues a cab_<id>.<secret> token that verifies to its record', async () => {
    const { service } = setup()
    const issued = await service.issue('alice')
    expect(issued.token).toMatch(TOKEN_SHAPE)
    expect(issued.token.slice(4, 20)).toBe(issued.record.id)
    expect(issued.record).toMatchObject({ userId: 'alice', createdAt: new Date(START_MS), expiresAt: undefined, revokedAt: undefined, admin: false })
    expect((await service.verify((await service.issue('ops', { admin: true })).token))?.admin).toBe(true)
    expect(await service.verify(issued.token)).toEqual(issued.record)
  })

  it('stores only a hash of the secret', async () => {
    const { service, repository } = setup()
    const issued = await service.issue('alice')
    const secret = issued.token.split('.')[1]!
    const stored = repository.records.get(issued.record.id)!
    expect(stored.secretHash).toMatch(/^[0-9a-f]{64}$/)
    expect(JSON.stringify(stored)).not.toContain(secret)
  })

  it('issues a different token every time', async () => {
    const { service } = setup()
    const tokens = await Promise.all(Array.from({ length: 20 }, () => service.issue('alice')))
    expect(new Set(tokens.map((t) => t.token)).size).toBe(20)
    expect(new Set(tokens.map((t) => t.record.id)).size).toBe(20)
  })

  it('refuses a token whose secret is wrong, or whose id is unknown', async () => {
    const { service } = setup()
    const issued = await service.issue('alice')
    const [prefix, secret] = issued.token.split('.') as [string, string]
    const wrongSecret = `${prefix}.${(secret[0] === 'A' ? 'B' : 'A') + secret.slice(1)}`
    expect(await service.verify(wrongSecret)).toBeUndefined()
    const otherId = `cab_${'0'.repeat(16)}.${secret}`
    expect(await service.verify(otherId)).toBeUndefined()
  })

  it.each([
    ['empty', ''],
    ['no prefix', 'x'.repeat(60)],
    ['a bearer header', 'Bearer cab_0123456789abcdef.' + 'a'.repeat(43)],
    ['an upper-case id', 'cab_0123456789ABCDEF.' + 'a'.repeat(43)],
    ['a short secret', 'cab_0123456789abcdef.' + 'a'.repeat(42)],
    ['a long secret', 'cab_0123456789abcdef.' + 'a'.repeat(44)],
    ['a padded secret', 'cab_0123456789abcdef.' + 'a'.repeat(42) + '='],
    ['no dot', 'cab_0123456789abcdef' + 'a'.repeat(43)],
    ['trailing white space', 'cab_0123456789abcdef.' + 'a'.repeat(43) + ' '],
  ])('rejects a malformed token (%s) without a lookup', async (_label, token) => {
    const { service, repository } = setup()
    let lookups = 0
    const findById = repository.findById.bind(repository)
    repository.findById = async (id) => {
      lookups += 1
      return findById(id)
    }
    expect(await service.verify(token)).toBeUndefined()
    expect(lookups).toBe(0)
  })

  it('rejects a well-formed token whose trailing characters were changed', async () => {
    const { service } = setup()
    const issued = await service.issue('alice')
    expect(await service.verify(`${issued.token}x`)).toBeUndefined()
    expect(await service.verify(` ${issued.token}`)).toBeUndefined()
  })

  describe('expiry (injected clock)', () => {
    it('sets expiresAt from ttlMs and stops verifying at that moment', async () => {
      const { service, clock } = setup()
      const issued = await service.issue('alice', { ttlMs: 60_000 })
      expect(issued.record.expiresAt).toEqual(new Date(START_MS + 60_000))
      clock.nowMs = START_MS + 59_999
      expect(await service.verify(issued.token)).toBeDefined()
      clock.nowMs = START_MS + 60_000
      expect(await service.verify(issued.token)).toBeUndefined()
      clock.nowMs = START_MS + 86_400_000
      expect(await service.verify(issued.token)).toBeUndefined()
    })

    it('never expires a token issued without ttlMs', async () => {
      const { service, clock } = setup()
      const issued = await service.issue('alice')
      clock.nowMs = START_MS + 10 * 365 * 86_400_000
      expect(await service.verify(issued.token)).toBeDefined()
    })
  })

  describe('revoke', () => {
    it('revokes by token id: the token stops verifying and a second revoke is false', async () => {
      const { service, repository, clock } = setup()
      const issued = await service.issue('alice')
      clock.nowMs = START_MS + 1000
      expect(await service.revoke(issued.record.id)).toBe(true)
      expect(repository.records.get(issued.record.id)?.revokedAt).toEqual(new Date(START_MS + 1000))
      expect(await service.verify(issued.token)).toBeUndefined()
      expect(await service.revoke(issued.record.id)).toBe(false)
    })

    it('revokes by the full token', async () => {
      const { service } = setup()
      const issued = await service.issue('alice')
      const other = await service.issue('alice')
      expect(await service.revoke(issued.token)).toBe(true)
      expect(await service.verify(issued.token)).toBeUndefined()
      expect(await service.verify(other.token)).toBeDefined()
    })

    it('is false for an unknown token or id', async () => {
      const { service } = setup()
      expect(await service.revoke('0123456789abcdef')).toBe(false)
      expect(await service.revoke(`cab_0123456789abcdef.${'a'.repeat(43)}`)).toBe(false)
    })
  })

  it('lists tokens by user', async () => {
    const { service } = setup()
    const a = await service.issue('alice')
    const b = await service.issue('bob')
    expect((await service.list('alice')).map((r) => r.id)).toEqual([a.record.id])
    expect((await service.list()).map((r) => r.id).sort()).toEqual([a.record.id, b.record.id].sort())
  })

  it.each([
    ['wx:oAbC-123_x@y.z'],
    ['alice'],
    ['7'],
    ['u'.repeat(128)],
  ])('issues tokens for the valid user id %j', async (userId) => {
    const { service } = setup()
    expect((await service.issue(userId)).record.userId).toBe(userId)
  })

  it.each([
    ['empty', ''],
    ['a space', 'alice smith'],
    ['a leading dash', '-alice'],
    ['a leading dot', '.alice'],
    ['a slash', 'alice/bob'],
    ['a NUL', 'alice\u0000'],
    ['non-ASCII letters', '用户'],
    ['129 characters', 'u'.repeat(129)],
    ['a newline', 'alice\nadmin'],
    ["an API key's space", 'key:0123456789abcdef'],
  ])('refuses a user id with %s and stores nothing', async (_label, userId) => {
    const { service, repository } = setup()
    await expect(service.issue(userId)).rejects.toThrow(/User id/)
    expect(repository.records.size).toBe(0)
  })

  describe('with a verification cache', () => {
    function cached(cacheMs: number) {
      const clock = { nowMs: START_MS }
      const repository = new MemoryTokens()
      let lookups = 0
      const counting: TokenRepository = { ...repository, insert: (t) => repository.insert(t), revoke: (id, at) => repository.revoke(id, at), list: (u) => repository.list(u), findById: (id) => (lookups++, repository.findById(id)) }
      const service = new TokenService(counting, () => new Date(clock.nowMs), { cacheMs })
      return { clock, repository, service, lookups: () => lookups }
    }

    it('asks the database once per token per cache period', async () => {
      const { clock, service, lookups } = cached(1000)
      const { token } = await service.issue('alice')
      for (let i = 0; i < 5; i++) expect(await service.verify(token)).toBeDefined()
      expect(lookups()).toBe(1)
      clock.nowMs += 1000
      expect(await service.verify(token)).toBeDefined()
      expect(lookups()).toBe(2)
    })

    it('never lets a wrong secret through a cached token', async () => {
      const { service } = cached(1000)
      const { token } = await service.issue('alice')
      await service.verify(token)
      expect(await service.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined()
    })

    it('a revocation through the service ends the token at once; one made elsewhere within the cache period', async () => {
      const { clock, repository, service } = cached(1000)
      const here = await service.issue('alice')
      await service.verify(here.token)
      await service.revoke(here.token)
      expect(await service.verify(here.token)).toBeUndefined()

      const elsewhere = await service.issue('alice')
      await service.verify(elsewhere.token)
      await repository.revoke(elsewhere.record.id, new Date(clock.nowMs))
      clock.nowMs += 1000
      expect(await service.verify(elsewhere.token)).toBeUndefined()
    })

    it('a cached token still expires on time', async () => {
      const { clock, service } = cached(60_000)
      const { token } = await service.issue('alice', { ttlMs: 500 })
      expect(await service.verify(token)).toBeDefined()
      clock.nowMs += 500
      expect(await service.verify(token)).toBeUndefined()
    })
  })
})
