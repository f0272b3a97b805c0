/** Bytes of base64 that `bytes` bytes encode to (with padding). */
export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3)
}

/**
 * The bytes of `source` as base64, piece by piece as they arrive, so that a file travels to the
 * agent without ever being whole in memory. Fails, ending the stream, once more than `maxBytes`
 * arrive, or when `exactBytes` is given and the source ends at another length (the request's
 * length was announced from it).
 */
export async function* base64Pieces(source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>, options: { maxBytes: number; exactBytes?: number }): AsyncGenerator<string> {
  const limit = Math.min(options.maxBytes, options.exactBytes ?? Number.MAX_SAFE_INTEGER)
  let carry: Buffer = Buffer.alloc(0)
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (total > limit) throw new Error(`The file is larger than the ${limit} bytes it may send`)
    const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
    // Whole groups of three bytes encode without padding; the rest waits for the next chunk.
    const whole = bytes.length - (bytes.length % 3)
    if (whole > 0) yield bytes.toString('base64', 0, whole)
    carry = Buffer.from(bytes.subarray(whole))
  }
  if (options.exactBytes !== undefined && total !== options.exactBytes) {
    throw new Error(`The file ended after ${total} of its ${options.exactBytes} bytes`)
  }
  if (carry.length > 0) yield carry.toString('base64')
}
