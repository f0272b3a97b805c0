import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { Busboy } from '@fastify/busboy'
import { ERRORS } from '../errors.js'

export interface MultipartFile {
  /** As the client sent it; untrusted. */
  readonly fileName: string | undefined
  /** Errors if the body ends early or the client goes away, so a consumer never waits forever. */
  readonly stream: Readable
}

/** Parts read before the file at most; a form with more is refused rather than its file missed. */
const MAX_FILES = 4
const MAX_FIELDS = 32
const MAX_PARTS = 40

/**
 * Browsers and curl send `"`, CR and LF in a multipart file name as %22, %0D and %0A (WHATWG
 * multipart/form-data encoding); those three are decoded, anything else stays as sent.
 */
function decodeFormFileName(fileName: string | undefined): string | undefined {
  return fileName?.replace(/%(22|0d|0a)/gi, (_escape, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

export interface MultipartLimits {
  /** The file stream is cut one byte past this, so the consumer can tell "too large" from "exactly at the limit". */
  readonly maxFileBytes: number
}

/**
 * Streams the part named `fieldName` out of a multipart/form-data request: resolves as
 * soon as that part starts, or with undefined when the form ends without it. Other
 * fields and files are read and discarded.
 */
export function readMultipartFile(raw: IncomingMessage, fieldName: string, limits: MultipartLimits): Promise<MultipartFile | undefined> {
  return new Promise((resolve, reject) => {
    let parser: InstanceType<typeof Busboy>
    try {
      parser = new Busboy({
        headers: raw.headers as ConstructorParameters<typeof Busboy>[0]['headers'],
        limits: { fileSize: limits.maxFileBytes + 1, files: MAX_FILES, fields: MAX_FIELDS, fieldSize: 64 * 1024, parts: MAX_PARTS, headerPairs: 50 },
      })
    } catch {
      return reject(ERRORS.noFile())
    }
    let file: Readable | undefined

    // Reads and drops the rest of the body, so that a client still sending it gets to read the answer
    // (the request was consumed, so Node does not drain it by itself); the request timeout bounds it.
    const discardRest = () => {
      raw.unpipe(parser)
      raw.resume()
    }
    const fail = (error: Error) => {
      discardRest()
      if (!file) return reject(error)
      if (!file.destroyed) file.destroy(error)
    }

    parser.on('file', (name, stream, fileName) => {
      // The consumer's pipeline reports errors; this keeps a late one from going unhandled.
      stream.on('error', () => {})
      if (file || name !== fieldName) return void stream.resume()
      file = stream
      // Refused mid-stream (type, size, storage): the parser would wait for it forever.
      stream.once('close', () => {
        if (!stream.readableEnded) discardRest()
      })
      resolve({ fileName: decodeFormFileName(fileName), stream })
    })
    // Past a limit the parser skips the rest of the form, so a file still to come would look missing.
    const tooManyParts = () => {
      if (!file) {
        fail(ERRORS.badRequest(`The form has too many parts before its "file" field (at most ${MAX_PARTS}: ${MAX_FILES} files, ${MAX_FIELDS} fields); send the file first`))
      }
    }
    parser.on('partsLimit', tooManyParts)
    parser.on('filesLimit', tooManyParts)
    parser.on('fieldsLimit', tooManyParts)
    parser.on('finish', () => {
      if (!file) resolve(undefined)
    })
    // A form that ends before it began is no upload at all, not a cut-off one.
    let bodyBegan = false
    raw.once('data', () => (bodyBegan = true))
    parser.on('error', (error: Error) => fail(bodyBegan ? ERRORS.truncatedUpload(error) : ERRORS.noFile()))
    raw.on('close', () => {
      if (!raw.complete) fail(ERRORS.truncatedUpload(new Error('client went away mid-upload')))
    })
    raw.pipe(parser)
  })
}
