import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route lets the body in itself (`continueBody`) once it has checked what the head declares. */
    continuesBody?: boolean
  }
}

/** Lets a client that waits for `100 Continue` (`Expect: 100-continue`) send its body now; a no-op for any other. */
export function continueBody(request: FastifyRequest, reply: FastifyReply): void {
  if (request.headers.expect?.toLowerCase() === '100-continue' && !reply.raw.headersSent) reply.raw.writeContinue()
}

/**
 * Node answers `Expect: 100-continue` at once, so a client sends a body that is then refused unread
 * (no credentials, too large, over quota): a phone pays for megabytes it did not need to send.
 * Here the 100 goes out once the route's request hooks (authentication) have passed, before the body
 * is parsed; a route with `config.continuesBody` sends it itself, after its own checks.
 */
export function installExpectContinue(app: FastifyInstance): void {
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response))
  app.addHook('preParsing', (request, reply, payload, done) => {
    if (!request.routeOptions.config.continuesBody) continueBody(request, reply)
    done(null, payload)
  })
}
