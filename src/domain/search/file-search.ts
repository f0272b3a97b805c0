import type { MetadataStore } from '../../db/metadata-store.js'
import { ERRORS } from '../../errors.js'
import { kindsForTypeFilter } from '../files/file-types.js'
import type { FilePage } from '../files/file-service.js'

const MAX_TERMS = 8
const MAX_TERM_CHARS = 100
/** Deepest result a cursor may reach: ranked search pages by offset, and deep offsets cost. */
const MAX_OFFSET = 10_000

/**
 * `GET /api/files?q=`: the caller's files whose name or extracted text holds every
 * whitespace-separated term (substring match, case-insensitive, any script), best first.
 * Combines with `type` and pages with an opaque cursor (an offset into the ranking).
 */
export class FileSearch {
  constructor(private readonly metadata: MetadataStore) {}

  /**
   * With `reach`, also the files an API key may read besides its own space: those granted to it
   * at `grantedTo.at`, or every user's (`allUsers`).
   */
  async search(
    userId: string,
    query: { q: string; limit: number; cursor?: string; type?: string },
    reach: { grantedTo?: { keyId: string; at: Date }; allUsers?: boolean } = {},
  ): Promise<FilePage> {
    // Names and extracted text are stored composed (NFC), as most keyboards type; macOS often pastes decomposed.
    const terms = [...new Set(query.q.normalize('NFC').trim().split(/\s+/u).filter(Boolean))]
    if (terms.length === 0) throw ERRORS.badRequest('q must contain something to search for')
    if (terms.length > MAX_TERMS) throw ERRORS.badRequest(`q may hold at most ${MAX_TERMS} words`)
    if (terms.some((term) => term.length > MAX_TERM_CHARS)) throw ERRORS.badRequest(`Each word of q may be at most ${MAX_TERM_CHARS} characters`)
    // Tabs and line breaks separate words above; any other control character (NUL ends SQLite's match expression) is refused.
    if (terms.some((term) => /\p{Cc}/u.test(term))) throw ERRORS.badRequest('q may not contain control characters')
    const offset = query.cursor === undefined ? 0 : decodeSearchCursor(query.cursor)
    const kinds = kindsForTypeFilter(query.type)
    const files = await this.metadata.search.search(userId, { terms, limit: query.limit + 1, offset, ...(kinds ? { kinds } : {}), ...reach })
    const page = files.slice(0, query.limit)
    const next = offset + page.length
    return { files: page, nextCursor: files.length > query.limit && next <= MAX_OFFSET ? encodeSearchCursor(next) : undefined }
  }
}

function encodeSearchCursor(offset: number): string {
  return Buffer.from(`q.${offset}`).toString('base64url')
}

function decodeSearchCursor(cursor: string): number {
  const match = /^q\.(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (!match || Number(match[1]) > MAX_OFFSET) throw ERRORS.badRequest('Invalid cursor: pass the next_cursor value of the previous page of this search')
  return Number(match[1])
}
