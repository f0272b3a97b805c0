import type { UserRepository } from '../../db/metadata-store.js'
import { isValidUserId } from '../auth/identity.js'

/** Stored for a user's own limit that is "no limit", so that the quota check needs no special case. */
const UNLIMITED = Number.MAX_SAFE_INTEGER

/** A user's usage and the limits in force for them; undefined limit: none. */
export interface QuotaStatus {
  readonly userId: string
  readonly usedBytes: number
  readonly usedFiles: number
  readonly maxBytes: number | undefined
  readonly maxFiles: number | undefined
  /** Whether each limit is the user's own (`cabinet user set-quota`) rather than the default. */
  readonly ownLimits: { readonly maxBytes: boolean; readonly maxFiles: boolean }
}

/** A new limit: a number, `unlimited`, or `default` to follow the configured default again. */
export type LimitChange = number | 'unlimited' | 'default'

/** Per-user storage limits: the configured defaults, and overrides per user. */
export class QuotaService {
  constructor(
    private readonly users: UserRepository,
    private readonly defaults: { readonly maxBytes: number | undefined; readonly maxFiles: number | undefined },
    private readonly now: () => Date = () => new Date(),
  ) {}

  async status(userId: string): Promise<QuotaStatus> {
    const usage = await this.users.usage(userId)
    const effective = (own: number | undefined, fallback: number | undefined) => {
      const limit = own ?? fallback
      return limit === undefined || limit >= UNLIMITED ? undefined : limit
    }
    return {
      userId,
      usedBytes: usage.usedBytes,
      usedFiles: usage.usedFiles,
      maxBytes: effective(usage.maxBytes, this.defaults.maxBytes),
      maxFiles: effective(usage.maxFiles, this.defaults.maxFiles),
      ownLimits: { maxBytes: usage.maxBytes !== undefined, maxFiles: usage.maxFiles !== undefined },
    }
  }

  async setLimits(userId: string, changes: { maxBytes?: LimitChange; maxFiles?: LimitChange }): Promise<QuotaStatus> {
    if (!isValidUserId(userId)) throw new Error('User id must be 1-128 characters: letters, digits and _ . : @ - (starting with a letter or digit)')
    const stored = (change: LimitChange | undefined) => {
      if (change === undefined) return undefined
      if (change === 'default') return null
      if (change === 'unlimited') return UNLIMITED
      if (!Number.isSafeInteger(change) || change < 0) throw new Error('A limit must be a whole number ≥ 0, "unlimited" or "default"')
      return change
    }
    await this.users.setQuota(userId, { maxBytes: stored(changes.maxBytes), maxFiles: stored(changes.maxFiles) }, this.now())
    return this.status(userId)
  }
}
