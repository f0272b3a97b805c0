import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the stand-in answers for one code handed out by `login()`. */
type CodeBehaviour =
  | { kind: 'session'; openid: string; unionid?: string }
  | { kind: 'error'; errcode: number; errmsg: string }
  | { kind: 'slow'; delayMs: number }

/**
 * A local HTTP server that speaks WeChat's jscode2session protocol
 * (`GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`, HTTP 200 with a
 * JSON body labelled text/plain): checks the app id and secret, hands each code out once, and
 * answers WeChat's documented errcodes. Cabinet reaches it through CABINET_WECHAT_API_BASE, as
 * it reaches api.weixin.qq.com in production.
 */
export class WechatStandIn {
  readonly appId = `wx${randomBytes(8).toString('hex')}`
  readonly secret = randomBytes(16).toString('hex')
  /** Every session_key handed out, so tests can look for leaks. */
  readonly sessionKeys: string[] = []
  /** How many jscode2session calls arrived. */
  calls = 0
  private readonly codes = new Map<string, CodeBehaviour>()

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<WechatStandIn> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const standIn = new WechatStandIn(server, `http://127.0.0.1:${port}`)
    server.on('request', (request, response) => void standIn.handle(request.url ?? '', response))
    return standIn
  }

  /** What wx.login() gives a user: a fresh code that jscode2session turns into this openid once. */
  login(openid: string, unionid?: string): string {
    return this.code({ kind: 'session', openid, ...(unionid ? { unionid } : {}) })
  }

  /** A code that WeChat answers with this errcode. */
  failingCode(errcode: number, errmsg: string): string {
    return this.code({ kind: 'error', errcode, errmsg })
  }

  /** A code that WeChat takes this long to answer. */
  slowCode(delayMs: number): string {
    return this.code({ kind: 'slow', delayMs })
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    this.server.close()
    await once(this.server, 'close')
  }

  private code(behaviour: CodeBehaviour): string {
    const code = randomBytes(16).toString('hex')
    this.codes.set(code, behaviour)
    return code
  }

  private async handle(rawUrl: string, response: import('node:http').ServerResponse): Promise<void> {
    const url = new URL(rawUrl, 'http://stand-in')
    const reply = (body: Record<string, unknown>) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.end(JSON.stringify(body))
    }
    if (url.pathname !== '/sns/jscode2session') {
      response.writeHead(404).end()
      return
    }
    this.calls += 1
    const query = url.searchParams
    const rid = randomBytes(4).toString('hex')
    if (query.get('appid') !== this.appId) return reply({ errcode: 40013, errmsg: `invalid appid, rid: ${rid}` })
    if (query.get('secret') !== this.secret) return reply({ errcode: 40125, errmsg: `invalid appsecret, rid: ${rid}` })
    if (query.get('grant_type') !== 'authorization_code') return reply({ errcode: 40002, errmsg: `invalid grant_type, rid: ${rid}` })
    const code = query.get('js_code')
    if (!code) return reply({ errcode: 41008, errmsg: `missing code, rid: ${rid}` })
    const behaviour = this.codes.get(code)
    if (!behaviour) return reply({ errcode: 40029, errmsg: `invalid code, rid: ${rid}` })
    if (behaviour.kind === 'error') return reply({ errcode: behaviour.errcode, errmsg: `${behaviour.errmsg}, rid: ${rid}` })
    if (behaviour.kind === 'slow') {
      await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs))
      if (!response.destroyed) reply({ errcode: -1, errmsg: 'system error' })
      return
    }
    // A code works once; after that WeChat says it has been used.
    this.codes.set(code, { kind: 'error', errcode: 40163, errmsg: 'code been used' })
    const sessionKey = randomBytes(16).toString('base64')
    this.sessionKeys.push(sessionKey)
    reply({ session_key: sessionKey, openid: behaviour.openid, ...(behaviour.unionid ? { unionid: behaviour.unionid } : {}) })
  }
}
