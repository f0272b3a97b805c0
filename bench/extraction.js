// Extraction throughput and search latency; `npm run bench` runs it after bench/run.js.
//
//   npm run build && node bench/extraction.js      (about 3 minutes at the default scale)
//
// 1. Starts Cabinet (the embedded default, default limits, one extraction thread) on a fresh data dir, uploads
//    BENCH_EXTRACT_FILES files of each kind, then times until all of them are extracted: files/s for PDF
//    (3 pages of text), DOCX (headings, a list, a table), XLSX (2 sheets, 200 rows), images (a 1600×1200 JPEG
//    with EXIF: facts only), then asks for each JPEG's 256 px thumbnail (4 at a time): thumbnails/s.
//    Cabinet's peak RSS (VmHWM) is reported per phase, and its RSS idle before and after.
// 2. Writes BENCH_SEARCH_FILES files with extracted text straight into the metadata tables as the repositories do (SQLite,
//    synchronous=OFF while loading, 1,000 rows per transaction), starts Cabinet on them and times `GET /api/files?q=` over HTTP, one
//    request at a time, BENCH_SEARCH_QUERIES per query class: p50/p99.
//
// Environment (all optional):
//   BENCH_EXTRACT_FILES=40      files per kind in part 1
//   BENCH_SEARCH_FILES=100000   indexed files in part 2 (all one user's: the worst case for that user's searches)
//   BENCH_SEARCH_QUERIES=100    requests per query class
//   BENCH_EXTRACTION_PARTS=throughput,search   which parts to run
//   BENCH_WORK_DIR=bench/.work-extraction   scratch folder, removed at the end
//
// Only 127.0.0.1 is used; the server is killed on exit, error or Ctrl-C.
/* global performance, FormData, Blob */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { FAIR_USE_OUT_OF_REACH, freePort } from './shared.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'dist', 'cli', 'index.js')
const WORK = resolve(process.env.BENCH_WORK_DIR ?? join(ROOT, 'bench', '.work-extraction'))
const EXTRACT_FILES = Number(process.env.BENCH_EXTRACT_FILES ?? 40)
const SEARCH_FILES = Number(process.env.BENCH_SEARCH_FILES ?? 100_000)
const SEARCH_QUERIES = Number(process.env.BENCH_SEARCH_QUERIES ?? 100)
const ALL_TYPES = 'jpg,jpeg,png,pdf,doc,docx,xlsx,txt'

const log = (...parts) => console.log(...parts)
const children = new Set()
const cleanup = () => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(WORK, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

function procStatus(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return { rss: 0, hwm: 0 }
  }
}

async function startCabinet(dataDir, extraEnv = {}) {
  const port = await freePort()
  const env = { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), CABINET_DATA_DIR: dataDir, CABINET_MIN_FREE_BYTES: '0', CABINET_ALLOWED_TYPES: ALL_TYPES, CABINET_LOG_LEVEL: 'warn', CABINET_JOB_POLL_INTERVAL_MS: '200', ...FAIR_USE_OUT_OF_REACH, ...extraEnv }
  const token = execFileSync(process.execPath, [CLI, 'token', 'create', '--user', 'bench'], { env, encoding: 'utf8' }).trim().split('\n').at(-1)
  const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  children.add(child)
  child.on('exit', () => children.delete(child))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (await fetch(`${url}/openapi.json`).then((r) => r.ok, () => false)) break
    await sleep(50)
  }
  return { url, token, child, stop: async () => { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)) } }
}

// ---------------------------------------------------------------- documents

async function makeDocuments() {
  const { PDFDocument, StandardFonts } = await import('pdf-lib')
  const { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow } = await import('docx')
  const { default: ExcelJS } = await import('exceljs')
  const { default: sharp } = await import('sharp')

  const pdfDoc = await PDFDocument.create()
  const font = await pdfDoc.embedFont(StandardFonts.Helvetica)
  for (let p = 0; p < 3; p++) {
    const page = pdfDoc.addPage([595, 842])
    for (let line = 0; line < 30; line++) page.drawText(`Page ${p + 1} line ${line + 1}: quarterly revenue grew in the eastern region.`, { x: 40, y: 800 - line * 24, size: 11, font })
  }
  const pdf = Buffer.from(await pdfDoc.save())

  const cell = (text) => new TableCell({ children: [new Paragraph(text)] })
  const docx = await Packer.toBuffer(new Document({ sections: [{ children: [
    new Paragraph({ text: 'Quarterly report', heading: HeadingLevel.HEADING_1 }),
    ...Array.from({ length: 20 }, (_, i) => new Paragraph(`Paragraph ${i + 1}: revenue grew twelve percent in the eastern region this quarter.`)),
    new Paragraph({ text: 'First point', bullet: { level: 0 } }),
    new Paragraph({ text: 'Second point', bullet: { level: 0 } }),
    new Table({ rows: Array.from({ length: 10 }, (_, i) => new TableRow({ children: [cell(`Region ${i}`), cell(String(i * 100))] })) }),
  ] }] }))

  const workbook = new ExcelJS.Workbook()
  for (const name of ['Sales', 'Costs']) {
    const sheet = workbook.addWorksheet(name)
    sheet.addRow(['Region', 'Units', 'Price', 'Total'])
    for (let i = 0; i < 100; i++) sheet.addRow([`Region ${i}`, i, 2.5, { formula: `B${i + 2}*C${i + 2}`, result: i * 2.5 }])
  }
  const xlsx = Buffer.from(await workbook.xlsx.writeBuffer())

  const width = 1600
  const height = 1200
  const pixels = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.fill((x * 7 + y * 3) & 0xff, (y * width + x) * 3, (y * width + x) * 3 + 3)
  const jpeg = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 85 })
    .withExif({ IFD0: { Make: 'Bench' }, IFD2: { DateTimeOriginal: '2024:05:01 10:20:30' } })
    .withMetadata({ orientation: 6 })
    .toBuffer()
  return { pdf, docx, xlsx, jpeg }
}

async function upload(server, name, bytes) {
  const form = new FormData()
  form.append('file', new Blob([bytes]), name)
  const response = await fetch(`${server.url}/api/files/upload`, { method: 'POST', body: form, headers: { authorization: `Bearer ${server.token}` } })
  if (response.status !== 200) throw new Error(`upload of ${name}: ${response.status} ${await response.text()}`)
  return (await response.json()).file_id
}

/** Waits for each file's extraction in turn with `?wait=`, so that polling adds no load of its own. */
async function waitExtracted(server, ids) {
  const failed = []
  for (const id of ids) {
    for (;;) {
      const text = await (await fetch(`${server.url}/api/files/${id}/text?wait=30`, { headers: { authorization: `Bearer ${server.token}` } })).json()
      if (text.status === 'pending') continue
      if (text.status !== 'done') failed.push(`${id}: ${text.status} ${text.error}`)
      break
    }
  }
  if (failed.length > 0) throw new Error(`extraction failed:\n${failed.slice(0, 5).join('\n')}`)
}

/** Runs `work` while sampling the server's memory; returns its duration and the peak RSS during it. */
async function measured(server, work) {
  let peak = procStatus(server.child.pid).rss
  const sampler = setInterval(() => (peak = Math.max(peak, procStatus(server.child.pid).rss)), 20)
  const started = performance.now()
  try {
    await work()
  } finally {
    clearInterval(sampler)
  }
  return { seconds: (performance.now() - started) / 1000, peakRss: Math.max(peak, procStatus(server.child.pid).rss) }
}

async function pool(items, concurrency, fn) {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

async function extractionThroughput() {
  const documents = await makeDocuments()
  const dataDir = join(WORK, 'extract')
  mkdirSync(dataDir, { recursive: true })
  const server = await startCabinet(dataDir)
  await sleep(3000)
  const idleBefore = procStatus(server.child.pid).rss
  const rows = []
  const jpegIds = []
  for (const [kind, name, bytes] of [['PDF (3 pages)', 'r.pdf', documents.pdf], ['DOCX', 'r.docx', documents.docx], ['XLSX (2×100 rows)', 'r.xlsx', documents.xlsx], ['image facts (JPEG 1600×1200)', 'p.jpg', documents.jpeg]]) {
    // Uploads first: while they keep the server busy, extraction yields to them. Timed from the last upload.
    const ids = []
    await pool(Array.from({ length: EXTRACT_FILES }), 4, async () => ids.push(await upload(server, name, bytes)))
    const run = await measured(server, () => waitExtracted(server, ids))
    if (name === 'p.jpg') jpegIds.push(...ids)
    rows.push({ kind, files: EXTRACT_FILES, perSecond: EXTRACT_FILES / run.seconds, peakRss: run.peakRss })
  }
  const thumbs = await measured(server, () =>
    pool(jpegIds, 4, async (id) => {
      const response = await fetch(`${server.url}/api/files/${id}/thumbnail?size=256`, { headers: { authorization: `Bearer ${server.token}` } })
      if (response.status !== 200) throw new Error(`thumbnail: ${response.status} ${await response.text()}`)
      await response.arrayBuffer()
    }),
  )
  rows.push({ kind: 'thumbnails (256 px WebP of the JPEG)', files: jpegIds.length, perSecond: jpegIds.length / thumbs.seconds, peakRss: thumbs.peakRss })
  const hwm = procStatus(server.child.pid).hwm
  await sleep(16_000) // past the worker threads' idle timeout
  const idleAfter = procStatus(server.child.pid).rss
  await server.stop()
  const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`
  log('\n## Extraction throughput (embedded default, 1 extraction thread, uploads 4 at a time)\n')
  log('| Files | Count | Files/s (after the uploads) | Peak RSS during |')
  log('| --- | --- | --- | --- |')
  for (const row of rows) log(`| ${row.kind} | ${row.files} | ${row.perSecond.toFixed(1)} | ${mb(row.peakRss)} |`)
  log(`\nCabinet RSS: ${mb(idleBefore)} idle before, peak ${mb(hwm)} (VmHWM), ${mb(idleAfter)} idle 16 s after (worker threads gone).`)
}

// ---------------------------------------------------------------- search

const WORDS = 'revenue quarterly report invoice contract meeting budget forecast customer supplier shipment warranty marketing design review'.split(' ')
const CHINESE = '季度报告 会议纪要 合同 发票 预算 华东 华北 销售 客户 供应商 设计 评审 市场 财务 年度 计划'.split(' ')

function randomText(random, words) {
  const parts = []
  for (let i = 0; i < words; i++) parts.push(random() < 0.5 ? WORDS[Math.floor(random() * WORDS.length)] : CHINESE[Math.floor(random() * CHINESE.length)])
  return parts.join(' ')
}

async function searchLatency() {
  const dataDir = join(WORK, 'search')
  mkdirSync(dataDir, { recursive: true })
  const { KyselyMetadataStore } = await import(join(ROOT, 'dist', 'db', 'kysely-metadata-store.js'))
  const { sql } = await import('kysely')
  const { randomBytes } = await import('node:crypto')
  const store = await KyselyMetadataStore.openSqlite(join(dataDir, 'cabinet.db'))
  await sql`PRAGMA synchronous = OFF`.execute(store.db)
  let seed = 42
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const loadStarted = performance.now()
  // Rows as the repositories write them (files ready, extraction done, FTS5 entry), 1,000 per transaction.
  const BATCH = 1000
  for (let first = 0; first < SEARCH_FILES; first += BATCH) {
    await store.db.transaction().execute(async (trx) => {
      for (let i = first; i < Math.min(first + BATCH, SEARCH_FILES); i++) {
        const id = randomBytes(16).toString('hex')
        const name = i % 10 === 0 ? `${CHINESE[i % CHINESE.length]}-${i}.pdf` : `report-${i}.pdf`
        const text = randomText(random, 60) + (i % 10_000 === 0 ? ' zyxwvut' : '')
        const at = 1_700_000_000_000 + i
        await trx.insertInto('files').values({ id, user_id: 'bench', status: 'ready', original_name: name, kind: 'pdf', mime_type: 'application/pdf', blob_key: `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`, size_bytes: 1000, sha256: 'ab'.repeat(32), created_at: at, uploaded_at: at }).execute()
        await sql`INSERT INTO file_search (rowid, name, body) VALUES (${i + 1}, ${name}, ${text})`.execute(trx)
        await trx.insertInto('file_extractions').values({ file_id: id, user_id: 'bench', name, status: 'done', job_id: null, error: null, layout: 'pages', parts: JSON.stringify([{ start: 0, end: text.length }]), content: text, facts: JSON.stringify({ pageCount: 1, truncated: false }), word_count: 60, search_rowid: i + 1, updated_at: at }).execute()
      }
    })
  }
  await store.close()
  const loadSeconds = (performance.now() - loadStarted) / 1000
  const server = await startCabinet(dataDir)
  const classes = [
    ['rare English word (10 matches)', 'zyxwvut'],
    ['common English word (in most files)', 'warranty'],
    ['two English words', 'warranty budget'],
    ['4 Chinese characters (trigram)', '会议纪要'],
    ['2 Chinese characters (LIKE scan)', '华东'],
    ['file name', 'report-4242'],
  ]
  const rows = []
  for (const [label, q] of classes) {
    const latencies = []
    for (let i = 0; i < SEARCH_QUERIES; i++) {
      const started = performance.now()
      const response = await fetch(`${server.url}/api/files?q=${encodeURIComponent(q)}&limit=20`, { headers: { authorization: `Bearer ${server.token}` } })
      const body = await response.json()
      latencies.push(performance.now() - started)
      if (response.status !== 200) throw new Error(`search ${q}: ${response.status} ${JSON.stringify(body)}`)
      if (i === 0) rows.push({ label, q, hits: body.files.length })
    }
    Object.assign(rows.at(-1), { p50: percentile(latencies, 50), p99: percentile(latencies, 99) })
  }
  await server.stop()
  log(`\n## Search latency over ${SEARCH_FILES.toLocaleString('en')} indexed files (SQLite FTS5 trigram, one user, HTTP, ${SEARCH_QUERIES} sequential requests per class; loaded in ${loadSeconds.toFixed(0)} s)\n`)
  log('| Query | q | First page | p50 ms | p99 ms |')
  log('| --- | --- | --- | --- | --- |')
  for (const row of rows) log(`| ${row.label} | \`${row.q}\` | ${row.hits} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} |`)
}

if (!existsSync(CLI)) throw new Error('Build first: npm run build')
rmSync(WORK, { recursive: true, force: true })
mkdirSync(WORK, { recursive: true })
const PARTS = (process.env.BENCH_EXTRACTION_PARTS ?? 'throughput,search').split(',')
if (PARTS.includes('throughput')) await extractionThroughput()
if (PARTS.includes('search')) await searchLatency()
