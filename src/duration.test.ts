import { describe, expect, it } from 'vitest'
import { parseDurationMs } from './duration.js'

describe('parseDurationMs', () => {
  it.each([
    ['5s', 5_000],
    ['10m', 600_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    ['1d', 86_400_000],
    ['90s', 90_000],
    ['  7d  ', 604_800_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms)
  })

  it.each([
    ['', 'empty'],
    ['5', 'no unit'],
    ['d', 'no amount'],
    ['5w', 'an unknown unit'],
    ['5S', 'an upper-case unit'],
    ['5 s', 'a space inside'],
    ['1.5h', 'a fraction'],
    ['-5s', 'a negative amount'],
    ['1h30m', 'two units'],
    ['0s', 'zero'],
    ['0d', 'zero days'],
    ['999999999999999d', 'more milliseconds than are safe to count'],
  ])('rejects %j (%s)', (text) => {
    expect(parseDurationMs(text)).toBeUndefined()
  })
})
