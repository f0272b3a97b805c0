import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pdfBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('CABINET_S3_REDIRECT_DOWNLOADS=1', () => {
  let cabinet: TestServer
  let token: string
  const bytes = pdfBytes('straight from the bucket')
  let fileId: string

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_S3_REDIRECT_DOWNLOADS: '1' })
    token = await cabinet.token('alice')
    fileId = (await (await uploadFile(cabinet.url, { token, name: '报告.pdf', bytes })).json()).file_id
  })
  afterAll(() => cabinet?.stop())

  it('answers a download with a short-lived presigned URL that serves the bytes and the name', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(token), redirect: 'manual' })
    expect(response.status).toBe(302)
    expect(response.headers.get('cache-control')).toBe('private, no-store')
    const location = response.headers.get('location')!
    expect(location.startsWith(cabinet.config.blobs.kind === 's3' ? cabinet.config.blobs.endpoint! : '')).toBe(true)
    const direct = await fetch(location)
    expect(direct.status).toBe(200)
    expect(Buffer.from(await direct.arrayBuffer())).toEqual(bytes)
    expect(direct.headers.get('content-disposition')).toBe(`attachment; filename="??.pdf"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf`)
    expect(direct.headers.get('content-type')).toBe('application/pdf')
  })

  it('still checks who is asking first', async () => {
    const other = await cabinet.token('bob')
    const response = await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(other), redirect: 'manual' })
    expect(response.status).toBe(404)
  })

  it('HEAD and conditional requests are answered by Cabinet itself', async () => {
    const head = await fetch(`${cabinet.url}/api/files/${fileId}`, { method: 'HEAD', headers: auth(token), redirect: 'manual' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(bytes.length))
    const etag = head.headers.get('etag')!
    const cached = await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(token, { 'if-none-match': etag }), redirect: 'manual' })
    expect(cached.status).toBe(304)
  })
})
