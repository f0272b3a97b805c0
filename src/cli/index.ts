#!/usr/bin/env node
import { ConfigError } from '../config.js'
import { migrateStorageCommand } from './migrate-storage.js'
import { tokenCommand } from './token.js'

const USAGE = `Usage: cabinet <command> [options]

Commands:
  serve                                   Run the HTTP server (configured by environment variables; see README)
  token create --user <id> [--ttl 30d] [--admin]
                                          Issue a bearer token for a user (--admin: may also use /api/admin/*);
                                          the token is the last line printed
  token revoke <token-or-id>              Revoke a token
  token list [--user <id>]                List tokens (never their secrets)
  migrate-storage --from <env file> --to <env file> [--json]
                                          Copy every file, token and setting to another storage (e.g. SQLite+disk to
                                          PostgreSQL+S3), verifying each file's SHA-256; safe to run again
  cleanup [--older-than 30d|never] [--dry-run] [--json]
                                          Remove files past their retention (CABINET_RETENTION, or the user's own);
                                          pinned files are kept. Prints files and bytes before, removed and after
  verify [--repair] [--json]              Check that metadata and blobs agree (sizes, SHA-256, orphans, modes, temp
                                          files); --repair fixes what is safe and quarantines the rest. Exit 0 if clean
  backup [--to DIR] [--json]              Write one consistent .tar.gz of the metadata and every blob it references
                                          (default dir: CABINET_BACKUP_DIR), then prune archives past the retention
  backup verify <archive> [--json]        Check an archive's every SHA-256 without restoring it
  restore <archive> [--to DIR] [--json]   Restore into an empty data dir (--to), or into the empty database and bucket
                                          the environment names; verifies every checksum, then runs verify
  stats [--json]                          Files and bytes by type and user, disk, largest files, uploads and downloads
                                          per day, last clean-up and backup (as GET /api/admin/stats)
  user set-retention --user <id> (--older-than 90d | --never | --default)
                                          A user's own retention, instead of CABINET_RETENTION
`

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  // Loaded on use: the HTTP stack is not needed by the other commands.
  serve: async () => (await import('./serve.js')).serveCommand(),
  token: tokenCommand,
  'migrate-storage': migrateStorageCommand,
  // Operations commands load only what they use.
  cleanup: async (args) => (await import('./cleanup.js')).cleanupCommand(args),
  user: async (args) => (await import('./user.js')).userCommand(args),
  verify: async (args) => (await import('./verify.js')).verifyCommand(args),
  backup: async (args) => (await import('./backup.js')).backupCommand(args),
  restore: async (args) => (await import('./backup.js')).restoreCommand(args),
  stats: async (args) => (await import('./stats.js')).statsCommand(args),
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE)
    return name === undefined ? 1 : 0
  }
  const command = COMMANDS[name]
  if (!command) {
    console.error(`cabinet: unknown command "${name}"\n\n${USAGE}`)
    return 2
  }
  return command(rest)
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(`cabinet: ${error.message}`)
    else console.error('cabinet:', error instanceof Error ? error.message : error)
    process.exitCode = error instanceof ConfigError ? 78 : 1
  },
)
