/**
 * The file types Cabinet knows how to recognise by content. A type is accepted only
 * when its extension is allowed by configuration and its bytes prove it.
 */
export type FileKind =
  | 'jpg' | 'png' | 'gif' | 'webp' | 'pdf'
  | 'doc' | 'xls' | 'docx' | 'xlsx' | 'pptx'
  | 'txt' | 'md' | 'csv' | 'json'

/** How the bytes of a kind are recognised. */
export type Signature =
  | { readonly magic: 'jpg' | 'png' | 'gif' | 'webp' | 'pdf' }
  | { readonly ole2: true }
  | { readonly zip: { readonly contentType: string } }
  | { readonly text: true }

export interface FileTypeInfo {
  readonly kind: FileKind
  readonly mimeType: string
  readonly signature: Signature
}

const OOXML = 'application/vnd.openxmlformats-officedocument'

export const FILE_TYPES: Readonly<Record<FileKind, FileTypeInfo>> = {
  jpg: { kind: 'jpg', mimeType: 'image/jpeg', signature: { magic: 'jpg' } },
  png: { kind: 'png', mimeType: 'image/png', signature: { magic: 'png' } },
  gif: { kind: 'gif', mimeType: 'image/gif', signature: { magic: 'gif' } },
  webp: { kind: 'webp', mimeType: 'image/webp', signature: { magic: 'webp' } },
  pdf: { kind: 'pdf', mimeType: 'application/pdf', signature: { magic: 'pdf' } },
  doc: { kind: 'doc', mimeType: 'application/msword', signature: { ole2: true } },
  xls: { kind: 'xls', mimeType: 'application/vnd.ms-excel', signature: { ole2: true } },
  docx: {
    kind: 'docx',
    mimeType: `${OOXML}.wordprocessingml.document`,
    signature: { zip: { contentType: `${OOXML}.wordprocessingml.document.main+xml` } },
  },
  xlsx: {
    kind: 'xlsx',
    mimeType: `${OOXML}.spreadsheetml.sheet`,
    signature: { zip: { contentType: `${OOXML}.spreadsheetml.sheet.main+xml` } },
  },
  pptx: {
    kind: 'pptx',
    mimeType: `${OOXML}.presentationml.presentation`,
    signature: { zip: { contentType: `${OOXML}.presentationml.presentation.main+xml` } },
  },
  txt: { kind: 'txt', mimeType: 'text/plain; charset=utf-8', signature: { text: true } },
  md: { kind: 'md', mimeType: 'text/markdown; charset=utf-8', signature: { text: true } },
  csv: { kind: 'csv', mimeType: 'text/csv; charset=utf-8', signature: { text: true } },
  json: { kind: 'json', mimeType: 'application/json', signature: { text: true } },
}

/** Extensions as users type them, mapped to the kind they stand for. */
const EXTENSION_KINDS: Readonly<Record<string, FileKind>> = {
  jpg: 'jpg', jpeg: 'jpg', png: 'png', gif: 'gif', webp: 'webp', pdf: 'pdf',
  doc: 'doc', xls: 'xls', docx: 'docx', xlsx: 'xlsx', pptx: 'pptx',
  txt: 'txt', md: 'md', markdown: 'md', csv: 'csv', json: 'json',
}

export const KNOWN_EXTENSIONS: readonly string[] = Object.keys(EXTENSION_KINDS)

export function kindOfExtension(extension: string): FileKind | undefined {
  return Object.hasOwn(EXTENSION_KINDS, extension) ? EXTENSION_KINDS[extension] : undefined
}

/** The lower-cased extension of a file name, without the dot; '' when there is none. */
export function extensionOf(fileName: string): string {
  const dot = fileName.lastIndexOf('.')
  return dot <= 0 ? '' : fileName.slice(dot + 1).toLowerCase()
}

/** Matches `?type=`: a kind or extension (`pdf`, `jpeg`), a MIME type, or a family (`image`, `image/*`). */
export function kindsMatchingFilter(filter: string): FileKind[] {
  const wanted = filter.trim().toLowerCase()
  const family = wanted.endsWith('/*') ? wanted.slice(0, -2) : wanted.includes('/') ? undefined : wanted
  const byExtension = kindOfExtension(wanted)
  return Object.values(FILE_TYPES)
    .filter((type) => {
      const mime = type.mimeType.split(';')[0]!
      return type.kind === byExtension || mime === wanted || (family !== undefined && mime.startsWith(`${family}/`))
    })
    .map((type) => type.kind)
}

/** The kinds a `?type=` filter (comma-separated) selects; undefined when there is none, absent or blank as a form sends it. */
export function kindsForTypeFilter(filter: string | undefined): FileKind[] | undefined {
  if (filter === undefined || filter.trim() === '') return undefined
  return filter.split(',').flatMap(kindsMatchingFilter)
}
