import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { TokenRecord, TokenRepository } from '../../db/metadata-store.js'
import { isPersonUserId } from './identity.js'

const TOKEN_PREFIX = 'cab_'
const TOKEN_FORMAT = /^cab_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export interface IssuedToken {
  /** Shown once; only its hash is stored. */
  readonly token: string
  readonly record: TokenRecord
}

/** Bearer tokens: `cab_<id>.<secret>`, looked up by id and compared by hash in constant time. */
export class TokenService {
  constructor(
    private readonly tokens: TokenRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async issue(userId: string, options: { ttlMs?: number; admin?: boolean } = {}): Promise<IssuedToken> {
    if (!isPersonUserId(userId)) {
      throw new Error('User id must be 1-128 characters: letters, digits and _ . : @ - (starting with a letter or digit, and not key:)')
    }
    const id = randomBytes(8).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const createdAt = this.now()
    const record: TokenRecord = {
      id,
      userId,
      secretHash: hashSecret(secret),
      createdAt,
      expiresAt: options.ttlMs === undefined ? undefined : new Date(createdAt.getTime() + options.ttlMs),
      revokedAt: undefined,
      admin: options.admin ?? false,
    }
    await this.tokens.insert(record)
    return { token: `${TOKEN_PREFIX}${id}.${secret}`, record }
  }

  /** The token's record when it is well-formed, known, unexpired and unrevoked; otherwise undefined. */
  async verify(token: string): Promise<TokenRecord | undefined> {
    const match = TOKEN_FORMAT.exec(token)
    if (!match) return undefined
    const record = await this.tokens.findById(match[1]!)
    if (!record) return undefined
    const presented = Buffer.from(hashSecret(match[2]!), 'hex')
    const stored = Buffer.from(record.secretHash, 'hex')
    if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) return undefined
    if (record.revokedAt) return undefined
    if (record.expiresAt && record.expiresAt.getTime() <= this.now().getTime()) return undefined
    return record
  }

  /** Revokes by token id or by the full token; false when nothing active matched. */
  async revoke(tokenOrId: string): Promise<boolean> {
    const id = TOKEN_FORMAT.exec(tokenOrId)?.[1] ?? tokenOrId
    return this.tokens.revoke(id, this.now())
  }

  list(userId?: string): Promise<TokenRecord[]> {
    return this.tokens.list(userId)
  }
}
