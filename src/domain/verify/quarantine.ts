import { createWriteStream } from 'node:fs'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../blob/blob-store.js'
import { assertSafeKey } from '../../blob/secure-path.js'

/**
 * Where `cabinet verify --repair` puts what it takes out of service instead of deleting it: a
 * blob's bytes under `<dir>/<run>/blobs/<key>`, a row's metadata as `<dir>/<run>/rows/<id>.json`.
 * A local folder on every backend, private like the data dir (0750 folders, 0640 files).
 */
export class Quarantine {
  readonly dir: string

  constructor(root: string, startedAt: Date) {
    this.dir = join(root, startedAt.toISOString().replace(/[:.]/g, '-'))
  }

  /** Copies the blob out of the store; the caller then deletes it there. */
  async keepBlob(blobs: BlobStore, key: string): Promise<string> {
    assertSafeKey(key)
    const path = join(this.dir, 'blobs', ...key.split('/'))
    await this.ensureDir(dirname(path))
    await pipeline(await blobs.get(key), createWriteStream(path, { mode: 0o640, flush: true }))
    return path
  }

  async keepRow(id: string, row: unknown): Promise<string> {
    const path = join(this.dir, 'rows', `${id.replace(/[^0-9a-zA-Z_-]/g, '_')}.json`)
    await this.ensureDir(dirname(path))
    await writeFile(path, `${JSON.stringify(row, null, 2)}\n`, { mode: 0o640 })
    return path
  }

  private async ensureDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o750 })
    for (let d = dir; d.startsWith(this.dir); d = dirname(d)) await chmod(d, 0o750)
    await chmod(dirname(this.dir), 0o750).catch(() => {})
  }
}
