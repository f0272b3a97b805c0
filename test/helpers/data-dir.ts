import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cabinet-test-'))
}

/** Paths of every file under the given folders of `root`, relative to it. */
export async function listFiles(root: string, folders: string[]): Promise<string[]> {
  const found: string[] = []
  for (const folder of folders) {
    const entries = await readdir(join(root, folder), { recursive: true, withFileTypes: true }).catch(() => [])
    for (const entry of entries) if (entry.isFile()) found.push(join(entry.parentPath, entry.name).slice(root.length + 1))
  }
  return found.sort()
}
