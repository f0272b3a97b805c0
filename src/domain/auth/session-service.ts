import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { UserRepository } from '../../db/metadata-store.js'
import { ERRORS } from '../../errors.js'
import { isPersonUserId, type Caller } from './identity.js'
import type { TokenService } from './token-service.js'

/** What WeChat's jscode2session tells about a login code; its session_key is dropped at the edge. */
export interface WechatSession {
  readonly openid: string
  readonly unionid: string | undefined
}

/**
 * The port to WeChat's `jscode2session`. Adapters throw Cabinet's WECHAT_* errors for WeChat's
 * error replies, time-outs and unreachable servers, and never keep or log the `session_key`.
 */
export interface WechatSessionClient {
  /** The Mini Program's app id, under which openids are issued. */
  readonly appId: string
  exchangeCode(code: string): Promise<WechatSession>
}

/** A signed-in session: a bearer token of limited life. */
export interface SignedIn {
  /** Shown once; only its hash is stored. */
  readonly token: string
  readonly expiresAt: Date
  readonly userId: string
  /** True when this sign-in created the Cabinet user. */
  readonly newUser: boolean
}

export interface SessionServiceOptions {
  readonly sessionTtlSeconds: number
  readonly devLogin: boolean
}

/**
 * Sign-in and sign-out. A WeChat login code becomes a Cabinet user (a stable `wx-<random>` id, never
 * the openid) and a token that expires after the session lifetime; sign-out revokes the token.
 */
export class SessionService {
  constructor(
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
    private readonly wechat: WechatSessionClient | undefined,
    private readonly options: SessionServiceOptions,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async signInWithWechat(code: string): Promise<SignedIn> {
    if (!this.wechat) throw ERRORS.wechatNotConfigured()
    const session = await this.wechat.exchangeCode(code)
    const { userId, created } = await this.users.signInWechat(
      { appId: this.wechat.appId, openid: session.openid, unionid: session.unionid },
      `wx-${randomBytes(8).toString('hex')}`,
      this.now(),
    )
    if (created) this.logger.info({ userId }, 'new user signed in with WeChat')
    return this.issue(userId, created)
  }

  /** Signs anyone in as any user: only when the operator turned dev sign-in on. */
  async signInForDev(userId: string): Promise<SignedIn> {
    if (!this.options.devLogin) throw ERRORS.devLoginDisabled()
    if (!isPersonUserId(userId)) {
      throw ERRORS.badRequest('user_id must be 1-128 characters: letters, digits and _ . : @ - (starting with a letter or digit, and not key:)')
    }
    this.logger.warn({ userId }, 'dev sign-in (CABINET_DEV_LOGIN=1)')
    return this.issue(userId, false)
  }

  /** Revokes the token the caller signed in with; API keys and gateway identities have none to end. */
  async signOut(caller: Caller): Promise<void> {
    if (caller.via !== 'token' || caller.tokenId === undefined) {
      throw ERRORS.badRequest('Only a signed-in token can sign out; API keys are revoked by the operator (cabinet key revoke)')
    }
    await this.tokens.revoke(caller.tokenId)
  }

  private async issue(userId: string, newUser: boolean): Promise<SignedIn> {
    const issued = await this.tokens.issue(userId, { ttlMs: this.options.sessionTtlSeconds * 1000 })
    return { token: issued.token, expiresAt: issued.record.expiresAt!, userId, newUser }
  }
}
