import { spawn } from 'node:child_process'
import { access, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** Where Debian and Ubuntu put each PostgreSQL major version's client programs. */
const DEBIAN_PG_LIB = '/usr/lib/postgresql'

/**
 * The newest installed `pg_dump` or `pg_restore`: `/usr/lib/postgresql/<major>/bin` on Debian and
 * Ubuntu (a newer client dumps older servers; an older one refuses a newer server), else the one on PATH.
 */
export async function findPgTool(name: 'pg_dump' | 'pg_restore'): Promise<string> {
  const majors = await readdir(DEBIAN_PG_LIB).catch(() => [] as string[])
  for (const major of majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a))) {
    const path = join(DEBIAN_PG_LIB, major, 'bin', name)
    if (await access(path).then(() => true, () => false)) return path
  }
  return name
}

/** The URL without its password, which goes to the child in PGPASSWORD instead of its argv. */
function splitPassword(url: string): { dbname: string; password: string | undefined } {
  const parsed = new URL(url)
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password)
  parsed.password = ''
  return { dbname: parsed.toString(), password }
}

/** Runs pg_dump or pg_restore against the database at `url`; rejects with the tool's own message. */
export async function runPgTool(name: 'pg_dump' | 'pg_restore', url: string, args: readonly string[]): Promise<void> {
  const tool = await findPgTool(name)
  const { dbname, password } = splitPassword(url)
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10' }
  if (password !== undefined) env.PGPASSWORD = password
  const child = spawn(tool, [...args, `--dbname=${dbname}`], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 8192) stderr += chunk.toString()
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(`${name} not found: install the PostgreSQL client matching your server (Debian: apt-get install postgresql-client)`)
          : error,
      ),
    )
    child.once('close', resolve)
  })
  if (code !== 0) throw new Error(`${name} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' ') || 'no message'}`)
}
