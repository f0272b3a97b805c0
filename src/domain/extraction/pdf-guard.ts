import { inflateSync } from 'node:zlib'
import { decompressedTooLarge } from './zip-guard.js'

const STREAM = Buffer.from('stream')
const END_STREAM = Buffer.from('endstream')
/** Filters may be chained ([/FlateDecode /FlateDecode]); inflate that many layers deep. */
const MAX_LAYERS = 4

/**
 * Refuses a PDF whose streams would inflate to more than `maxBytes` in all, before pdf.js decodes
 * them (its decoders grow buffers without a limit, outside the worker's heap cap). Every
 * `stream … endstream` body is inflated with zlib's output cap; bodies that are not zlib data are
 * counted at their own size.
 */
export function assertPdfWithinBudget(bytes: Buffer, maxBytes: number): void {
  let total = 0
  let position = 0
  for (;;) {
    const keyword = bytes.indexOf(STREAM, position)
    if (keyword < 0) return
    position = keyword + STREAM.length
    if (keyword >= 3 && bytes.toString('latin1', keyword - 3, keyword) === 'end') continue
    let start = position
    if (bytes[start] === 0x0d) start += 1
    if (bytes[start] !== 0x0a) continue
    start += 1
    const end = bytes.indexOf(END_STREAM, start)
    if (end < 0) return
    position = end + END_STREAM.length
    let layer: Buffer = bytes.subarray(start, end)
    for (let depth = 0; depth < MAX_LAYERS; depth++) {
      if (!looksLikeZlib(layer)) break
      try {
        layer = inflateSync(layer, { maxOutputLength: Math.max(1, maxBytes - total + 1), finishFlush: 2 /* Z_SYNC_FLUSH: tolerate a cut stream */ })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw decompressedTooLarge(maxBytes)
        break
      }
    }
    total += layer.length
    if (total > maxBytes) throw decompressedTooLarge(maxBytes)
  }
}

/** A zlib header: deflate method, and a check value that makes the first two bytes a multiple of 31. */
function looksLikeZlib(data: Buffer): boolean {
  return data.length >= 2 && (data[0]! & 0x0f) === 8 && ((data[0]! << 8) | data[1]!) % 31 === 0
}
