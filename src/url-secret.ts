import { randomBytes } from 'node:crypto'
import type { SettingsRepository } from './db/metadata-store.js'

/**
 * The signed-URL secret: from configuration when set, else generated once and kept in
 * the metadata database, so every instance over that database signs and checks alike.
 */
export async function loadUrlSecret(configured: string | undefined, settings: SettingsRepository): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured)
  const stored = await settings.getOrCreate('url_secret', () => randomBytes(32).toString('base64url'))
  return Buffer.from(stored, 'base64url')
}
