#!/usr/bin/env node
import { ConfigError } from '../config.js'

const USAGE = `Usage: cabinet <command> [options]

Commands:
  serve                                   Run the HTTP server (configured by environment variables; see README)
  token create --user <id> [--ttl 30d] [--admin]
                                          Issue a bearer token for a user (--admin: may also use /api/admin/*);
                                          the token is the last line printed
  token revoke <token-or-id>              Revoke a token
  token list [--user <id>]                List tokens (never their secrets)
  key create --name <name> --scope files:read[,files:write,chat,admin] [--all-users] [--ttl 90d]
                                          Create an API key for an agent or service; it reads only files users
                                          grant it, unless --all-users; the key is the last line printed
  key revoke <key, id or name>            Revoke an API key
  key list                                List API keys (never their secrets)
  audit [--key <id or name>] [--file <id>] [--since 7d] [--limit 100] [--json]
                                          Show the audit log of API-key access and grants, newest first
  user set-quota --user <id> [--max-bytes N|unlimited|default] [--max-files N|unlimited|default]
                                          Set a user's own storage limits
  user show --user <id>                   A user's usage and limits
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
  mcp                                     Cabinet's MCP server over stdio, for an MCP client to spawn; the API key
                                          comes from CABINET_MCP_KEY (never from the command line)
`

// Loaded on use: a command that needs only the database starts in a fraction of the server's load time.
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  serve: async () => (await import('./serve.js')).serveCommand(),
  token: async (args) => (await import('./token.js')).tokenCommand(args),
  key: async (args) => (await import('./key.js')).keyCommand(args),
  audit: async (args) => (await import('./audit.js')).auditCommand(args),
  user: async (args) => (await import('./user.js')).userCommand(args),
  'migrate-storage': async (args) => (await import('./migrate-storage.js')).migrateStorageCommand(args),
  cleanup: async (args) => (await import('./cleanup.js')).cleanupCommand(args),
  verify: async (args) => (await import('./verify.js')).verifyCommand(args),
  backup: async (args) => (await import('./backup.js')).backupCommand(args),
  restore: async (args) => (await import('./backup.js')).restoreCommand(args),
  stats: async (args) => (await import('./stats.js')).statsCommand(args),
  mcp: async (args) => (await import('./mcp.js')).mcpCommand(args),
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
