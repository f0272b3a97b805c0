import { ERRORS } from '../../errors.js'

/** Tag characters spelling `text`: invisible, so they stay only in the flags below. */
const tags = (text: string) => [...text].map((character) => String.fromCodePoint(0xe0000 + character.charCodeAt(0))).join('')
/**
 * The three subdivision flags Unicode recommends (England, Scotland, Wales): a black flag, tag
 * characters and a cancel tag. Any other run of tags could hide text from a reader (and an agent).
 */
const SUBDIVISION_FLAGS = ['gbeng', 'gbsct', 'gbwls'].map((code) => `\u{1f3f4}${tags(code)}\u{e007f}`).join('|')
/**
 * Format characters that are visible: the prepended concatenation marks (the Arabic number and
 * year signs, the Syriac abbreviation mark, ...), which sit before the digits they span.
 */
const VISIBLE_FORMAT_CHARACTERS = '\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u{110bd}\u{110cd}'
/**
 * Invisible or misleading in a name: control characters (C0, C1, DEL), every other format character
 * (bidi marks, embeddings, overrides and isolates, zero-width space, soft hyphen, invisible
 * operators, the BOM, tag characters, ...) and the line and paragraph separators. The joiners
 * U+200C/D stay between two non-ASCII characters, where Indic, Persian and emoji need them, and go
 * elsewhere (`a\u200db` would look like `ab`); variation selectors stay (emoji, CJK variants).
 * A subdivision flag matches as a whole, and is kept.
 */
const UNSAFE_CHARACTERS = new RegExp(`(${SUBDIVISION_FLAGS})|[\\p{Cc}\\p{Zl}\\p{Zp}]|(?![\\u200c\\u200d${VISIBLE_FORMAT_CHARACTERS}])\\p{Cf}`, 'gu')
/** A joiner with an ASCII character, or the start or end of the name, on either side. */
const STRAY_JOINERS = /(?<![^\0-\x7f])[\u200c\u200d]|[\u200c\u200d](?![^\0-\x7f])/gu
const MAX_NAME_BYTES = 255

/**
 * The name a user gave their file, made safe to store and show: path parts dropped,
 * invisible and direction-changing characters removed, NFC-normalised, at most 255 bytes.
 * The name is metadata only; it never becomes a path on disk.
 */
export function cleanFileName(raw: string | undefined): string {
  if (raw === undefined || raw.trim() === '') throw ERRORS.badFileName('the file has no name')
  const base = raw.split(/[/\\]/).pop() ?? ''
  const cleaned = base.replace(UNSAFE_CHARACTERS, (_character, flag: string | undefined) => flag ?? '').replace(STRAY_JOINERS, '').normalize('NFC').trim()
  if (cleaned === '' || /^\.+$/.test(cleaned)) throw ERRORS.badFileName(`${JSON.stringify(raw.slice(0, 64))} is not a usable file name`)
  return truncateUtf8(cleaned, MAX_NAME_BYTES)
}

/** User-perceived characters: an emoji sequence, a flag, a letter with its accents. */
const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/** Keeps the extension while shortening the stem, never splitting a character (nor a flag or emoji sequence). */
function truncateUtf8(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name
  const dot = name.lastIndexOf('.')
  const extension = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : ''
  let stem = ''
  for (const { segment } of GRAPHEMES.segment(name.slice(0, name.length - extension.length))) {
    if (Buffer.byteLength(stem + segment + extension) > maxBytes) break
    stem += segment
  }
  return stem + extension
}
