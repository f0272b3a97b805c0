import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docxBytes, jpegBytes, pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('GET /api/files and DELETE /api/files/:id', () => {
  let cabinet: TestServer
  let token: string
  const uploaded: Array<{ file_id: string; original_name: string }> = []

  beforeAll(async () => {
    cabinet = await startTestServer()
    token = await cabinet.token('alice')
    const samples: Array<[string, Buffer]> = [
      ['1.png', pngBytes()],
      ['2.pdf', pdfBytes()],
      ['3.jpg', jpegBytes()],
      ['4.docx', docxBytes()],
      ['5.png', pngBytes()],
    ]
    for (const [name, bytes] of samples) {
      uploaded.push(await (await uploadFile(cabinet.url, { token, name, bytes })).json())
      // Distinct upload times keep "newest first" unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    await uploadFile(cabinet.url, { token: await cabinet.token('bob'), name: 'bob.png', bytes: pngBytes() })
  })
  afterAll(() => cabinet.stop())

  const list = async (query = '') => {
    const response = await fetch(`${cabinet.url}/api/files${query}`, { headers: auth(token) })
    expect(response.status).toBe(200)
    return (await response.json()) as { files: Array<{ file_id: string; original_name: string }>; next_cursor: string | null }
  }

  it('lists only the caller\'s files, newest first', async () => {
    const page = await list()
    expect(page.files.map((f) => f.original_name)).toEqual(['5.png', '4.docx', '3.jpg', '2.pdf', '1.png'])
    expect(page.next_cursor).toBeNull()
  })

  it('pages with a cursor, each file exactly once', async () => {
    const seen: string[] = []
    let query = '?limit=2'
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(query)
      seen.push(...page.files.map((f) => f.original_name))
      if (!page.next_cursor) break
      query = `?limit=2&cursor=${encodeURIComponent(page.next_cursor)}`
    }
    expect(seen).toEqual(['5.png', '4.docx', '3.jpg', '2.pdf', '1.png'])
  })

  it.each([
    ['png', ['5.png', '1.png']],
    ['image', ['5.png', '3.jpg', '1.png']],
    ['image/*', ['5.png', '3.jpg', '1.png']],
    ['application/pdf', ['2.pdf']],
    ['jpeg', ['3.jpg']],
    ['pdf,docx', ['4.docx', '2.pdf']],
    ['exe', []],
    // Blank, as an HTML form sends an unselected filter: no filter at all.
    ['', ['5.png', '4.docx', '3.jpg', '2.pdf', '1.png']],
    [' ', ['5.png', '4.docx', '3.jpg', '2.pdf', '1.png']],
  ])('?type=%s filters', async (type, names) => {
    expect((await list(`?type=${encodeURIComponent(type)}`)).files.map((f) => f.original_name)).toEqual(names)
  })

  it.each(['?cursor=garbage', '?limit=0', '?limit=1000', '?limit=abc'])('%s answers 400 BAD_REQUEST', async (query) => {
    const response = await fetch(`${cabinet.url}/api/files${query}`, { headers: auth(token) })
    expect(response.status).toBe(400)
    expect((await response.json()).code).toBe('BAD_REQUEST')
  })

  it('delete removes the blob and the row; a second delete answers 404', async () => {
    const target = uploaded[1]!
    const stored = async () => (await cabinet.storedPaths()).filter((path) => path.endsWith(target.file_id))
    expect(await stored()).toHaveLength(1)
    const first = await fetch(`${cabinet.url}/api/files/${target.file_id}`, { method: 'DELETE', headers: auth(token) })
    expect(first.status).toBe(204)
    expect(await stored()).toEqual([])
    expect((await cabinet.fileRows()).map((row) => row.id)).not.toContain(target.file_id)
    const second = await fetch(`${cabinet.url}/api/files/${target.file_id}`, { method: 'DELETE', headers: auth(token) })
    expect(second.status).toBe(404)
    expect((await second.json()).code).toBe('FILE_NOT_FOUND')
    expect((await fetch(`${cabinet.url}/api/files/${target.file_id}`, { headers: auth(token) })).status).toBe(404)
    expect((await list()).files.map((f) => f.original_name)).not.toContain('2.pdf')
  })

  it('unknown routes answer JSON errors too', async () => {
    const response = await fetch(`${cabinet.url}/api/nothing?sig=secret`)
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({ error: 'No route for GET /api/nothing', code: 'ROUTE_NOT_FOUND' })
  })
})
