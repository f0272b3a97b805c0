import { describe, expect, it } from 'vitest'
import { fitSections, shareBudget } from './text-budget.js'

describe('shareBudget', () => {
  it('lets short texts keep everything and shares the rest among the long ones', () => {
    expect(shareBudget([100, 5000, 20_000], 10_000)).toEqual([100, 4950, 4950])
    expect(shareBudget([100, 200, 300], 10_000)).toEqual([100, 200, 300])
    expect(shareBudget([4000, 4000, 4000], 9000)).toEqual([3000, 3000, 3000])
    expect(shareBudget([10, 3000, 6000], 5010)).toEqual([10, 2500, 2500])
    expect(shareBudget([], 100)).toEqual([])
    expect(shareBudget([50], 0)).toEqual([0])
  })

  it('never hands out more than the budget', () => {
    for (const lengths of [[1, 2, 3, 1000, 7], [333, 333, 334], [9999, 1, 9999]]) {
      for (const budget of [0, 1, 17, 500, 1000, 5000]) {
        const shares = shareBudget(lengths, budget)
        expect(shares.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(budget)
        shares.forEach((share, i) => expect(share).toBeLessThanOrEqual(lengths[i]!))
      }
    }
  })
})

describe('fitSections', () => {
  const pages = Array.from({ length: 10 }, (_, i) => ({ heading: `[Page ${i + 1}]`, text: `${'word '.repeat(99)}end${i + 1}` }))

  it('keeps a text that fits whole', () => {
    const fitted = fitSections([{ heading: undefined, text: '季度报告' }], 100)
    expect(fitted).toEqual({ text: '季度报告', cut: false, keptChars: 4, totalChars: 4, wholeSections: 1, totalSections: 1, partialSection: false })
  })

  it('cuts a long one within the limit and says which sections it kept', () => {
    const fitted = fitSections(pages, 2000)
    expect(fitted.cut).toBe(true)
    expect(fitted.text.length).toBeLessThanOrEqual(2000)
    expect(fitted.text.startsWith('[Page 1]\nword ')).toBe(true)
    expect(fitted.text).toContain('end3')
    expect(fitted.text).not.toContain('end4')
    expect(fitted).toMatchObject({ wholeSections: 3, totalSections: 10, partialSection: true, keptChars: fitted.text.length })
    expect(fitted.totalChars).toBe(pages.map((p) => p.heading.length + 1 + p.text.length).reduce((a, b) => a + b) + 9 * 2)
  })

  it('never splits a surrogate pair', () => {
    const fitted = fitSections([{ heading: undefined, text: '🙂'.repeat(500) }], 601)
    expect(fitted.text).toBe('🙂'.repeat(200))
  })
})
