import type { FastifyReply } from 'fastify'

/**
 * Takes the response over from Fastify, keeping the headers already set on the reply (security
 * headers, CORS): a hijacked reply is written by hand, and Fastify would not send them.
 */
export function hijackKeepingHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value)
  reply.hijack()
}
