import { setRetentionCommand } from './user-retention.js'

/** `cabinet user <action>`: per-user settings. */
export async function userCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args
  switch (action) {
    case 'set-retention':
      return setRetentionCommand(rest)
    default:
      throw new Error('usage: cabinet user set-retention --user <id> (--older-than 90d | --never | --default)')
  }
}
