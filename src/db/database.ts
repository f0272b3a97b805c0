
/** Table types, snake_case as stored; repositories map rows to domain objects. Times are epoch milliseconds. */
export interface Database {
  files: FilesTable
  tokens: TokensTable
}

export type FileStatus = 'pending' | 'ready' | 'deleting'

export interface FilesTable {
  id: string
  user_id: string
  /** pending: bytes being written; ready: visible; deleting: row kept until the blob is gone. */
  status: FileStatus
  original_name: string
  kind: string
  mime_type: string
  blob_key: string
  size_bytes: number | null
  sha256: string | null
  created_at: number
  uploaded_at: number | null
}

export interface TokensTable {
  id: string
  user_id: string
  secret_hash: string
  created_at: number
  expires_at: number | null
  revoked_at: number | null
}
