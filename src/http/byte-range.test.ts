import { describe, expect, it } from 'vitest'
import { parseRangeHeader } from './byte-range.js'

// A 1000-byte file unless a case says otherwise; ranges are inclusive (RFC 9110 §14.1.2).
const SIZE = 1000

describe('parseRangeHeader (RFC 9110 §14)', () => {
  it('serves the whole file when there is no Range header', () => {
    expect(parseRangeHeader(undefined, SIZE)).toBeUndefined()
  })

  it.each([
    ['bytes=0-0', { start: 0, end: 0 }, 'the first byte'],
    ['bytes=0-', { start: 0, end: 999 }, 'from the start to the end'],
    ['bytes=500-', { start: 500, end: 999 }, 'an open-ended range'],
    ['bytes=999-999', { start: 999, end: 999 }, 'the last byte by position'],
    ['bytes=100-199', { start: 100, end: 199 }, 'a middle slice'],
    ['bytes=-1', { start: 999, end: 999 }, 'the last byte by suffix'],
    ['bytes=-100', { start: 900, end: 999 }, 'a suffix'],
    ['bytes=-1000', { start: 0, end: 999 }, 'a suffix exactly the size'],
    ['bytes=-5000', { start: 0, end: 999 }, 'a suffix larger than the file (the whole file)'],
    ['bytes=900-5000', { start: 900, end: 999 }, 'an end beyond the file (clamped)'],
    ['bytes=0-999', { start: 0, end: 999 }, 'the whole file explicitly'],
  ])('%s gives %o: %s', (header, expected) => {
    expect(parseRangeHeader(header, SIZE)).toEqual(expected)
  })

  it.each([
    ['bytes=1000-', 'a start exactly at the size'],
    ['bytes=1000-1000', 'a closed range starting at the size'],
    ['bytes=5000-6000', 'a start far beyond the size'],
    ['bytes=-0', 'an empty suffix'],
  ])('%s is unsatisfiable (416): %s', (header) => {
    expect(parseRangeHeader(header, SIZE)).toBe('unsatisfiable')
  })

  it.each([
    ['bytes=500-100', 'a reversed range'],
    ['bytes=0-1,5-6', 'multiple ranges'],
    ['bytes=0-0, -1', 'multiple ranges with a space'],
    ['bytes=-', 'no positions'],
    ['bytes=abc-def', 'letters'],
    ['bytes=1.5-2', 'a fraction'],
    ['bytes=-1-2', 'a negative start'],
    ['items=0-10', 'another range unit'],
    ['0-10', 'no unit'],
    ['bytes 0-10', 'no equals sign'],
    ['', 'an empty header'],
    ['garbage', 'garbage'],
  ])('%s is ignored and the whole file sent: %s', (header) => {
    expect(parseRangeHeader(header, SIZE)).toBeUndefined()
  })

  it('treats a 1-byte file like any other', () => {
    expect(parseRangeHeader('bytes=0-', 1)).toEqual({ start: 0, end: 0 })
    expect(parseRangeHeader('bytes=-10', 1)).toEqual({ start: 0, end: 0 })
    expect(parseRangeHeader('bytes=1-', 1)).toBe('unsatisfiable')
  })

  it('handles sizes beyond 4 GiB', () => {
    const big = 6 * 1024 ** 3
    expect(parseRangeHeader('bytes=5000000000-', big)).toEqual({ start: 5_000_000_000, end: big - 1 })
    expect(parseRangeHeader('bytes=-10', big)).toEqual({ start: big - 10, end: big - 1 })
  })
})
