import { describe, expect, it } from 'vitest'
import { AppError } from '../../errors.js'
import { UrlSigner } from './signed-url.js'

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef')
const FILE_ID = 'a'.repeat(32)
const START_MS = Date.UTC(2025, 5, 1, 8, 0, 0)

/** A signer whose clock the test moves. */
function signerAt(startMs = START_MS, secret = SECRET) {
  const clock = { nowMs: startMs }
  return { signer: new UrlSigner(secret, () => new Date(clock.nowMs)), clock }
}

function codeOf(action: () => void): string | undefined {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    return (error as AppError).code
  }
  return undefined
}

describe('UrlSigner', () => {
  it('binds a link an API key asked for to that key: without it, or with another, the signature fails', () => {
    const { signer } = signerAt()
    const keyId = 'k'.repeat(16)
    const { expires, signature } = signer.sign(FILE_ID, 600, keyId)
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature, keyId))).toBeUndefined()
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature, 'j'.repeat(16)))).toBe('BAD_SIGNATURE')
    const plain = signer.sign(FILE_ID, 600)
    expect(codeOf(() => signer.verify(FILE_ID, String(plain.expires), plain.signature, keyId))).toBe('BAD_SIGNATURE')
  })

  it('signs an expiry ttl seconds from now, and the link verifies', () => {
    const { signer } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 600)
    expect(expires).toBe(START_MS / 1000 + 600)
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature))).toBeUndefined()
  })

  it('stays valid until one millisecond before its expiry', () => {
    const { signer, clock } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 60)
    clock.nowMs = expires * 1000 - 1
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature))).toBeUndefined()
  })

  it('answers URL_EXPIRED (403) from the moment of expiry', () => {
    const { signer, clock } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 60)
    clock.nowMs = expires * 1000
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature))).toBe('URL_EXPIRED')
    clock.nowMs += 86_400_000
    let error: unknown
    try {
      signer.verify(FILE_ID, String(expires), signature)
    } catch (caught) {
      error = caught
    }
    expect(error).toMatchObject({ code: 'URL_EXPIRED', status: 403 })
  })

  it('answers BAD_SIGNATURE (403) for a tampered signature', () => {
    const { signer } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 600)
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), flipped))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature.slice(0, -1)))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), `${signature}A`))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), ''))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), 'é'.repeat(43)))).toBe('BAD_SIGNATURE')
  })

  it('answers BAD_SIGNATURE for a tampered expiry, even one pushed into the future', () => {
    const { signer } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 600)
    expect(codeOf(() => signer.verify(FILE_ID, String(expires + 86_400), signature))).toBe('BAD_SIGNATURE')
    expect(codeOf(() => signer.verify(FILE_ID, String(expires - 1), signature))).toBe('BAD_SIGNATURE')
  })

  it.each([['abc'], [''], ['1e10'], ['-5'], ['12.5'], ['1234567890123']])('answers BAD_SIGNATURE for the malformed expiry %j', (expiresText) => {
    const { signer } = signerAt()
    const { signature } = signer.sign(FILE_ID, 600)
    expect(codeOf(() => signer.verify(FILE_ID, expiresText, signature))).toBe('BAD_SIGNATURE')
  })

  it('answers BAD_SIGNATURE when the link is used for another file', () => {
    const { signer } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 600)
    expect(codeOf(() => signer.verify('b'.repeat(32), String(expires), signature))).toBe('BAD_SIGNATURE')
  })

  it('answers BAD_SIGNATURE for a link signed with another secret', () => {
    const { signer: other } = signerAt(START_MS, Buffer.from('another secret of at least 32 bytes!'))
    const { signer } = signerAt()
    const { expires, signature } = other.sign(FILE_ID, 600)
    expect(codeOf(() => signer.verify(FILE_ID, String(expires), signature))).toBe('BAD_SIGNATURE')
  })

  it('checks tampering before expiry: an expired, tampered link is BAD_SIGNATURE', () => {
    const { signer, clock } = signerAt()
    const { expires, signature } = signer.sign(FILE_ID, 60)
    clock.nowMs += 3_600_000
    expect(codeOf(() => signer.verify(FILE_ID, String(expires + 1), signature))).toBe('BAD_SIGNATURE')
  })

  it('gives the same link for the same file, expiry and secret, so another instance can verify it', () => {
    const a = signerAt().signer.sign(FILE_ID, 600)
    const b = signerAt().signer.sign(FILE_ID, 600)
    expect(a).toEqual(b)
  })
})
