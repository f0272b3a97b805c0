import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify'
import type { RateLimitConfig } from '../../config.js'
import type { RateLimitRepository } from '../../db/metadata-store.js'
import { ERRORS } from '../../errors.js'

/** What each kind of limited request is called in the 429 message. */
type LimitKind = 'uploads' | 'downloads' | 'logins' | 'chats' | 'requests'

/** The routes with limits of their own, and their kind; every other API route counts as `requests`. */
const LIMITED_ROUTES: ReadonlyArray<{ methods: readonly string[]; url: string; kind: LimitKind }> = [
  { methods: ['POST'], url: '/api/files/upload', kind: 'uploads' },
  { methods: ['GET', 'HEAD'], url: '/api/files/:id', kind: 'downloads' },
  { methods: ['POST'], url: '/api/auth/wechat', kind: 'logins' },
  { methods: ['POST'], url: '/api/auth/dev', kind: 'logins' },
  // Each chat may cost the operator an agent run.
  { methods: ['POST'], url: '/api/chat', kind: 'chats' },
]

/** Routes under the general `requests` limit unless listed above; health, metrics and the docs are not. */
function isApiRoute(url: string): boolean {
  return url.startsWith('/api/') || url === '/mcp'
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/**
 * The @fastify/rate-limit store for several instances: counters in the shared database, one
 * atomic statement per hit.
 */
function sharedStore(counters: RateLimitRepository) {
  return class SharedRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
      const now = new Date()
      counters.hit(key, timeWindow, now).then(
        ({ hits, resetAt }) => callback(null, { current: hits, ttl: Math.max(0, resetAt.getTime() - now.getTime()) }),
        (error: Error) => callback(error),
      )
    }

    child(): SharedRateLimitStore {
      return this
    }
  }
}

function asArray<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
}

/**
 * Per-IP and per-user limits on uploads, downloads, sign-ins and chats, and a general one on every other
 * API request (fixed windows; 0 turns a limit off).
 * The IP limit runs first, before the token is looked up; the user limit after authentication (a
 * signed-URL download has no user, so only its IP counts). On SQLite, a single instance, counters live
 * in process memory; on PostgreSQL, `counters` keeps them in the database so every instance shares them.
 * Must be installed before the routes are added.
 */
export async function installRateLimits(app: FastifyInstance, limits: RateLimitConfig, counters?: RateLimitRepository): Promise<void> {
  const perKind: Record<LimitKind, { ip: number; user: number }> = {
    uploads: { ip: limits.uploadsPerIp, user: limits.uploadsPerUser },
    downloads: { ip: limits.downloadsPerIp, user: limits.downloadsPerUser },
    logins: { ip: limits.loginsPerIp, user: 0 },
    chats: { ip: 0, user: limits.chatsPerUser },
    requests: { ip: limits.requestsPerIp, user: limits.requestsPerUser },
  }
  if (Object.values(perKind).every((kind) => kind.ip === 0 && kind.user === 0)) return
  await app.register(rateLimit, {
    global: false,
    timeWindow: limits.windowMs,
    ...(counters ? { store: sharedStore(counters) } : { cache: 20_000 }),
  })

  const windowText = limits.windowMs % 60_000 === 0 ? `${limits.windowMs / 60_000} min` : `${limits.windowMs / 1000} s`
  const check = async (limiter: Limiter, request: FastifyRequest, what: string) => {
    const result = await limiter(request)
    if (!result.isAllowed && result.isExceeded) {
      throw ERRORS.rateLimited(`Too many ${what}: at most ${result.max} per ${windowText}; retry in ${result.ttlInSeconds} s`, Math.max(1, result.ttlInSeconds))
    }
  }
  const limiterFor = (max: number, key: (request: FastifyRequest) => string) =>
    app.createRateLimit({ max, timeWindow: limits.windowMs, keyGenerator: key })

  const hooks = new Map<string, { onRequest?: onRequestHookHandler; preHandler?: preHandlerHookHandler }>()
  for (const [kind, { ip, user }] of Object.entries(perKind)) {
    const ipLimiter = ip > 0 ? limiterFor(ip, (request) => `${kind}:ip:${normalizeIP(request.ip)}`) : undefined
    const userLimiter = user > 0 ? limiterFor(user, (request) => `${kind}:user:${request.caller.userId}`) : undefined
    hooks.set(kind, {
      ...(ipLimiter ? { onRequest: async (request: FastifyRequest) => check(ipLimiter, request, `${kind} from this address`) } : {}),
      ...(userLimiter
        ? {
            preHandler: async (request: FastifyRequest) => {
              if (request.caller) await check(userLimiter, request, `${kind} for this user`)
            },
          }
        : {}),
    })
  }

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = asArray(route.method)
    const limited = LIMITED_ROUTES.find((r) => r.url === route.url && methods.some((m) => r.methods.includes(m)))
    const kind = limited?.kind ?? (isApiRoute(route.url) ? 'requests' : undefined)
    const hook = kind && hooks.get(kind)
    if (!hook) return
    if (hook.onRequest) route.onRequest = [hook.onRequest, ...asArray(route.onRequest)]
    if (hook.preHandler) route.preHandler = [...asArray(route.preHandler), hook.preHandler]
  })
}
