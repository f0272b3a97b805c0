import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { freshPostgresDatabase } from '../../test/helpers/backends.js'
import { proxyPostgres } from '../../test/helpers/tcp-proxy.js'
import { KyselyMetadataStore } from '../db/kysely-metadata-store.js'
import { JobRunner, PermanentJobError, type JobHandler } from './job-runner.js'

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('JobRunner', () => {
  let store: KyselyMetadataStore
  let runner: JobRunner | undefined

  beforeEach(async () => {
    store = await KyselyMetadataStore.openSqlite(':memory:')
  })
  afterEach(async () => {
    await runner?.stop()
    runner = undefined
    await store.close()
  })

  const start = (handlers: Record<string, JobHandler>, options: { concurrency?: number; pollIntervalMs?: number } = {}) => {
    runner = new JobRunner(store.jobs, { workerId: 'test', handlers, pollIntervalMs: options.pollIntervalMs ?? 20, leaseMs: 10_000, logger: pino({ level: 'silent' }), ...options })
    runner.start()
    return runner
  }

  it('runs up to `concurrency` jobs at once, each once', async () => {
    let running = 0
    let most = 0
    const seen: number[] = []
    for (let n = 0; n < 6; n++) await store.jobs.enqueue({ kind: 'work', payload: { n } })
    start(
      {
        work: async (job) => {
          running += 1
          most = Math.max(most, running)
          await new Promise((resolve) => setTimeout(resolve, 80))
          seen.push((job.payload as { n: number }).n)
          running -= 1
        },
      },
      { concurrency: 2 },
    )
    await until(async () => seen.length === 6)
    expect(most).toBe(2)
    expect(seen.sort()).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('fails a job at once on a PermanentJobError, and retries one on any other error', async () => {
    const permanent = await store.jobs.enqueue({ kind: 'broken', payload: {}, maxAttempts: 5 })
    const transient = await store.jobs.enqueue({ kind: 'flaky', payload: {}, maxAttempts: 5 })
    start({
      broken: async () => {
        throw new PermanentJobError('The file decompresses to more than the limit')
      },
      flaky: async () => {
        throw new Error('storage unreachable')
      },
    })
    await until(async () => (await store.jobs.get(permanent))?.state === 'failed' && (await store.jobs.get(transient))?.lastError !== undefined)
    expect(await store.jobs.get(permanent)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'The file decompresses to more than the limit' })
    expect(await store.jobs.get(transient)).toMatchObject({ state: 'queued', attempts: 1, lastError: 'storage unreachable' })
  })

  it('wake() ends the pause between polls, so a job queued here starts at once', async () => {
    let ran = false
    const idle = start({ work: async () => void (ran = true) }, { pollIntervalMs: 60_000 })
    await new Promise((resolve) => setTimeout(resolve, 50))
    await store.jobs.enqueue({ kind: 'work', payload: {} })
    idle.wake()
    await until(async () => ran, 2000)
  })
})

describe('JobRunner while the queue\'s database is down', () => {
  it('waits twice as long after each failed poll, and runs jobs again once the database answers', async () => {
    const database = await freshPostgresDatabase()
    const { proxy, url } = await proxyPostgres(database.url)
    const proxied = await KyselyMetadataStore.openPostgres(url, { poolMax: 2 })
    const direct = await KyselyMetadataStore.openPostgres(database.url, { poolMax: 1 })
    const lines: Array<{ msg: string; retryInMs?: number }> = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    let ran = false
    const runner = new JobRunner(proxied.jobs, {
      workerId: 'outage',
      handlers: { work: async () => void (ran = true) },
      pollIntervalMs: 20,
      leaseMs: 10_000,
      logger,
    })
    try {
      await proxy.cut()
      runner.start()
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const failures = lines.filter((line) => line.msg === 'could not poll the job queue')
      // Polling every 20 ms would fail about 75 times in 1.5 s; pauses of 40, 80, 160 ms... about 6 times.
      expect(failures.length).toBeGreaterThanOrEqual(3)
      expect(failures.length).toBeLessThanOrEqual(8)
      expect(failures.map((line) => line.retryInMs)).toEqual(failures.map((_, n) => 20 * 2 ** (n + 1)))

      await proxy.mend()
      await direct.jobs.enqueue({ kind: 'work', payload: {} })
      await until(async () => ran, 10_000)
      expect(lines.filter((line) => line.msg === 'the job queue answers again')).toHaveLength(1)
    } finally {
      await runner.stop()
      await proxied.close()
      await direct.close()
      await proxy.close()
      await database.drop()
    }
  })
})
