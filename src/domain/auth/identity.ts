/** User ids come from tokens, WeChat or a trusted gateway; this is the shape Cabinet accepts from any of them. */
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/

export function isValidUserId(value: string): boolean {
  return USER_ID.test(value)
}

/** Who is calling, established by the HTTP layer before any domain call. */
export interface Caller {
  readonly userId: string
  /** How the identity was established, for logs. */
  readonly via: 'token' | 'trusted-header'
  /** May use the operator's routes; only a token issued with `--admin` is. */
  readonly admin: boolean
}
