import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { runCli } from '../helpers/process.js'
import { BACKEND, startTestServer, type TestServer } from '../helpers/server.js'

const OFF = { CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off' }
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }

/** The value of one sample in Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('health, metrics and stats', () => {
  let cabinet: TestServer
  let user: string
  let admin: string

  beforeAll(async () => {
    cabinet = await startTestServer(OFF)
    user = await cabinet.token('alice')
    admin = (await cabinet.server.services.tokens.issue('ops', { admin: true })).token
  })
  afterAll(() => cabinet.stop())

  it('GET /healthz and GET /readyz answer without credentials', async () => {
    const live = await fetch(`${cabinet.url}/healthz`)
    expect(live.status).toBe(200)
    expect(await live.json()).toEqual({ status: 'ok' })
    const ready = await fetch(`${cabinet.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready' })
  })

  it('GET /metrics shows the counters move after an upload and a download, labelled by route pattern', async () => {
    const scrape = async () => {
      const response = await fetch(`${cabinet.url}/metrics`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toContain('text/plain')
      return response.text()
    }
    const before = await scrape()
    const bytes = pngBytes(12_345)
    const uploaded = await (await uploadFile(cabinet.url, { token: user, name: 'm.png', bytes })).json()
    const download = await fetch(`${cabinet.url}/api/files/${uploaded.file_id}`, { headers: auth(user) })
    await download.arrayBuffer()
    const refused = await uploadFile(cabinet.url, { token: user, name: 'm.exe', bytes })
    expect(refused.status).toBe(415)
    const after = await scrape()

    expect(sample(after, 'cabinet_uploads_total') - sample(before, 'cabinet_uploads_total')).toBe(1)
    expect(sample(after, 'cabinet_upload_bytes_total') - sample(before, 'cabinet_upload_bytes_total')).toBe(bytes.length)
    expect(sample(after, 'cabinet_downloads_total') - sample(before, 'cabinet_downloads_total')).toBe(1)
    expect(sample(after, 'cabinet_download_bytes_total') - sample(before, 'cabinet_download_bytes_total')).toBe(bytes.length)
    expect(sample(after, 'cabinet_upload_failures_total', 'code="FILE_TYPE_NOT_ALLOWED"')).toBe(1)
    const uploads = 'route="/api/files/upload",method="POST",status="200"'
    expect(sample(after, 'cabinet_http_requests_total', uploads) - sample(before, 'cabinet_http_requests_total', uploads)).toBe(1)
    expect(sample(after, 'cabinet_http_requests_total', 'route="/api/files/:id",method="GET",status="200"')).toBeGreaterThanOrEqual(1)
    expect(after).toContain('cabinet_http_request_duration_seconds_bucket{le="0.005",route="/api/files/:id",method="GET",status_class="2xx"}')
    expect(after).toContain('cabinet_process_resident_memory_bytes')
    // Raw URLs (ids, signatures) never become labels.
    expect(after).not.toContain(uploaded.file_id)
  })

  it('GET /api/admin/stats needs an admin token: 401 without one, 403 FORBIDDEN for a user token', async () => {
    const none = await fetch(`${cabinet.url}/api/admin/stats`)
    expect(none.status).toBe(401)
    expect((await none.json()).code).toBe('UNAUTHORIZED')
    const notAdmin = await fetch(`${cabinet.url}/api/admin/stats`, { headers: auth(user) })
    expect(notAdmin.status).toBe(403)
    const readKey = (await cabinet.server.services.keys.issue({ name: 'reader', scopes: ['files:read'] })).key
    expect((await fetch(`${cabinet.url}/api/admin/stats`, { headers: auth(readKey) })).status).toBe(403)
    expect(await notAdmin.json()).toEqual({ error: 'This route needs an admin token (cabinet token create --admin) or an API key with the admin scope', code: 'FORBIDDEN' })
  })

  it('GET /api/admin/stats and cabinet stats show totals by type and user, largest files, traffic per day and the last clean-up', async () => {
    const bob = await cabinet.token('bob')
    const big = await (await uploadFile(cabinet.url, { token: bob, name: 'big.png', bytes: pngBytes(300_000) })).json()
    const cleanup = await runCli(['cleanup', '--json'], { ...cabinet.backend.env, ...QUIET_SDK })
    expect(cleanup.code).toBe(0)

    const response = await fetch(`${cabinet.url}/api/admin/stats`, { headers: auth(admin) })
    expect(response.status).toBe(200)
    // An API key with the admin scope is an operator too.
    const adminKey = (await cabinet.server.services.keys.issue({ name: 'monitor', scopes: ['admin'] })).key
    expect((await fetch(`${cabinet.url}/api/admin/stats`, { headers: auth(adminKey) })).status).toBe(200)
    const stats = await response.json()
    expect(stats.files).toMatchObject({ files: 2, users: 2, pinned: 0 })
    expect(stats.by_type).toEqual([{ type: 'png', files: 2, bytes: stats.files.bytes }])
    expect(stats.top_users[0]).toMatchObject({ user_id: 'bob', files: 1 })
    expect(stats.largest_files[0]).toMatchObject({ file_id: big.file_id, user_id: 'bob', original_name: 'big.png', size: big.size })
    const today = new Date().toISOString().slice(0, 10)
    expect(stats.per_day.at(-1)).toMatchObject({ day: today, uploads: 2, downloads: 1 })
    expect(stats.storage.used_bytes).toBeGreaterThanOrEqual(stats.files.bytes)
    if (BACKEND === 'embedded') expect(stats.storage.disk_free_bytes).toBeGreaterThan(0)
    else expect(stats.storage.disk_free_bytes).toBeNull()
    expect(stats.jobs.cleanup).toMatchObject({ schedule: null, last: { triggered_by: 'cli', outcome: 'succeeded', summary: { removed: { files: 0 } } } })
    expect(stats.jobs.backup).toEqual({ schedule: null, last: null, last_succeeded: null })

    const cli = await runCli(['stats', '--json'], { ...cabinet.backend.env, ...OFF, ...QUIET_SDK })
    expect(cli.code).toBe(0)
    const fromCli = JSON.parse(cli.stdout)
    // Disk and database sizes move between two looks; everything else is the same numbers.
    expect({ ...fromCli, generated_at: null, storage: null }).toEqual({ ...stats, generated_at: null, storage: null })
    expect(Object.keys(fromCli.storage).sort()).toEqual(Object.keys(stats.storage).sort())
    const human = await runCli(['stats'], { ...cabinet.backend.env, ...QUIET_SDK })
    expect(human.stdout).toMatch(/^Files: 2 \(/m)
    expect(human.stdout).toMatch(/^Clean-up: scheduled "0 3 \* \* 0"; last run succeeded/m)
  })
})

describe('GET /metrics with CABINET_METRICS_TOKEN', () => {
  let cabinet: TestServer
  const token = 'metrics-secret-0123456789'
  beforeAll(async () => {
    cabinet = await startTestServer({ ...OFF, CABINET_METRICS_TOKEN: token })
  })
  afterAll(() => cabinet.stop())

  it('answers 401 without the token and the metrics with it', async () => {
    const refused = await fetch(`${cabinet.url}/metrics`)
    expect(refused.status).toBe(401)
    expect((await refused.json()).code).toBe('UNAUTHORIZED')
    expect((await fetch(`${cabinet.url}/metrics`, { headers: auth('wrong') })).status).toBe(401)
    const allowed = await fetch(`${cabinet.url}/metrics`, { headers: auth(token) })
    expect(allowed.status).toBe(200)
    expect(await allowed.text()).toContain('cabinet_http_requests_total')
  })
})
