import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { TestProject } from 'vitest/node'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..')
/** Per run, so that concurrent runs never stop each other's servers. */
const SERVICES_DIR = join(ROOT, '.test-services', `run-${process.pid}`)

export interface S3TestSettings {
  readonly endpoint: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a PostgreSQL server the tests may create databases on. */
    postgresUrl: string
    /** A real S3-compatible server (Ceph RGW) the tests may create buckets on. */
    s3: S3TestSettings
  }
}

function parseEnvLines(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z0-9_]+)=(.*)$/.exec(line.trim()))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1]!, match[2]!]),
  )
}

/** Starts one of scripts/services/ unless the environment already names a server; returns its env lines and a stop. */
async function ensureService(script: string, variable: string): Promise<{ env: Record<string, string>; stop?: () => Promise<void> }> {
  if (process.env[variable]) return { env: process.env as Record<string, string> }
  const dir = join(SERVICES_DIR, script.replace('.sh', ''))
  const path = join(ROOT, 'scripts', 'services', script)
  const { stdout } = await run('bash', [path, 'start', dir], { maxBuffer: 1 << 20, timeout: 300_000 })
  return { env: parseEnvLines(stdout), stop: async () => void (await run('bash', [path, 'stop', dir], { timeout: 60_000 })) }
}

interface RunningServices {
  readonly postgresUrl: string
  readonly s3: S3TestSettings
  stop(): Promise<void>
}

/** Shared by every project of the run (each may call setup); the last teardown stops the servers. */
const shared = globalThis as typeof globalThis & { cabinetServices?: { started: Promise<RunningServices>; users: number } }

async function startServices(): Promise<RunningServices> {
  const [postgres, s3] = await Promise.all([
    ensureService('postgres.sh', 'CABINET_TEST_DATABASE_URL'),
    ensureService('s3-rgw.sh', 'CABINET_TEST_S3_ENDPOINT'),
    // The CJK font that extraction tests embed in PDFs (Debian's fonts-droid-fallback).
    run('bash', [join(ROOT, 'scripts', 'fixtures', 'cjk-font.sh')], { timeout: 300_000 }),
  ])
  return {
    postgresUrl: postgres.env.CABINET_TEST_DATABASE_URL!,
    s3: {
      endpoint: s3.env.CABINET_TEST_S3_ENDPOINT!,
      region: s3.env.CABINET_TEST_S3_REGION ?? 'us-east-1',
      accessKeyId: s3.env.CABINET_TEST_S3_ACCESS_KEY_ID!,
      secretAccessKey: s3.env.CABINET_TEST_S3_SECRET_ACCESS_KEY!,
    },
    stop: async () => {
      await Promise.all([postgres.stop?.(), s3.stop?.()])
      await rm(SERVICES_DIR, { recursive: true, force: true })
    },
  }
}

/**
 * Real PostgreSQL and S3 for the whole run: the servers named by CABINET_TEST_DATABASE_URL
 * and CABINET_TEST_S3_* when set, else throwaway ones the project starts itself.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  shared.cabinetServices ??= { started: startServices(), users: 0 }
  shared.cabinetServices.users += 1
  const services = await shared.cabinetServices.started
  project.provide('postgresUrl', services.postgresUrl)
  project.provide('s3', services.s3)
  return async () => {
    const state = shared.cabinetServices!
    state.users -= 1
    if (state.users === 0) {
      shared.cabinetServices = undefined
      await services.stop()
    }
  }
}
