import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { once } from 'node:events'
import { Transform, type Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'
import { assertSafeKey } from '../../blob/secure-path.js'

/** Bumped when the layout changes; readers refuse formats they do not know. */
export const ARCHIVE_FORMAT = 1
/** First entry: what the archive is. */
export const HEADER_ENTRY = 'cabinet-backup.json'
/** Last entry: every other entry's size and SHA-256; an archive without it is incomplete. */
export const MANIFEST_ENTRY = 'manifest.json'
export const METADATA_ENTRY = { sqlite: 'metadata/cabinet.db', pg_dump: 'metadata/cabinet.pgdump' } as const
const BLOB_PREFIX = 'blobs/'

export interface ArchiveHeader {
  readonly format: number
  readonly createdAt: string
  readonly metadata: 'sqlite' | 'pg_dump'
}

export interface ManifestEntry {
  readonly path: string
  readonly sizeBytes: number
  readonly sha256: string
}

export interface ArchiveManifest extends ArchiveHeader {
  /** Every entry but the manifest itself, in archive order. */
  readonly entries: readonly ManifestEntry[]
  /** Ready files in the snapshot, i.e. blobs in the archive. */
  readonly files: number
  /**
   * Files the snapshot lists whose owner deleted them before their blob was copied: their rows are
   * dropped on restore, which leaves the state just after those deletes.
   */
  readonly removedDuringBackup: readonly string[]
}

/** What an entry of an archive holds. */
export type EntryKind = { readonly kind: 'header' } | { readonly kind: 'metadata' } | { readonly kind: 'blob'; readonly key: string } | { readonly kind: 'manifest' }

export function blobEntryPath(key: string): string {
  return `${BLOB_PREFIX}${key}`
}

/** Names are never trusted: only Cabinet's own entry names, and blob keys that pass secure-path. */
export function classifyEntry(path: string): EntryKind {
  if (path === HEADER_ENTRY) return { kind: 'header' }
  if (path === MANIFEST_ENTRY) return { kind: 'manifest' }
  if (path === METADATA_ENTRY.sqlite || path === METADATA_ENTRY.pg_dump) return { kind: 'metadata' }
  if (path.startsWith(BLOB_PREFIX)) {
    const key = path.slice(BLOB_PREFIX.length)
    assertSafeKey(key)
    return { kind: 'blob', key }
  }
  throw new Error(`unexpected entry ${JSON.stringify(path.slice(0, 100))}`)
}

/** Writes `source` as one entry of `pack`, hashing it; rejects if it is not exactly `sizeBytes` long. */
export async function writeEntry(pack: tar.Pack, path: string, sizeBytes: number, source: AsyncIterable<Buffer> | Iterable<Buffer>, mtime: Date): Promise<ManifestEntry> {
  const hash = createHash('sha256')
  let written = 0
  let finished!: Promise<void>
  const entry: Writable = await new Promise((resolve) => {
    finished = new Promise<void>((done, fail) => {
      resolve(pack.entry({ name: path, size: sizeBytes, mode: 0o640, mtime, type: 'file' }, (error) => (error ? fail(error) : done())))
    })
  })
  try {
    for await (const chunk of source) {
      hash.update(chunk)
      written += chunk.length
      if (written > sizeBytes) throw new Error(`${path} is longer than the ${sizeBytes} bytes its record says`)
      if (!entry.write(chunk)) await once(entry, 'drain')
    }
    if (written !== sizeBytes) throw new Error(`${path} has ${written} bytes, its record says ${sizeBytes}`)
    entry.end()
    await finished
  } catch (error) {
    entry.destroy(error as Error)
    throw error
  }
  return { path, sizeBytes, sha256: hash.digest('hex') }
}

export function jsonEntry(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 1)}\n`)
}

/** One entry while reading: consume `content` exactly once. */
export interface ReadEntry {
  readonly path: string
  readonly kind: EntryKind
  readonly sizeBytes: number
  readonly content: Readable
}

export interface ReadResult {
  readonly header: ArchiveHeader
  readonly manifest: ArchiveManifest
}

/** Where a reader is in the archive, for progress: compressed bytes read of the file's size. */
export type OnArchiveBytes = (readBytes: number) => void

/**
 * Reads an archive from start to end, handing each data entry to `onEntry` while hashing it, and
 * checks it against the manifest at the end: every entry present once with its size and SHA-256,
 * no entry the manifest does not list, the gzip stream intact. Rejects on the first problem.
 */
export async function readArchive(
  path: string,
  onEntry: (entry: ReadEntry) => Promise<void>,
  onBytes: OnArchiveBytes = () => {},
): Promise<ReadResult> {
  const source = createReadStream(path)
  let readBytes = 0
  source.on('data', (chunk) => onBytes((readBytes += chunk.length)))
  const extract = tar.extract()
  const feeding = pipeline(source, createGunzip(), extract)
  feeding.catch(() => {})
  const seen = new Map<string, { sizeBytes: number; sha256: string }>()
  let header: ArchiveHeader | undefined
  let manifest: ArchiveManifest | undefined
  try {
    for await (const entry of extract) {
      const name = entry.header.name
      if (entry.header.type !== 'file') throw new Error(`entry ${JSON.stringify(name)} is not a plain file`)
      if (manifest) throw new Error(`entry ${JSON.stringify(name)} after the manifest`)
      if (seen.has(name)) throw new Error(`entry ${JSON.stringify(name)} appears twice`)
      const kind = classifyEntry(name)
      if (kind.kind === 'header' || kind.kind === 'manifest') {
        const text = (await readAll(entry)).toString('utf8')
        const parsed = JSON.parse(text) as ArchiveManifest
        if (kind.kind === 'header') {
          if (seen.size > 0) throw new Error(`${HEADER_ENTRY} is not the first entry`)
          if (parsed.format !== ARCHIVE_FORMAT) throw new Error(`archive format ${parsed.format} is not one this Cabinet reads (${ARCHIVE_FORMAT})`)
          header = parsed
          seen.set(name, { sizeBytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') })
        } else {
          manifest = parsed
        }
        continue
      }
      if (!header) throw new Error(`${HEADER_ENTRY} is not the first entry`)
      const hash = createHash('sha256')
      let sizeBytes = 0
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          sizeBytes += chunk.length
          callback(null, chunk)
        },
      })
      const pumping = pipeline(entry, hashing)
      pumping.catch(() => {})
      await onEntry({ path: name, kind, sizeBytes: entry.header.size ?? 0, content: hashing })
      // Whatever the handler left unread is drained, so the hash covers the whole entry.
      hashing.resume()
      await pumping
      seen.set(name, { sizeBytes, sha256: hash.digest('hex') })
    }
    await feeding
  } catch (error) {
    source.destroy()
    throw describeReadError(error)
  }
  if (!header) throw new Error('not a Cabinet backup: no header')
  if (!manifest) throw new Error('the archive is incomplete: it has no manifest (truncated?)')
  const listed = new Set<string>()
  for (const expected of manifest.entries) {
    listed.add(expected.path)
    const actual = seen.get(expected.path)
    if (!actual) throw new Error(`${expected.path} is missing from the archive`)
    if (actual.sizeBytes !== expected.sizeBytes || actual.sha256 !== expected.sha256) {
      throw new Error(`${expected.path} does not match the manifest: SHA-256 ${actual.sha256}, manifest says ${expected.sha256}`)
    }
  }
  const extra = [...seen.keys()].find((name) => !listed.has(name))
  if (extra) throw new Error(`${extra} is in the archive but not in its manifest`)
  return { header, manifest }
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream) {
    total += chunk.length
    if (total > 64 * 1024 * 1024) throw new Error('a JSON entry larger than 64 MiB')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function describeReadError(error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') return new Error(`the archive is corrupt (gzip: ${(error as Error).message})`, { cause: error })
  if (error instanceof SyntaxError) return new Error(`the archive is corrupt (bad JSON: ${error.message})`, { cause: error })
  if (error instanceof Error && /unexpected end|premature|invalid tar|checksum/i.test(error.message)) {
    return new Error(`the archive is corrupt or truncated (${error.message})`, { cause: error })
  }
  return error instanceof Error ? error : new Error(String(error))
}
