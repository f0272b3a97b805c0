import { createHmac, timingSafeEqual } from 'node:crypto'
import { ERRORS } from '../../errors.js'

/**
 * Expiring download links: `?expires=<unix seconds>&sig=<HMAC-SHA256>` over the file id
 * and expiry, so a link works without a header (for `<image src>`, wx.downloadFile, agents).
 * A link an API key asked for also names the key (`&key=<id>`, signed too), so that it stops
 * working once the key loses the file: its grant revoked, or the key itself revoked.
 */
export class UrlSigner {
  constructor(
    private readonly secret: Buffer,
    private readonly now: () => Date = () => new Date(),
  ) {}

  sign(fileId: string, ttlSeconds: number, keyId?: string): { expires: number; signature: string } {
    const expires = Math.floor(this.now().getTime() / 1000) + ttlSeconds
    return { expires, signature: this.signature(fileId, expires, keyId) }
  }

  /** Throws BAD_SIGNATURE for any tampering (checked first) and URL_EXPIRED once past its time. */
  verify(fileId: string, expiresText: string, signature: string, keyId?: string): void {
    if (!/^\d{1,12}$/.test(expiresText)) throw ERRORS.badSignature()
    const expires = Number(expiresText)
    const expected = Buffer.from(this.signature(fileId, expires, keyId))
    const presented = Buffer.from(signature)
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) throw ERRORS.badSignature()
    if (expires * 1000 <= this.now().getTime()) throw ERRORS.urlExpired()
  }

  private signature(fileId: string, expires: number, keyId: string | undefined): string {
    // Links without a key keep the first form, so that those already handed out stay valid.
    const payload = keyId === undefined ? `cabinet-download-v1\n${fileId}\n${expires}` : `cabinet-download-v2\n${fileId}\n${expires}\n${keyId}`
    return createHmac('sha256', this.secret).update(payload).digest('base64url')
  }
}

/**
 * An absolute, signed download URL for a file the caller may read, for `ttlSeconds` (at least one
 * second); never past `until`, the end of an API key's grant, so that a link cannot outlive it.
 */
export function signedFileUrl(
  signer: UrlSigner,
  request: { fileId: string; ttlSeconds: number; until: Date | undefined; keyId: string | undefined; origin: string; inline: boolean; now?: Date },
): { url: string; expiresAt: Date } {
  const now = (request.now ?? new Date()).getTime()
  const ttl = request.until ? Math.max(1, Math.min(request.ttlSeconds, Math.floor((request.until.getTime() - now) / 1000))) : request.ttlSeconds
  const { expires, signature } = signer.sign(request.fileId, ttl, request.keyId)
  const key = request.keyId === undefined ? '' : `&key=${request.keyId}`
  return {
    url: `${request.origin}/api/files/${request.fileId}?expires=${expires}${key}&sig=${signature}${request.inline ? '&inline=1' : ''}`,
    expiresAt: new Date(expires * 1000),
  }
}
