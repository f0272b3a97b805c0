import { readdir, rm } from 'node:fs/promises'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import type { KyselyMetadataStore } from '../../src/db/kysely-metadata-store.js'
import { runExclusive, type ExclusiveRunDeps } from '../../src/domain/operations/exclusive-run.js'
import { JobRunner } from '../../src/jobs/job-runner.js'
import { operationsJobHandlers, scheduleOperations } from '../../src/jobs/operations.job.js'
import { openMetadataStore } from '../../src/main.js'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, eventually, uploadFile } from '../helpers/http.js'
import { makeDataDir, startTestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('the operations scheduler', () => {
  let backend: TestBackend
  let stores: KyselyMetadataStore[]
  const exclusiveOf = (store: KyselyMetadataStore, instance: string): ExclusiveRunDeps => ({
    locks: store.locks,
    jobRuns: store.jobRuns,
    instance,
    lockTtlMs: 3000,
    logger,
  })

  beforeAll(async () => {
    backend = await openTestBackend()
    const config = loadConfig(backend.env)
    // Two instances, each with its own connection to the shared database.
    stores = [await openMetadataStore(config), await openMetadataStore(config)]
  })
  afterAll(async () => {
    for (const store of stores ?? []) await store.close()
    await backend?.cleanup()
  })

  it('never runs a job beside another run of it, across instances and the CLI, and runs each tick once', async () => {
    const ran: Array<{ start: number; end: number; by: string }> = []
    const slowWork = (by: string, ms: number) => async () => {
      const start = Date.now()
      await sleep(ms)
      ran.push({ start, end: Date.now(), by })
      return { by }
    }
    const instances = stores.map((store, i) => {
      const handlers = operationsJobHandlers(exclusiveOf(store, `instance-${i}`), { cleanup: slowWork(`instance-${i}`, 1300), backup: async () => ({}) })
      const runner = new JobRunner(store.jobs, { workerId: `instance-${i}`, handlers, pollIntervalMs: 50, leaseMs: 3000, logger })
      runner.start()
      return { runner, stopSchedule: scheduleOperations(store.jobs, { cleanup: '* * * * * *' }, logger) }
    })
    const manual: string[] = []
    for (let i = 0; i < 4; i++) {
      await sleep(900)
      const outcome = await runExclusive(exclusiveOf(stores[0]!, 'cli'), 'cleanup', { triggeredBy: 'cli' }, slowWork('cli', 200))
      manual.push(outcome.status)
    }
    await sleep(1500)
    for (const instance of instances) instance.stopSchedule()
    await Promise.all(instances.map((instance) => instance.runner.stop()))

    const byStart = [...ran].sort((a, b) => a.start - b.start)
    for (let i = 1; i < byStart.length; i++) expect(byStart[i]!.start).toBeGreaterThanOrEqual(byStart[i - 1]!.end)
    const runs = await stores[0]!.jobRuns.list({ job: 'cleanup', limit: 200 })
    const scheduled = runs.filter((run) => run.triggeredBy === 'schedule')
    expect(scheduled.filter((run) => run.outcome === 'succeeded').length).toBeGreaterThanOrEqual(2)
    const ticks = scheduled.map((run) => run.scheduledFor!.getTime())
    expect(new Set(ticks).size).toBe(ticks.length)
    // Every run that did work is recorded with its outcome; the rest were skipped, never run twice.
    expect(runs.filter((run) => run.outcome === 'succeeded')).toHaveLength(ran.length)
    expect(runs.every((run) => run.outcome === 'succeeded' || run.outcome === 'skipped')).toBe(true)
    expect(manual.every((status) => status === 'succeeded' || status === 'skipped')).toBe(true)
  })

  it('a run while another holds the lock is skipped and recorded as such', async () => {
    let release!: () => void
    const holding = runExclusive(exclusiveOf(stores[0]!, 'a'), 'backup', { triggeredBy: 'cli' }, () => new Promise<void>((resolve) => (release = resolve)))
    await eventually(async () => expect(release).toBeDefined())
    await sleep(100)
    const second = await runExclusive(exclusiveOf(stores[1]!, 'b'), 'backup', { triggeredBy: 'cli' }, async () => 'ran')
    expect(second.status).toBe('skipped')
    release()
    expect((await holding).status).toBe('succeeded')
    const [latest, previous] = await stores[0]!.jobRuns.list({ job: 'backup', limit: 2 })
    expect([latest?.outcome, previous?.outcome].sort()).toEqual(['skipped', 'succeeded'])
  })
})

describe('a server with clean-up and backup scheduled', () => {
  it('runs them on their cron expressions and shows the outcomes in the stats', async () => {
    const backupDir = await makeDataDir()
    const cabinet = await startTestServer({
      CABINET_CLEANUP_SCHEDULE: '* * * * * *',
      CABINET_BACKUP_SCHEDULE: '*/2 * * * * *',
      CABINET_BACKUP_DIR: backupDir,
      CABINET_RETENTION: '1d',
      CABINET_JOB_POLL_INTERVAL_MS: '100',
    })
    try {
      const token = await cabinet.token('alice')
      const admin = (await cabinet.server.services.tokens.issue('ops', { admin: true })).token
      const old = await (await uploadFile(cabinet.url, { token, name: 'old.png', bytes: pngBytes() })).json()
      const db = await cabinet.backend.db()
      await db.updateTable('files').set({ uploaded_at: Date.now() - 2 * 86_400_000 }).where('id', '=', old.file_id).execute()
      await eventually(async () => expect(await cabinet.fileRows()).toEqual([]), 10_000)
      await eventually(async () => expect((await readdir(backupDir)).some((name) => name.endsWith('.tar.gz'))).toBe(true), 10_000)
      await eventually(async () => {
        const stats = await (await fetch(`${cabinet.url}/api/admin/stats`, { headers: auth(admin) })).json()
        expect(stats.jobs.cleanup.schedule).toBe('* * * * * *')
        expect(stats.jobs.cleanup.last_succeeded).toMatchObject({ triggered_by: 'schedule', scheduled_for: expect.any(String) })
        expect(stats.jobs.backup.last_succeeded).toMatchObject({ triggered_by: 'schedule', summary: { archive: expect.stringContaining(backupDir) } })
      }, 10_000)
      const metrics = await (await fetch(`${cabinet.url}/metrics`)).text()
      expect(metrics).toMatch(/^cabinet_job_runs_total\{job="cleanup",outcome="succeeded"\} [1-9]/m)
    } finally {
      await cabinet.stop()
      await rm(backupDir, { recursive: true, force: true })
    }
  })
})
