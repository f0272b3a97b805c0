const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** Parses `30d`, `12h`, `10m`, `5s` into milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+)([smhd])$/.exec(text.trim())
  if (!match) return undefined
  const amount = Number(match[1])
  const ms = amount * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined
}
