/** Posts one file as multipart/form-data in field `file`, the way wx.uploadFile does. */
export async function uploadFile(
  baseUrl: string,
  options: { token?: string; name: string; bytes: Buffer; field?: string; extraFields?: Record<string, string>; headers?: Record<string, string> },
): Promise<Response> {
  const form = new FormData()
  for (const [key, value] of Object.entries(options.extraFields ?? {})) form.append(key, value)
  form.append(options.field ?? 'file', new Blob([new Uint8Array(options.bytes)]), options.name)
  const headers: Record<string, string> = { ...options.headers }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  return fetch(`${baseUrl}/api/files/upload`, { method: 'POST', body: form, headers })
}

export function auth(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra }
}

/** Polls until `check` passes or the time runs out; the last failure is rethrown. */
export async function eventually(check: () => Promise<void> | void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** A multipart/form-data body built byte by byte, for names and framings FormData would rewrite. */
export function rawMultipart(boundary: string, fileName: string, bytes: Buffer, options: { close?: boolean } = {}): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n\r\n`),
    bytes,
    Buffer.from(options.close === false ? '' : `\r\n--${boundary}--\r\n`),
  ]))
}
