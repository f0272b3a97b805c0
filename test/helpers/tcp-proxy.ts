import { connect, createServer, type Socket } from 'node:net'

/** A loopback TCP proxy in front of a real server, whose link can be cut, stalled and mended: a network fault on demand. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>`: the target's address as seen through the proxy. */
  readonly url: string
  /** Drops every open connection and refuses new ones until `mend`. */
  cut(): Promise<void>
  /** Keeps every connection, new ones too, open but silent: whatever is sent is dropped, nothing comes back. */
  stall(): void
  /** Accepts connections again, on the same port, and forwards on connections made from now on. */
  mend(): Promise<void>
  /** From now on, drops each connection once `bytes` more have come back from the target on it. */
  cutResponsesAfter(bytes: number): void
  close(): Promise<void>
}

interface Link {
  readonly client: Socket
  readonly upstream: Socket
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl)
  const targetPort = Number(target.port || 80)
  const links = new Set<Link>()
  let stalled = false
  let responseAllowance: number | undefined
  /** Bytes back from the target on each connection since `cutResponsesAfter`. */
  const returnedBytes = new Map<Socket, number>()
  const silence = ({ client, upstream }: Link) => {
    client.unpipe(upstream)
    upstream.unpipe(client)
    client.resume()
    upstream.resume()
  }
  const server = createServer((client) => {
    const upstream = connect(targetPort, target.hostname)
    const link = { client, upstream }
    links.add(link)
    upstream.on('data', (chunk: Buffer) => {
      if (responseAllowance === undefined) return
      const returned = (returnedBytes.get(upstream) ?? 0) + chunk.length
      returnedBytes.set(upstream, returned)
      if (returned > responseAllowance) {
        client.destroy()
        upstream.destroy()
      }
    })
    for (const socket of [client, upstream]) {
      socket.on('error', () => {})
      socket.on('close', () => {
        links.delete(link)
        returnedBytes.delete(upstream)
        client.destroy()
        upstream.destroy()
      })
    }
    if (stalled) return silence(link)
    client.pipe(upstream).pipe(client)
  })
  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  await listen(0)
  const port = (server.address() as { port: number }).port
  const stopListening = () => new Promise<void>((resolve) => {
    server.close(() => resolve())
    for (const { client, upstream } of links) {
      client.destroy()
      upstream.destroy()
    }
  })
  return {
    url: `http://127.0.0.1:${port}`,
    cut: stopListening,
    stall() {
      stalled = true
      for (const link of links) silence(link)
    },
    async mend() {
      stalled = false
      if (!server.listening) await listen(port)
    },
    cutResponsesAfter(bytes) {
      responseAllowance = bytes
      returnedBytes.clear()
    },
    close: () => (server.listening ? stopListening() : Promise.resolve()),
  }
}

/** A proxy in front of the PostgreSQL server `databaseUrl` names, and that URL rewritten to go through it. */
export async function proxyPostgres(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
  const url = new URL(databaseUrl)
  const proxy = await startTcpProxy(`http://${url.hostname}:${url.port || 5432}`)
  url.port = new URL(proxy.url).port
  return { proxy, url: url.toString() }
}
