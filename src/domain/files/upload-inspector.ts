import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { ERRORS } from '../../errors.js'
import type { FileTypeInfo } from './file-types.js'

/** Enough leading bytes to recognise every signature (PDF may start within the first KiB). */
const HEAD_BYTES = 1024

const MAGIC: ReadonlyArray<{ name: string; description: string; test: (head: Buffer) => boolean }> = [
  { name: 'jpg', description: 'a JPEG image', test: (h) => h.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff])) },
  { name: 'png', description: 'a PNG image', test: (h) => h.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex')) },
  { name: 'gif', description: 'a GIF image', test: (h) => /^GIF8[79]a/.test(h.subarray(0, 6).toString('latin1')) },
  {
    name: 'webp',
    description: 'a WebP image',
    test: (h) => h.subarray(0, 4).toString('latin1') === 'RIFF' && h.subarray(8, 12).toString('latin1') === 'WEBP',
  },
  { name: 'pdf', description: 'a PDF document', test: (h) => h.indexOf('%PDF-', 0, 'latin1') !== -1 },
  { name: 'ole2', description: 'a legacy Office (OLE2) document', test: (h) => h.subarray(0, 8).equals(Buffer.from('d0cf11e0a1b11ae1', 'hex')) },
  { name: 'zip', description: 'a ZIP archive', test: (h) => h.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04])) },
  { name: 'exe', description: 'a Windows executable', test: (h) => h.subarray(0, 2).toString('latin1') === 'MZ' },
  { name: 'elf', description: 'an ELF executable', test: (h) => h.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) },
]

/** What a file's first bytes look like, in words for an error message. */
export function describeContent(head: Buffer): string {
  const match = MAGIC.find((m) => m.test(head))
  if (match) return match.description
  return head.includes(0) ? 'unrecognised binary data' : 'text'
}

function headMatches(expected: FileTypeInfo, head: Buffer): boolean {
  const signature = expected.signature
  if ('magic' in signature) return MAGIC.find((m) => m.name === signature.magic)!.test(head)
  if ('ole2' in signature) return MAGIC.find((m) => m.name === 'ole2')!.test(head)
  if ('zip' in signature) return MAGIC.find((m) => m.name === 'zip')!.test(head)
  return !head.includes(0)
}

export interface InspectionResult {
  readonly sizeBytes: number
  readonly sha256: string
}

/**
 * Passes an upload through unchanged while counting, hashing, enforcing the size
 * limit and checking that the bytes are what the extension claims, so a bad upload
 * fails as soon as it can be known rather than after it is stored.
 */
export class UploadInspector extends Transform {
  private readonly hash: Hash = createHash('sha256')
  private sizeBytes = 0
  private head: Buffer = Buffer.alloc(0)
  private headChecked = false
  private readonly textDecoder: TextDecoder | undefined

  constructor(
    private readonly expected: FileTypeInfo,
    private readonly maxBytes: number,
  ) {
    super()
    this.textDecoder = 'text' in expected.signature ? new TextDecoder('utf-8', { fatal: true }) : undefined
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sizeBytes += chunk.length
    if (this.sizeBytes > this.maxBytes) return callback(ERRORS.fileTooLarge(this.maxBytes))
    this.hash.update(chunk)
    if (!this.headChecked) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_BYTES - this.head.length)])
      if (this.head.length >= HEAD_BYTES) {
        const error = this.checkHead()
        if (error) return callback(error)
      }
    }
    if (this.textDecoder) {
      const error = this.checkText(chunk, false)
      if (error) return callback(error)
    }
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    if (this.sizeBytes === 0) return callback(ERRORS.emptyFile())
    const error = (this.headChecked ? undefined : this.checkHead()) ?? (this.textDecoder ? this.checkText(Buffer.alloc(0), true) : undefined)
    callback(error)
  }

  /** Size and SHA-256 of everything that passed; valid once the stream has finished. */
  result(): InspectionResult {
    return { sizeBytes: this.sizeBytes, sha256: this.hash.digest('hex') }
  }

  private checkHead(): Error | undefined {
    this.headChecked = true
    if (headMatches(this.expected, this.head)) return undefined
    return ERRORS.fileTypeMismatch(this.expected.kind, describeContent(this.head))
  }

  private checkText(chunk: Buffer, final: boolean): Error | undefined {
    try {
      if (chunk.includes(0)) throw new Error('NUL byte')
      this.textDecoder!.decode(chunk, { stream: !final })
      return undefined
    } catch {
      return ERRORS.fileTypeMismatch(this.expected.kind, 'not UTF-8 text')
    }
  }
}
