import { readdir, readlink } from 'node:fs/promises'
import { expect, vi } from 'vitest'

/** How many of this process's descriptors are open on `path`, deleted or not (Linux). */
export async function descriptorsOn(path: string): Promise<number> {
  let count = 0
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '')
    if (target === path || target === `${path} (deleted)`) count += 1
  }
  return count
}

/** Descriptors are closed in the background; this waits until each path has the expected count. */
export async function expectDescriptors(paths: string[], expected: number[]): Promise<void> {
  await vi.waitFor(async () => expect(await Promise.all(paths.map(descriptorsOn))).toEqual(expected), { timeout: 5000, interval: 10 })
}
