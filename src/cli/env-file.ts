import { readFile } from 'node:fs/promises'

/**
 * Reads a file of `NAME=value` lines, as systemd's EnvironmentFile takes: blank lines and
 * `#` comments are skipped, and a value may be wrapped in single or double quotes.
 */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!match) throw new Error(`${path}:${index + 1}: expected NAME=value`)
    env[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, '$2')
  })
  return env
}
