/** A piece of a file's text that a cut can report on: a PDF page, a sheet, or the whole document. */
export interface TextSection {
  /** How the section is shown to the agent above its text (e.g. `[Page 3]`); none for a whole document. */
  readonly heading: string | undefined
  readonly text: string
}

/** A file's text as sent: all of it, or the start of it with a note saying what was cut. */
export interface FittedText {
  readonly text: string
  readonly cut: boolean
  readonly keptChars: number
  readonly totalChars: number
  /** Sections sent whole, and in all. */
  readonly wholeSections: number
  readonly totalSections: number
  /** The section the cut fell in, sent in part. */
  readonly partialSection: boolean
}

const SECTION_SEPARATOR = '\n\n'
/** Room kept for the note that says what was cut, so that the note itself stays within the budget. */
const CUT_NOTE_CHARS = 200

/**
 * Divides `budget` among texts of the given lengths: a text shorter than an equal share keeps all
 * of it, and what it leaves goes to the longer ones, which share the rest equally (water-filling).
 * The shares never add up to more than `budget`.
 */
export function shareBudget(lengths: readonly number[], budget: number): number[] {
  const shares = lengths.map(() => 0)
  let left = Math.max(0, budget)
  let open = lengths.map((_, i) => i)
  while (open.length > 0 && left > 0) {
    const share = Math.floor(left / open.length)
    const small = open.filter((i) => lengths[i]! - shares[i]! <= share)
    if (small.length === 0) {
      for (const i of open) shares[i]! += share
      return shares
    }
    for (const i of small) {
      left -= lengths[i]! - shares[i]!
      shares[i] = lengths[i]!
    }
    open = open.filter((i) => !small.includes(i))
  }
  return shares
}

/** The sections as one text, each under its heading. */
export function joinSections(sections: readonly TextSection[]): string {
  return sections.map(sectionText).join(SECTION_SEPARATOR)
}

/**
 * The sections joined, cut to at most `maxChars` characters (UTF-16 code units) when longer: on
 * the last line break before the limit when there is one near it, never inside a surrogate pair.
 */
export function fitSections(sections: readonly TextSection[], maxChars: number): FittedText {
  const whole = joinSections(sections)
  const totalSections = sections.length
  if (whole.length <= maxChars) {
    return { text: whole, cut: false, keptChars: whole.length, totalChars: whole.length, wholeSections: totalSections, totalSections, partialSection: false }
  }
  let end = Math.max(0, maxChars - CUT_NOTE_CHARS)
  const lineBreak = whole.lastIndexOf('\n', end)
  if (lineBreak > end * 0.9) end = lineBreak
  else if (end > 0 && isHighSurrogate(whole.charCodeAt(end - 1))) end -= 1
  const kept = whole.slice(0, end).trimEnd()
  // Which sections ended before the cut.
  let position = 0
  let wholeSections = 0
  for (const section of sections) {
    position += sectionText(section).length
    if (position > kept.length) break
    wholeSections += 1
    position += SECTION_SEPARATOR.length
  }
  const partialSection = wholeSections < totalSections && kept.length > position - sectionText(sections[wholeSections]!).length
  return { text: kept, cut: true, keptChars: kept.length, totalChars: whole.length, wholeSections, totalSections, partialSection }
}

function sectionText(section: TextSection): string {
  return section.heading === undefined ? section.text : `${section.heading}\n${section.text}`
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff
}
