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
        limits: { fileSize: limits.maxFileBytes + 1, files: 4, fields: 32, fieldSize: 64 * 1024, parts: 40, headerPairs: 50 },
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
      resolve({ fileName, stream })
    })
    parser.on('finish', () => {
      if (!file) resolve(undefined)
    })
    parser.on('error', (error: Error) => fail(ERRORS.truncatedUpload(error)))
    raw.on('close', () => {
      if (!raw.complete) fail(ERRORS.truncatedUpload(new Error('client went away mid-upload')))
    })
    raw.pipe(parser)
  })
}
