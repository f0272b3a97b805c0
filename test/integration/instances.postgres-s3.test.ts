import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KyselyJobQueue } from '../../src/db/job-queue.repository.js'
import { RECOVER_INTERRUPTED } from '../../src/jobs/recover-interrupted.job.js'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, eventually, uploadFile } from '../helpers/http.js'
import { runCli, startServeProcess, type ServeProcess } from '../helpers/process.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

describe('two Cabinet processes over one PostgreSQL and one bucket', () => {
  let backend: TestBackend
  let first: ServeProcess
  let second: ServeProcess
  let token: string

  beforeAll(async () => {
    backend = await openTestBackend()
    // Debug logs name each job an instance finished: they tell which of the two ran it.
    const env = { ...backend.env, CABINET_JOB_POLL_INTERVAL_MS: '100', CABINET_LOG_LEVEL: 'debug' }
    ;[first, second] = await Promise.all([startServeProcess(env), startServeProcess(env)])
    expect(first.url).not.toBe(second.url)
    token = (await runCli(['token', 'create', '--user', 'alice'], backend.env)).stdout.trim().split('\n').at(-1)!
  })
  afterAll(async () => {
    for (const server of [first, second]) server?.child.kill('SIGTERM')
    await Promise.all([first?.exited, second?.exited])
    await backend?.cleanup()
  })

  it('a file uploaded through one downloads through the other, and a signed URL from one works on the other', async () => {
    const bytes = pngBytes(300_000)
    const upload = await uploadFile(first.url, { token, name: 'shared.png', bytes })
    expect(upload.status).toBe(200)
    const { file_id, sha256 } = await upload.json()
    const download = await fetch(`${second.url}/api/files/${file_id}`, { headers: auth(token) })
    expect(download.status).toBe(200)
    const received = Buffer.from(await download.arrayBuffer())
    expect(createHash('sha256').update(received).digest('hex')).toBe(sha256)

    const signed = await (await fetch(`${first.url}/api/files/${file_id}/url`, { method: 'POST', headers: auth(token) })).json()
    const viaOther = await fetch(signed.url.replace(first.url, second.url))
    expect(viaOther.status).toBe(200)

    expect((await fetch(`${second.url}/api/files/${file_id}`, { method: 'DELETE', headers: auth(token) })).status).toBe(204)
    expect((await fetch(`${first.url}/api/files/${file_id}`, { headers: auth(token) })).status).toBe(404)
  })

  it('each job put on the shared queue is claimed by exactly one of the two', async () => {
    const queue = new KyselyJobQueue(await backend.db(), 'postgres')
    const ids = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue({ kind: RECOVER_INTERRUPTED, payload: {} })))
    await eventually(async () => {
      const states = await Promise.all(ids.map(async (id) => (await queue.get(id))?.state))
      expect(states.every((state) => state === 'done')).toBe(true)
    }, 15_000)
    for (const id of ids) {
      expect((await queue.get(id))?.attempts).toBe(1)
      const ranOn = [first, second].filter((server) => server.output().includes(`"jobId":"${id}"`))
      expect(ranOn).toHaveLength(1)
    }
  })
})
