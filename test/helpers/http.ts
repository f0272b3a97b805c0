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
