import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const SECRET_FILE = 'url-secret.key'

/**
 * The signed-URL secret: from configuration when set (required when several instances
 * serve the same files), else generated once into the data dir with mode 0600.
 */
export async function loadUrlSecret(configured: string | undefined, dataDir: string): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured)
  const path = join(dataDir, SECRET_FILE)
  try {
    return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const secret = randomBytes(32)
  try {
    await writeFile(path, secret.toString('base64url'), { mode: 0o600, flag: 'wx' })
    return secret
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadUrlSecret(undefined, dataDir)
    throw error
  }
}
