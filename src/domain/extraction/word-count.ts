const WORD = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|[^\s\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{P}]+/gu

/**
 * Words in `text` as a reader counts them: each Han, kana or Hangul character is a word (as
 * Chinese and Japanese word counts go), and so is each run of other non-space characters.
 */
export function countWords(text: string): number {
  // exec in a loop rather than match: no array of every word of a million-character text.
  const word = new RegExp(WORD)
  let count = 0
  while (word.exec(text)) count += 1
  return count
}
