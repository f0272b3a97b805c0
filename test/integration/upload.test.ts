import { createHash } from 'node:crypto'
import { Agent, request as httpRequest, type RequestOptions } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docxBytes, exeBytes, jpegBytes, ole2Bytes, pdfBytes, pngBytes, xlsxBytes, zipBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { BACKEND, startTestServer, type TestServer } from '../helpers/server.js'

/** Where blob keys show up in `storedPaths()`: files under blobs/ on disk, bare keys in a bucket. */
const blobPrefix = BACKEND === 'embedded' ? 'blobs/' : ''

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

describe('POST /api/files/upload', () => {
  let cabinet: TestServer
  let token: string

  beforeAll(async () => {
    cabinet = await startTestServer()
    token = await cabinet.token('alice')
  })
  afterAll(() => cabinet.stop())

  it('stores a PNG and answers with the design note fields plus its hash', async () => {
    const bytes = pngBytes(5000)
    const response = await uploadFile(cabinet.url, { token, name: 'photo.png', bytes, extraFields: { note: 'ignored' } })
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body).toEqual({
      file_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      download_url: `/api/files/${body.file_id}`,
      original_name: 'photo.png',
      size: bytes.length,
      sha256: sha256(bytes),
      mime_type: 'image/png',
      uploaded_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      pinned: false,
    })
    const download = await fetch(`${cabinet.url}${body.download_url}`, { headers: auth(token) })
    expect(Buffer.from(await download.arrayBuffer())).toEqual(bytes)
    expect(await cabinet.storedPaths()).toContain(`${blobPrefix}${body.file_id.slice(0, 2)}/${body.file_id}`)
  })

  it.each([
    ['scan.jpg', jpegBytes(), 'image/jpeg'],
    ['scan.JPEG', jpegBytes(), 'image/jpeg'],
    ['report.pdf', pdfBytes(), 'application/pdf'],
    ['legacy.doc', ole2Bytes(), 'application/msword'],
    ['letter.docx', docxBytes(), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
    ['sheet.xlsx', xlsxBytes(), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  ])('accepts %s by its content', async (name, bytes, mimeType) => {
    const response = await uploadFile(cabinet.url, { token, name, bytes })
    expect(response.status).toBe(200)
    expect((await response.json()).mime_type).toBe(mimeType)
  })

  it('keeps a UTF-8 name and drops path parts and invisible characters', async () => {
    const chinese = await uploadFile(cabinet.url, { token, name: '报告.pdf', bytes: pdfBytes() })
    expect((await chinese.json()).original_name).toBe('报告.pdf')
    const sneaky = await uploadFile(cabinet.url, { token, name: '../../etc/pass\u202ewd.pdf', bytes: pdfBytes() })
    expect(sneaky.status).toBe(200)
    expect((await sneaky.json()).original_name).toBe('passwd.pdf')
  })

  it('keeps a quote in a name that the client escaped as %22 (browsers and curl do)', async () => {
    // FormData sends the name as filename="报告 %22final%22.png", per the WHATWG multipart encoding.
    const response = await uploadFile(cabinet.url, { token, name: '报告 "final".png', bytes: pngBytes() })
    expect(response.status).toBe(200)
    expect((await response.json()).original_name).toBe('报告 "final".png')
  })

  describe('Expect: 100-continue', () => {
    /** Sends the head with `Expect: 100-continue`, and the body only once the server says to continue. */
    function sendExpectingContinue(path: string, headers: Record<string, string>, body: Buffer) {
      return new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
        let continued = false
        const request = httpRequest(
          new URL(path, cabinet.url),
          { method: 'POST', headers: { ...headers, expect: '100-continue', 'content-length': String(body.length) } },
          (response) => {
            let text = ''
            response.setEncoding('utf8')
            response.on('data', (chunk: string) => (text += chunk))
            response.on('end', () => {
              resolve({ continued, status: response.statusCode!, body: text })
              request.destroy()
            })
          },
        )
        request.on('continue', () => {
          continued = true
          request.end(body)
        })
        request.on('error', reject)
        request.flushHeaders()
      })
    }
    const form = (bytes: Buffer) =>
      Buffer.concat([Buffer.from('--xx\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n\r\n'), bytes, Buffer.from('\r\n--xx--\r\n')])
    const multipart = { 'content-type': 'multipart/form-data; boundary=xx' }

    it('refuses an upload too large, or without credentials, before its body is sent', async () => {
      const tooLarge = await sendExpectingContinue('/api/files/upload', auth(token, multipart), form(Buffer.alloc(11 * 1024 * 1024)))
      expect(tooLarge).toMatchObject({ continued: false, status: 413 })
      expect(JSON.parse(tooLarge.body).code).toBe('FILE_TOO_LARGE')
      const anonymous = await sendExpectingContinue('/api/files/upload', multipart, form(pngBytes()))
      expect(anonymous).toMatchObject({ continued: false, status: 401 })
    })

    it('lets the body of an admissible upload, or of a JSON request, come', async () => {
      const uploaded = await sendExpectingContinue('/api/files/upload', auth(token, multipart), form(pngBytes(2048)))
      expect(uploaded).toMatchObject({ continued: true, status: 200 })
      const id = JSON.parse(uploaded.body).file_id
      const link = await sendExpectingContinue(`/api/files/${id}/url`, auth(token, { 'content-type': 'application/json' }), Buffer.from('{"ttl":60}'))
      expect(link).toMatchObject({ continued: true, status: 200 })
    })
  })

  describe('refusals leave nothing behind', () => {
    async function expectNothingNew(before: { rows: number; paths: string[] }) {
      expect((await cabinet.fileRows()).length).toBe(before.rows)
      expect(await cabinet.storedPaths()).toEqual(before.paths)
    }
    async function snapshot() {
      return { rows: (await cabinet.fileRows()).length, paths: await cabinet.storedPaths() }
    }
    /** Requests over one keep-alive connection; `socket` tells which connection answered. */
    function keepAliveClient() {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const send = (options: RequestOptions, payload?: Buffer) =>
        new Promise<{ status: number; body: string; socket: unknown }>((resolve, reject) => {
          const request = httpRequest(new URL(options.path!, cabinet.url), { ...options, agent }, (response) => {
            let text = ''
            response.setEncoding('utf8')
            response.on('data', (chunk: string) => (text += chunk))
            response.on('end', () => resolve({ status: response.statusCode!, body: text, socket: request.socket }))
          })
          request.on('error', reject)
          request.end(payload)
        })
      return { send, close: () => agent.destroy() }
    }

    it('a form with more parts than allowed before its file answers 400 naming the limit, not NO_FILE', async () => {
      const before = await snapshot()
      const part = (field: string, name: string) =>
        Buffer.concat([Buffer.from(`--xx\r\nContent-Disposition: form-data; name="${field}"; filename="${name}"\r\n\r\n`), pngBytes(), Buffer.from('\r\n')])
      const others = ['x1', 'x2', 'x3', 'x4'].map((field) => part(field, `${field}.png`))
      const response = await fetch(`${cabinet.url}/api/files/upload`, {
        method: 'POST',
        headers: auth(token, { 'content-type': 'multipart/form-data; boundary=xx' }),
        body: new Uint8Array(Buffer.concat([...others, part('file', 'photo.png'), Buffer.from('--xx--\r\n')])),
      })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({
        error: 'The form has too many parts before its "file" field (at most 40: 4 files, 32 fields); send the file first',
        code: 'BAD_REQUEST',
      })
      await expectNothingNew(before)
    })

    it.each([
      ['a .exe renamed .png', 'setup.png', exeBytes(), 415, 'FILE_TYPE_MISMATCH', /named \.png but the content is a Windows executable/],
      ['a PDF named .jpg', 'photo.jpg', pdfBytes(), 415, 'FILE_TYPE_MISMATCH', /content is a PDF document/],
      ['an .xlsx named .docx', 'letter.docx', xlsxBytes(), 415, 'FILE_TYPE_MISMATCH', /another kind/],
      ['a plain ZIP named .docx', 'letter.docx', zipBytes({ 'a.txt': 'hi' }), 415, 'FILE_TYPE_MISMATCH', /not an Office document/],
      ['a disallowed type', 'run.exe', exeBytes(), 415, 'FILE_TYPE_NOT_ALLOWED', /\.exe are not accepted; allowed types: jpg, jpeg/],
      ['a name without extension', 'README', pdfBytes(), 415, 'FILE_TYPE_NOT_ALLOWED', /no extension/],
      ['an empty file', 'empty.png', Buffer.alloc(0), 400, 'EMPTY_FILE', /empty/],
      ['a name that is only dots', '..', pdfBytes(), 400, 'BAD_FILE_NAME', /Invalid file name/],
    ])('%s', async (_case, name, bytes, status, code, message) => {
      const before = await snapshot()
      const response = await uploadFile(cabinet.url, { token, name, bytes })
      expect(response.status).toBe(status)
      const body = await response.json()
      expect(body.code).toBe(code)
      expect(body.error).toMatch(message)
      await expectNothingNew(before)
    })

    it('a refusal reaches a client that sends its whole body first, and its connection serves the next request', async () => {
      const before = await snapshot()
      // 9 MiB named .png whose first bytes are a Windows executable: refused on its first chunk, the rest still coming.
      const bytes = Buffer.concat([exeBytes(), Buffer.alloc(9 * 1024 * 1024, 0x41)])
      const boundary = 'cabinet-refusal-boundary'
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="setup.png"\r\ncontent-type: image/png\r\n\r\n`),
        bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ])
      const { send, close } = keepAliveClient()
      try {
        const refused = await send(
          {
            method: 'POST',
            path: '/api/files/upload',
            headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': body.length },
          },
          body,
        )
        expect(refused.status).toBe(415)
        expect(JSON.parse(refused.body).code).toBe('FILE_TYPE_MISMATCH')
        const next = await send({ method: 'GET', path: '/healthz' })
        expect(next.status).toBe(200)
        expect(next.socket).toBe(refused.socket)
      } finally {
        close()
      }
      await expectNothingNew(before)
    })

    it('an 11 MiB upload is refused with 413', async () => {
      const before = await snapshot()
      const response = await uploadFile(cabinet.url, { token, name: 'big.png', bytes: pngBytes(11 * 1024 * 1024) })
      expect(response.status).toBe(413)
      expect(await response.json()).toEqual({ error: 'File is larger than the limit of 10485760 bytes', code: 'FILE_TOO_LARGE' })
      await expectNothingNew(before)
    })

    it('an oversized upload without Content-Length is cut off mid-stream with 413', async () => {
      const before = await snapshot()
      const boundary = 'cabinetboundary'
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
      )
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
      const chunks = [head, pngBytes(1024), ...Array.from({ length: 12 }, () => Buffer.alloc(1024 * 1024, 7)), tail]
      const body = new ReadableStream({
        pull(controller) {
          const next = chunks.shift()
          if (next) controller.enqueue(new Uint8Array(next))
          else controller.close()
        },
      })
      const response = await fetch(`${cabinet.url}/api/files/upload`, {
        method: 'POST',
        headers: auth(token, { 'content-type': `multipart/form-data; boundary=${boundary}` }),
        body,
        duplex: 'half',
      } as RequestInit)
      expect(response.status).toBe(413)
      expect((await response.json()).code).toBe('FILE_TOO_LARGE')
      await expectNothingNew(before)
    })

    it('a request without a file part answers NO_FILE', async () => {
      const form = new FormData()
      form.append('note', 'hello')
      const response = await fetch(`${cabinet.url}/api/files/upload`, { method: 'POST', body: form, headers: auth(token) })
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('NO_FILE')
    })

    it('an empty multipart body answers NO_FILE, not a cut-off upload', async () => {
      for (const headers of [{ 'content-length': '0' }, { 'transfer-encoding': 'chunked' }] as Array<Record<string, string>>) {
        const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const request = httpRequest(new URL('/api/files/upload', cabinet.url), {
            method: 'POST',
            headers: auth(token, { 'content-type': 'multipart/form-data; boundary=xx', ...headers }),
          }, (answer) => {
            let text = ''
            answer.on('data', (chunk: Buffer) => (text += chunk))
            answer.on('end', () => resolve({ status: answer.statusCode!, body: text }))
          })
          request.on('error', reject)
          request.end()
        })
        expect(response.status).toBe(400)
        expect(JSON.parse(response.body).code).toBe('NO_FILE')
      }
    })

    it('a file in another field answers NO_FILE', async () => {
      const response = await uploadFile(cabinet.url, { token, name: 'a.png', bytes: pngBytes(), field: 'upload' })
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('NO_FILE')
    })

    it('a JSON body answers NO_FILE', async () => {
      const response = await fetch(`${cabinet.url}/api/files/upload`, {
        method: 'POST',
        body: JSON.stringify({ file: 'x' }),
        headers: auth(token, { 'content-type': 'application/json' }),
      })
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('NO_FILE')
    })

    it.each([['application/octet-stream'], ['application/x-www-form-urlencoded'], ['image/png'], [undefined]])(
      'a body of type %s answers NO_FILE too, and the connection serves the next request',
      async (contentType) => {
        const { send, close } = keepAliveClient()
        try {
          const headers = auth(token, contentType ? { 'content-type': contentType } : {})
          const refused = await send({ method: 'POST', path: '/api/files/upload', headers }, pngBytes(200 * 1024))
          expect(refused.status).toBe(400)
          expect(JSON.parse(refused.body).code).toBe('NO_FILE')
          // The unread body was dropped, not taken for the start of the next request on the same connection.
          const next = await send({ method: 'GET', path: '/api/files', headers: auth(token) })
          expect(next.status).toBe(200)
          expect(next.socket).toBe(refused.socket)
        } finally {
          close()
        }
      },
    )

    it('a multipart body that ends inside the file answers UPLOAD_INCOMPLETE', async () => {
      const before = await snapshot()
      const boundary = 'cutshort'
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n`),
        pngBytes(4096),
      ])
      const response = await fetch(`${cabinet.url}/api/files/upload`, {
        method: 'POST',
        headers: auth(token, { 'content-type': `multipart/form-data; boundary=${boundary}` }),
        body,
      })
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('UPLOAD_INCOMPLETE')
      await expectNothingNew(before)
    })
  })

})
