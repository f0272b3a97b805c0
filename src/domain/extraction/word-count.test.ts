import { describe, expect, it } from 'vitest'
import { countWords } from './word-count.js'

describe('countWords', () => {
  it('counts space-separated words, ignoring punctuation on its own', () => {
    expect(countWords('Revenue grew 12% this quarter — again.')).toBe(6)
  })
  it('counts each Chinese character as a word, mixed with Latin words', () => {
    expect(countWords('季度报告：收入增长 12%')).toBe(9)
  })
  it('is zero for empty or blank text', () => {
    expect(countWords('')).toBe(0)
    expect(countWords(' \n\t')).toBe(0)
  })
})
