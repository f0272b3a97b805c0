import type { Logger } from 'pino'
import type { WechatSession, WechatSessionClient } from '../domain/auth/session-service.js'
import { ERRORS } from '../errors.js'

export interface Jscode2SessionOptions {
  /** `https://api.weixin.qq.com` in production; a local stand-in's URL in tests. No trailing slash. */
  readonly apiBase: string
  readonly appId: string
  readonly secret: string
  /** The whole call, answer included, must finish within this. */
  readonly timeoutMs: number
}

/** Replies are a few hundred bytes; anything far larger is not WeChat. */
const MAX_REPLY_BYTES = 64 * 1024

/**
 * WeChat's code-to-session exchange for Mini Programs:
 * `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`
 * (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html).
 * WeChat answers HTTP 200 with JSON (often labelled text/plain): `{openid, session_key, unionid?}`
 * or `{errcode, errmsg}`. The URL carries the app secret, so it is never logged.
 */
export class Jscode2SessionClient implements WechatSessionClient {
  readonly appId: string

  constructor(
    private readonly options: Jscode2SessionOptions,
    private readonly logger: Logger,
  ) {
    this.appId = options.appId
  }

  async exchangeCode(code: string): Promise<WechatSession> {
    const query = new URLSearchParams({
      appid: this.options.appId,
      secret: this.options.secret,
      js_code: code,
      grant_type: 'authorization_code',
    })
    let text: string
    try {
      const response = await fetch(`${this.options.apiBase}/sns/jscode2session?${query}`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        headers: { accept: 'application/json' },
      })
      if (!response.ok) {
        await response.body?.cancel()
        throw ERRORS.wechatError(`WeChat answered HTTP ${response.status}`)
      }
      text = await response.text()
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw ERRORS.wechatTimeout(this.options.timeoutMs)
      if ((error as { code?: string }).code === 'WECHAT_ERROR') throw error
      // The cause may quote the request, and so the secret: keep only its code.
      const reason = ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name) || 'network error'
      throw ERRORS.wechatError(`WeChat could not be reached (${reason})`)
    }
    if (text.length > MAX_REPLY_BYTES) throw ERRORS.wechatError('WeChat sent an unexpected reply')
    let reply: { errcode?: unknown; errmsg?: unknown; openid?: unknown; unionid?: unknown }
    try {
      reply = JSON.parse(text) as typeof reply
    } catch {
      throw ERRORS.wechatError('WeChat sent a reply that is not JSON')
    }
    const errcode = reply.errcode === undefined ? 0 : Number(reply.errcode)
    if (errcode !== 0) {
      this.logger.warn({ errcode, errmsg: typeof reply.errmsg === 'string' ? reply.errmsg.slice(0, 200) : undefined }, 'WeChat refused a login code')
      throw wechatErrorFor(errcode)
    }
    if (typeof reply.openid !== 'string' || reply.openid === '' || reply.openid.length > 128) {
      throw ERRORS.wechatError('WeChat sent no openid')
    }
    const unionid = typeof reply.unionid === 'string' && reply.unionid !== '' && reply.unionid.length <= 128 ? reply.unionid : undefined
    return { openid: reply.openid, unionid }
  }
}

/** WeChat's documented errcodes for jscode2session, as Cabinet errors. */
function wechatErrorFor(errcode: number): Error {
  switch (errcode) {
    case 40029: // invalid code
    case 40163: // code been used
      return ERRORS.wechatCodeInvalid()
    case 45011: // API minute-quota reached: WeChat asks to retry in the next minute
      return ERRORS.wechatRateLimited(60)
    case 40226: // high-risk user, login blocked
      return ERRORS.wechatLoginBlocked()
    case -1: // system busy
      return ERRORS.wechatBusy(2)
    default: // e.g. 40013 invalid appid, 40125 invalid secret: the operator's configuration
      return ERRORS.wechatError(`WeChat refused the request (errcode ${errcode})`)
  }
}
