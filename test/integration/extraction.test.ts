import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  chinesePdf,
  latinPdf,
  legacyDoc,
  manyPagePdf,
  photoJpeg,
  plainPng,
  reportDocx,
  salesXlsx,
  zipBombDocx,
} from '../helpers/documents.js'
import { openBlobStore } from '../../src/blob/open-blob-store.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const ALL_TYPES = 'jpg,png,pdf,doc,docx,xlsx,txt,md,csv,json'

interface TextJson {
  file_id: string
  status: string
  error: string | null
  kind: string
  text: string
  pages?: Array<{ number: number; text: string }>
  sheets?: Array<{ name: string; text: string }>
  page_count?: number
  sheet_count?: number
  word_count: number
  char_count: number
  truncated: boolean
  image?: Record<string, unknown>
}

async function upload(cabinet: TestServer, token: string, name: string, bytes: Buffer): Promise<string> {
  const response = await uploadFile(cabinet.url, { token, name, bytes })
  expect(response.status).toBe(200)
  return ((await response.json()) as { file_id: string }).file_id
}

async function textOf(cabinet: TestServer, token: string, id: string, wait = 20): Promise<TextJson> {
  const response = await fetch(`${cabinet.url}/api/files/${id}/text?wait=${wait}`, { headers: auth(token) })
  expect(response.status).toBe(200)
  return (await response.json()) as TextJson
}

describe('extraction: GET /api/files/:id/text', () => {
  let cabinet: TestServer
  let alice: string

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_ALLOWED_TYPES: ALL_TYPES })
    alice = await cabinet.token('alice')
  })
  afterAll(() => cabinet.stop())

  it('reads a Chinese PDF page by page, word for word', async () => {
    const id = await upload(cabinet, alice, '季度报告.pdf', await chinesePdf([['季度报告：收入增长百分之十二', '华东区销售创新高'], ['第二页']]))
    expect(await textOf(cabinet, alice, id)).toEqual({
      file_id: id,
      status: 'done',
      error: null,
      kind: 'pdf',
      text: '季度报告：收入增长百分之十二\n华东区销售创新高\n\n第二页',
      pages: [
        { number: 1, text: '季度报告：收入增长百分之十二\n华东区销售创新高' },
        { number: 2, text: '第二页' },
      ],
      page_count: 2,
      word_count: 24,
      char_count: 28,
      truncated: false,
    })
  })

  it('turns a DOCX into Markdown and an XLSX into one table per sheet', async () => {
    const docx = await textOf(cabinet, alice, await upload(cabinet, alice, 'report.docx', await reportDocx()))
    expect(docx).toMatchObject({ status: 'done', kind: 'docx', truncated: false })
    expect(docx.text).toContain('# 季度报告 Q3\n\nRevenue grew **12%** this quarter.\n\n## Highlights\n\n- New customers in Shanghai\n- 华东区销售创新高\n1. Hire two engineers')
    expect(docx.text.replace(/ +\|/g, ' |')).toContain('| 华东 | 1200 |')
    expect(docx.pages).toBeUndefined()

    const xlsx = await textOf(cabinet, alice, await upload(cabinet, alice, 'sales.xlsx', await salesXlsx()))
    expect(xlsx).toMatchObject({
      status: 'done',
      sheet_count: 2,
      sheets: [
        { name: 'Sales', text: '| Region | Units | Price | Total |\n| --- | --- | --- | --- |\n| 华东 | 3 | 2.5 | 7.5 |\n| North | 10 | 1 | 10 |' },
        { name: '备注', text: '| Date | Note |\n| --- | --- |\n| 2025-03-31 | 季度结算 |' },
      ],
    })
  })

  it('reads a legacy .doc, a text file and a photo\'s facts', async () => {
    const doc = await textOf(cabinet, alice, await upload(cabinet, alice, 'report.doc', legacyDoc()))
    expect(doc).toMatchObject({ status: 'done', text: 'Annual report 2024\nRevenue grew twelve percent.\n年度报告：华东区销售创新高。', word_count: 19 })

    const txt = await textOf(cabinet, alice, await upload(cabinet, alice, 'notes.txt', Buffer.from('第一行\nsecond line\n')))
    expect(txt).toMatchObject({ status: 'done', kind: 'txt', text: '第一行\nsecond line\n', word_count: 5 })

    const photo = await photoJpeg({ width: 64, height: 32, orientation: 6, capturedAt: '2024:05:01 10:20:30', gps: true })
    const facts = await textOf(cabinet, alice, await upload(cabinet, alice, 'photo.jpg', photo))
    expect(facts).toMatchObject({
      status: 'done',
      text: '',
      image: { format: 'jpg', width: 64, height: 32, orientation: 6, captured_at: '2024-05-01T10:20:30', has_gps: true },
    })
  })

  it('answers pending at once without ?wait, and 404 for another user\'s file', async () => {
    const id = await upload(cabinet, alice, 'later.pdf', await latinPdf([['Later']]))
    const bob = await cabinet.token('bob')
    const response = await fetch(`${cabinet.url}/api/files/${id}/text`, { headers: auth(bob) })
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({ error: 'File not found', code: 'FILE_NOT_FOUND' })
    expect((await fetch(`${cabinet.url}/api/files/${id}/text`)).status).toBe(401)
    expect(['pending', 'done']).toContain((await textOf(cabinet, alice, id, 0)).status)
    expect((await textOf(cabinet, alice, id)).text).toBe('Later')
  })

  it('extracts each file once: one job per upload, done', async () => {
    const id = await upload(cabinet, alice, 'once.pdf', await latinPdf([['Once']]))
    await textOf(cabinet, alice, id)
    const db = await cabinet.backend.db()
    const jobs = await db.selectFrom('jobs').select(['state', 'attempts']).where('kind', '=', 'extract-file').where('payload', 'like', `%${id}%`).execute()
    expect(jobs).toEqual([{ state: 'done', attempts: 1 }])
  })
})

describe('extraction limits: bombs and broken files end failed or capped, and the server keeps answering', () => {
  let cabinet: TestServer
  let alice: string

  beforeAll(async () => {
    cabinet = await startTestServer({
      CABINET_ALLOWED_TYPES: ALL_TYPES,
      CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES: String(8 * 1024 * 1024),
      CABINET_EXTRACT_MAX_PAGES: '20',
      CABINET_EXTRACT_TIMEOUT_MS: '15000',
    })
    alice = await cabinet.token('alice')
  })
  afterAll(() => cabinet.stop())

  it('a zip bomb ends failed with a reason', async () => {
    const text = await textOf(cabinet, alice, await upload(cabinet, alice, 'bomb.docx', zipBombDocx(64 * 1024 * 1024)))
    expect(text).toMatchObject({ status: 'failed', error: 'The file decompresses to more than the limit of 8388608 bytes', text: '' })
    const db = await cabinet.backend.db()
    const job = await db.selectFrom('jobs').select(['state', 'last_error', 'attempts']).where('kind', '=', 'extract-file').where('payload', 'like', `%${text.file_id}%`).execute()
    expect(job.every((j) => j.state === 'failed' && j.attempts === 1)).toBe(true)
  })

  it('a truncated PDF ends failed with a reason', async () => {
    const pdf = await latinPdf([['Quarterly report'], ['Two']])
    const text = await textOf(cabinet, alice, await upload(cabinet, alice, 'cut.pdf', pdf.subarray(0, Math.floor(pdf.length / 3))))
    expect(text.status).toBe('failed')
    expect(text.error).toMatch(/PDF/)
  })

  it('a 10,000-page PDF is capped at the page limit, while other requests keep answering quickly', async () => {
    const id = await upload(cabinet, alice, 'huge.pdf', manyPagePdf(10_000))
    const started = Date.now()
    const latencies: number[] = []
    let text: TextJson | undefined
    while (!text || text.status === 'pending') {
      const t0 = Date.now()
      expect((await fetch(`${cabinet.url}/api/files/${id}/meta`, { headers: auth(alice) })).status).toBe(200)
      latencies.push(Date.now() - t0)
      text = await textOf(cabinet, alice, id, 0)
      expect(Date.now() - started).toBeLessThan(20_000)
    }
    expect(text).toMatchObject({ status: 'done', page_count: 10_000, truncated: true })
    expect(text.pages).toHaveLength(20)
    // The parse runs in a worker thread: the main thread answers as usual (the median, as other tests share the cores).
    expect(latencies.sort((a, b) => a - b)[Math.floor(latencies.length / 2)]).toBeLessThan(250)
  })

  it('a file that takes longer than the time limit ends failed, its worker terminated', async () => {
    const slow = await startTestServer({
      CABINET_ALLOWED_TYPES: ALL_TYPES,
      CABINET_EXTRACT_MAX_PAGES: '100000',
      CABINET_EXTRACT_TIMEOUT_MS: '1000',
    })
    try {
      const token = await slow.token('alice')
      const text = await textOf(slow, token, await upload(slow, token, 'slow.pdf', manyPagePdf(60_000)))
      expect(text).toMatchObject({ status: 'failed', error: 'Extraction took longer than the limit of 1000 ms' })
      // The pool replaces the terminated worker: the next file is extracted normally.
      expect((await textOf(slow, token, await upload(slow, token, 'next.pdf', await latinPdf([['Next']])))).text).toBe('Next')
    } finally {
      await slow.stop()
    }
  })
})

describe('search: GET /api/files?q=', () => {
  let cabinet: TestServer
  let alice: string
  const names = async (query: string, token = alice) => {
    const response = await fetch(`${cabinet.url}/api/files?${query}`, { headers: auth(token) })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { files: Array<{ original_name: string }>; next_cursor: string | null }
    return { names: body.files.map((file) => file.original_name), next: body.next_cursor }
  }

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_ALLOWED_TYPES: ALL_TYPES })
    alice = await cabinet.token('alice')
    const bob = await cabinet.token('bob')
    const ids = [
      await upload(cabinet, alice, 'q3.pdf', await chinesePdf([['季度报告：收入增长百分之十二']])),
      await upload(cabinet, alice, '季度报告.docx', await reportDocx()),
      await upload(cabinet, alice, 'sales.xlsx', await salesXlsx()),
      await upload(cabinet, alice, 'photo.png', await plainPng(10, 10)),
      await upload(cabinet, bob, '季度报告-bob.pdf', await chinesePdf([['季度报告']])),
    ]
    for (const id of ids.slice(0, 4)) await textOf(cabinet, alice, id)
    await textOf(cabinet, bob, ids[4]!)
  })
  afterAll(() => cabinet.stop())

  it('finds Chinese words in names and text, names first, only the caller\'s', async () => {
    expect((await names(`q=${encodeURIComponent('季度报告')}`)).names).toEqual(['季度报告.docx', 'q3.pdf'])
    // Too short for trigrams: names first, then newest first.
    expect((await names(`q=${encodeURIComponent('华东')}`)).names).toEqual(['sales.xlsx', '季度报告.docx'])
    expect((await names(`q=${encodeURIComponent('华东区销售')}`)).names).toEqual(['季度报告.docx'])
    expect((await names(`q=${encodeURIComponent('结算')}`)).names).toEqual(['sales.xlsx'])
  })

  it('combines with ?type= and pages with the cursor', async () => {
    expect((await names(`q=${encodeURIComponent('华东')}&type=xlsx`)).names).toEqual(['sales.xlsx'])
    const first = await names(`q=${encodeURIComponent('华东')}&limit=1`)
    expect(first.names).toEqual(['sales.xlsx'])
    const second = await names(`q=${encodeURIComponent('华东')}&limit=1&cursor=${first.next}`)
    expect(second).toEqual({ names: ['季度报告.docx'], next: null })
  })

  it('matches a name or a text however its accents are encoded (composed or decomposed)', async () => {
    await upload(cabinet, alice, 'Cafe\u0301 menu.png', await plainPng(10, 10))
    const note = await upload(cabinet, alice, 'note.txt', Buffer.from('le re\u0301sume\u0301 final'))
    await textOf(cabinet, alice, note)
    expect((await names(`q=${encodeURIComponent('cafe\u0301')}`)).names).toEqual(['Caf\u00e9 menu.png'])
    expect((await names(`q=${encodeURIComponent('r\u00e9sum\u00e9')}`)).names).toEqual(['note.txt'])
  })

  it('rejects a blank query, control characters and a listing cursor', async () => {
    const blank = await fetch(`${cabinet.url}/api/files?q=%20`, { headers: auth(alice) })
    expect(blank.status).toBe(400)
    expect((await blank.json()).code).toBe('BAD_REQUEST')
    for (const control of ['%00', '%07', '%1B', '%7F', '%C2%85']) {
      const response = await fetch(`${cabinet.url}/api/files?q=pic${control}`, { headers: auth(alice) })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({ error: 'q may not contain control characters', code: 'BAD_REQUEST' })
    }
    // Tabs and line breaks only separate words.
    expect((await fetch(`${cabinet.url}/api/files?q=%E5%8D%8E%E4%B8%9C%09report%0Aq3`, { headers: auth(alice) })).status).toBe(200)
    const listing = await fetch(`${cabinet.url}/api/files?limit=1`, { headers: auth(alice) })
    const cursor = ((await listing.json()) as { next_cursor: string }).next_cursor
    expect((await fetch(`${cabinet.url}/api/files?q=report&cursor=${cursor}`, { headers: auth(alice) })).status).toBe(400)
  })
})

describe('thumbnails: GET /api/files/:id/thumbnail', () => {
  let cabinet: TestServer
  let alice: string
  let photoId: string

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_ALLOWED_TYPES: ALL_TYPES, CABINET_THUMBNAIL_SIZES: '32,256' })
    alice = await cabinet.token('alice')
    // 64×32 as stored, EXIF orientation 6: displayed rotated, 32 wide and 64 high.
    photoId = await upload(cabinet, alice, 'photo.jpg', await photoJpeg({ width: 64, height: 32, orientation: 6, capturedAt: '2024:05:01 10:20:30', gps: true }))
  })
  afterAll(() => cabinet.stop())

  const get = (id: string, query = '', headers: Record<string, string> = auth(alice)) => fetch(`${cabinet.url}/api/files/${id}/thumbnail${query}`, { headers })

  it('is a WebP at most the size asked, turned upright, with every metadata block stripped', async () => {
    const response = await get(photoId, '?size=32')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('image/webp')
    const bytes = Buffer.from(await response.arrayBuffer())
    const meta = await sharp(bytes).metadata()
    expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({ format: 'webp', width: 16, height: 32 })
    expect(meta.exif).toBeUndefined()
    expect(meta.orientation).toBeUndefined()
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/)
  })

  it('serves JPEG on ?format=jpeg, never enlarges, and answers 304 to its ETag', async () => {
    const response = await get(photoId, '?size=256&format=jpeg')
    expect(response.headers.get('content-type')).toBe('image/jpeg')
    const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata()
    expect({ format: meta.format, width: meta.width, height: meta.height, exif: meta.exif }).toEqual({ format: 'jpeg', width: 32, height: 64, exif: undefined })
    const again = await get(photoId, '?size=256&format=jpeg', auth(alice, { 'if-none-match': response.headers.get('etag')! }))
    expect(again.status).toBe(304)
  })

  it('is generated once however many ask at the same time', async () => {
    const id = await upload(cabinet, alice, 'burst.png', await plainPng(300, 200))
    const responses = await Promise.all(Array.from({ length: 8 }, () => get(id, '?size=256')))
    const bodies = await Promise.all(responses.map(async (response) => Buffer.from(await response.arrayBuffer())))
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(200))
    expect(new Set(bodies.map((body) => body.toString('base64'))).size).toBe(1)
    const db = await cabinet.backend.db()
    expect(await db.selectFrom('derived_blobs').select(['kind', 'variant', 'size_bytes']).where('file_id', '=', id).execute()).toEqual([
      { kind: 'thumbnail', variant: '256.webp', size_bytes: expect.anything() },
    ])
    expect(Number((await db.selectFrom('derived_blobs').select('size_bytes').where('file_id', '=', id).executeTakeFirstOrThrow()).size_bytes)).toBe(bodies[0]!.length)
  })

  it('is deleted with its file, and counts as nothing the user stored', async () => {
    const id = await upload(cabinet, alice, 'gone.png', await plainPng(40, 40))
    expect((await get(id, '?size=32')).status).toBe(200)
    expect((await cabinet.storedPaths()).filter((path) => path.includes(id))).toHaveLength(2)
    expect((await fetch(`${cabinet.url}/api/files/${id}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)
    expect((await cabinet.storedPaths()).filter((path) => path.includes(id))).toEqual([])
    const db = await cabinet.backend.db()
    expect(await db.selectFrom('derived_blobs').selectAll().where('file_id', '=', id).execute()).toEqual([])
    expect((await get(id, '?size=32')).status).toBe(404)
  })

  it('answers like the file itself: 404 for another user, 401 without a token, and works with the file\'s signed URL', async () => {
    const bob = await cabinet.token('bob')
    const other = await get(photoId, '?size=32', auth(bob))
    expect(other.status).toBe(404)
    expect((await other.json()).code).toBe('FILE_NOT_FOUND')
    expect((await get(photoId, '?size=32', {})).status).toBe(401)
    const signed = await fetch(`${cabinet.url}/api/files/${photoId}/url`, { method: 'POST', headers: auth(alice, { 'content-type': 'application/json' }), body: '{}' })
    const query = new URL(((await signed.json()) as { url: string }).url).search
    expect((await get(photoId, `${query}&size=32`, {})).status).toBe(200)
    expect((await get(photoId, `${query.replace(/sig=[^&]+/, 'sig=bad')}&size=32`, {})).status).toBe(403)
  })

  it('refuses sizes that are not configured, and files that are not images', async () => {
    const bad = await get(photoId, '?size=100')
    expect(bad.status).toBe(400)
    expect(await bad.json()).toEqual({ error: 'size must be one of 32, 256', code: 'BAD_REQUEST' })
    const pdf = await upload(cabinet, alice, 'doc.pdf', await latinPdf([['x']]))
    const refused = await get(pdf, '?size=32')
    expect(refused.status).toBe(422)
    expect((await refused.json()).code).toBe('THUMBNAIL_UNAVAILABLE')
  })

  it('answers 404 FILE_NOT_FOUND, as a download does, for a file whose bytes were lost from storage', async () => {
    const id = await upload(cabinet, alice, 'lost.png', await plainPng(40, 30))
    const db = await cabinet.backend.db()
    const { blob_key: blobKey } = await db.selectFrom('files').select('blob_key').where('id', '=', id).executeTakeFirstOrThrow()
    const blobs = await openBlobStore(cabinet.config)
    try {
      await blobs.delete(blobKey)
    } finally {
      await blobs.close()
    }
    for (const response of [await get(id, '?size=32'), await fetch(`${cabinet.url}/api/files/${id}`, { headers: auth(alice) })]) {
      expect(response.status).toBe(404)
      expect(await response.json()).toEqual({ error: 'File not found', code: 'FILE_NOT_FOUND' })
    }
  })
})
