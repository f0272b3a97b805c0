import { resolve, sep } from 'node:path'

const SAFE_KEY = /^[a-z0-9][a-z0-9_.-]*(\/[a-z0-9][a-z0-9_.-]*)*$/
const MAX_KEY_LENGTH = 512

/** Rejects any key that could name something outside the store: `..`, absolute paths, NUL, odd characters. */
export function assertSafeKey(key: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !SAFE_KEY.test(key) || key.split('/').some((s) => s === '..' || s === '.')) {
    throw new Error(`Unsafe blob key: ${JSON.stringify(key.slice(0, 80))}`)
  }
}

/** The absolute path of `key` under `root`, guaranteed to stay inside it. */
export function resolveInside(root: string, key: string): string {
  assertSafeKey(key)
  const absoluteRoot = resolve(root)
  const path = resolve(absoluteRoot, key)
  if (!path.startsWith(absoluteRoot + sep)) throw new Error(`Blob key escapes the store: ${key}`)
  return path
}

/**
 * Blob keys are sharded by the file id's first byte: `ab/abcd…`, so 256 folders are made once and then
 * shared. The deeper `ab/cd/…` tree of earlier uploads (which keep working: each row keeps its key)
 * made a new folder, and its extra syncs, for most uploads into a store of under a million files.
 */
export function blobKeyForFileId(fileId: string): string {
  return `${fileId.slice(0, 2)}/${fileId}`
}
