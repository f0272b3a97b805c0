import { finished, type Duplex, type Readable, type Writable } from 'node:stream'

/**
 * Pipes `source` through `rest` like `stream/promises` `pipeline`: resolves once every stream has
 * finished, rejects with the first error, and destroys them all (with that error) on any failure or
 * premature close, including one that happened before the call. Written on `stream.finished`
 * because Node 20's `pipeline` builds and aborts an AbortController per call, creating a
 * DOMException with a stack trace, which cost more than the rest of an upload's streaming.
 */
export function pipe(source: Readable, ...rest: [...Duplex[], Writable]): Promise<void> {
  const streams: Array<Readable | Writable> = [source, ...rest]
  return new Promise((resolve, reject) => {
    let unfinished = streams.length
    let failure: Error | undefined
    const fail = (error: Error) => {
      if (failure) return
      failure = error
      for (const stream of streams) stream.destroy(error)
      reject(error)
    }
    streams.forEach((stream, index) => {
      const options = { readable: index < streams.length - 1, writable: index > 0 }
      finished(stream, options, (error) => {
        if (error) return fail(error)
        if (--unfinished === 0 && !failure) resolve()
      })
    })
    for (let index = 0; index < streams.length - 1; index++) (streams[index] as Readable).pipe(streams[index + 1] as Writable)
  })
}
