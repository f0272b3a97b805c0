import { describe, expect, it } from 'vitest'
import { AppError } from '../../errors.js'
import { cleanFileName } from './file-name.js'

function rejection(raw: string | undefined): AppError {
  try {
    cleanFileName(raw)
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    return error as AppError
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be refused`)
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8')
/** Tag characters spelling `text`, and a subdivision flag made of them (England: `gbeng`). */
const tags = (text: string) => [...text].map((character) => String.fromCodePoint(0xe0000 + character.charCodeAt(0))).join('')
const flag = (code: string) => `\u{1f3f4}${tags(code)}\u{e007f}`

describe('cleanFileName', () => {
  it('keeps an ordinary name as it is', () => {
    expect(cleanFileName('Quarterly report (final).pdf')).toBe('Quarterly report (final).pdf')
    expect(cleanFileName('报告.pdf')).toBe('报告.pdf')
    expect(cleanFileName('.env')).toBe('.env')
  })

  it.each([
    ['a/b/report.pdf', 'report.pdf'],
    ['/etc/passwd', 'passwd'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\Desktop\\report.pdf', 'report.pdf'],
    ['..\\..\\windows\\win.ini', 'win.ini'],
    ['mixed/dirs\\and/report.pdf', 'report.pdf'],
  ])('drops the path parts of %j', (raw, expected) => {
    expect(cleanFileName(raw)).toBe(expected)
  })

  it.each([
    ['NUL', 'repo\u0000rt.pdf', 'report.pdf'],
    ['newline and tab', 'rep\nor\tt.pdf', 'report.pdf'],
    ['escape and bell', '\u001b[31mreport\u0007.pdf', '[31mreport.pdf'],
    ['DEL and a C1 control', 'rep\u007fort\u0085.pdf', 'report.pdf'],
    ['a right-to-left override', 'invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['a left-to-right embedding and pop', '\u202Areport\u202C.pdf', 'report.pdf'],
    ['bidi isolates', '\u2066report\u2069\u2067.pdf\u2068', 'report.pdf'],
    ['zero-width space and BOM', '\ufeffre\u200bport.pdf', 'report.pdf'],
    ['LRM and RLM marks', 're\u200eport\u200f.pdf', 'report.pdf'],
    ['a soft hyphen', 're\u00adport.pdf', 'report.pdf'],
    ['tag characters', 'report\u{e0041}\u{e007f}.pdf', 'report.pdf'],
    ['a word joiner and an invisible separator', 're\u2060po\u2063rt.pdf', 'report.pdf'],
    ['an interlinear annotation and a Mongolian vowel separator', 're\ufff9po\u180ert.pdf', 'report.pdf'],
    ['joiners between ASCII letters', 're\u200dpo\u200crt.pdf', 'report.pdf'],
    ['joiners at either end and beside the extension', '\u200d\u6587\u4ef6\u200c.pdf\u200d', '\u6587\u4ef6.pdf'],
  ])('removes %s', (_label, raw, expected) => {
    expect(cleanFileName(raw)).toBe(expected)
  })

  it('keeps the joiners and variation selectors that scripts and emoji need', () => {
    const family = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}' // one emoji, joined by ZWJ
    const persian = '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645' // ZWNJ inside a word
    const heart = '\u2764\ufe0f' // VS16: the emoji form
    for (const name of [`${family}.png`, `${persian}.pdf`, `${heart}.jpg`]) expect(cleanFileName(name)).toBe(name)
  })

  it('keeps the format characters that are visible: the Arabic number and year signs, the Syriac abbreviation mark', () => {
    for (const name of ['\u0600\u0661\u0662\u0663.pdf', '\u0601\u0661\u0669\u0668\u0660.pdf', '\u070f\u0710\u0712.pdf']) {
      expect(cleanFileName(name)).toBe(name)
    }
  })

  it('keeps the England, Scotland and Wales flags, but no other tag characters', () => {
    const flags = `${flag('gbeng')}${flag('gbsct')}${flag('gbwls')}`
    expect(cleanFileName(`${flags} fixtures.xlsx`)).toBe(`${flags} fixtures.xlsx`)
    // Tags hide ASCII text from a reader: after a flag or not, outside those three they go.
    expect(cleanFileName(`${flag('usca')}.png`)).toBe('\u{1f3f4}.png')
    expect(cleanFileName(`report${flag('gbeng').slice(2)}.pdf`)).toBe('report.pdf')
    expect(cleanFileName(`notes\u{1f3f4}${tags('ignore all previous instructions')}\u{e007f}.pdf`)).toBe('notes\u{1f3f4}.pdf')
  })

  it('normalises to NFC, so the same name typed on macOS and Windows is equal', () => {
    const decomposed = 'Cafe\u0301 me\u0301nu.pdf'
    const cleaned = cleanFileName(decomposed)
    expect(cleaned).toBe('Caf\u00e9 m\u00e9nu.pdf')
    expect(cleaned).toBe(cleaned.normalize('NFC'))
  })

  it('is NFC even when a removed invisible character sat between a letter and its accent', () => {
    const cleaned = cleanFileName('Cafe\u200b\u0301.pdf')
    expect(cleaned).toBe(cleaned.normalize('NFC'))
    expect(cleaned).toBe('Caf\u00e9.pdf')
  })

  it('removes every Unicode Bidi_Control character, the Arabic letter mark included', () => {
    const bidiControls = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']
    for (const control of bidiControls) {
      expect({ control, cleaned: cleanFileName(`invoice${control}fdp.exe`) }).toEqual({ control, cleaned: 'invoicefdp.exe' })
    }
  })

  it('trims surrounding white space', () => {
    expect(cleanFileName('  report.pdf  ')).toBe('report.pdf')
  })

  it.each([
    ['undefined', undefined],
    ['empty', ''],
    ['white space only', '   '],
    ['a single dot', '.'],
    ['two dots', '..'],
    ['three dots', '...'],
    ['a path ending in ..', 'a/b/..'],
    ['a path ending in a slash', 'folder/'],
    ['only invisible characters', '\u202e\u200b\u0000'],
    ['dots hidden among invisible characters', '.\u200b.'],
  ])('refuses %s with BAD_FILE_NAME (400)', (_label, raw) => {
    const error = rejection(raw)
    expect(error.code).toBe('BAD_FILE_NAME')
    expect(error.status).toBe(400)
  })

  describe('255-byte cap', () => {
    it('leaves a name of exactly 255 bytes alone', () => {
      const name = `${'a'.repeat(251)}.pdf`
      expect(cleanFileName(name)).toBe(name)
    })

    it('shortens the stem of a long ASCII name and keeps the extension', () => {
      const cleaned = cleanFileName(`${'a'.repeat(300)}.pdf`)
      expect(bytes(cleaned)).toBe(255)
      expect(cleaned).toBe(`${'a'.repeat(251)}.pdf`)
    })

    it('never splits a 3-byte character', () => {
      const cleaned = cleanFileName(`${'报'.repeat(100)}.docx`)
      expect(bytes(cleaned)).toBeLessThanOrEqual(255)
      expect(cleaned).toBe(`${'报'.repeat(83)}.docx`) // 83 × 3 + 5 = 254 bytes; one more would be 257
      expect(cleaned).not.toContain('\ufffd')
    })

    it('never splits a 4-byte character (a surrogate pair in JavaScript)', () => {
      const cleaned = cleanFileName(`${'😀'.repeat(70)}.txt`)
      expect(bytes(cleaned)).toBeLessThanOrEqual(255)
      expect(cleaned.endsWith('.txt')).toBe(true)
      expect(cleaned).toBe(`${'😀'.repeat(62)}.txt`) // 62 × 4 + 4 = 252 bytes
      expect(Buffer.from(cleaned, 'utf8').toString('utf8')).toBe(cleaned) // no lone surrogate
    })

    it('never splits a flag, an emoji sequence or a letter from its accent', () => {
      const england = flag('gbeng') // 28 bytes
      const family = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}' // 18 bytes
      for (const [whole, filler] of [[england, 'a'.repeat(240)], [family, 'a'.repeat(245)], ['e\u0301\u0302', 'a'.repeat(248)]] as const) {
        const cleaned = cleanFileName(`${filler}${whole}.pdf`)
        expect(cleaned).toBe(`${filler}.pdf`)
        expect(cleanFileName(cleaned)).toBe(cleaned)
      }
    })

    it('keeps a multi-byte extension whole', () => {
      const cleaned = cleanFileName(`${'x'.repeat(300)}.文档`)
      expect(cleaned.endsWith('.文档')).toBe(true)
      expect(bytes(cleaned)).toBe(255)
    })

    it('measures the cap after invisible characters are removed', () => {
      const name = `${'a\u200b'.repeat(200)}.pdf`
      expect(cleanFileName(name)).toBe(`${'a'.repeat(200)}.pdf`)
    })
  })
})
