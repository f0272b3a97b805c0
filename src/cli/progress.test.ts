import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createProgressReporter, formatBytes } from './progress.js'

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text(): string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & { text(): string }
  let written = ''
  stream.on('data', (chunk: Buffer) => (written += chunk.toString()))
  Object.assign(stream, { isTTY, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, text: () => written })
  return stream
}

describe('progress on stderr', () => {
  it('without a terminal, prints plain lines: one per phase start and per 10% step', () => {
    const stream = fakeStream(false)
    const progress = createProgressReporter('backup', stream)
    for (let done = 0; done <= 100; done += 1) progress.onProgress({ phase: 'copying blobs', done: done * 1024 * 1024, total: 100 * 1024 * 1024, unit: 'bytes' })
    progress.onProgress({ phase: 'checking', done: 1, total: 2, unit: 'files' })
    progress.stop()
    const lines = stream.text().trim().split('\n')
    expect(lines[0]).toBe('backup: copying blobs 0% (0 B of 100.0 MiB)')
    expect(lines).toContain('backup: copying blobs 50% (50.0 MiB of 100.0 MiB)')
    expect(lines).toContain('backup: copying blobs 100% (100.0 MiB of 100.0 MiB)')
    expect(lines.at(-1)).toBe('backup: checking 50% (1 files of 2 files)')
    expect(lines).toHaveLength(12)
    expect(stream.text()).not.toContain('\u001b[')
  })

  it('on a terminal, draws a bar that is redrawn in place', () => {
    const stream = fakeStream(true)
    const progress = createProgressReporter('cleanup', stream)
    progress.onProgress({ phase: 'removing expired files', done: 0, total: 4, unit: 'files' })
    progress.onProgress({ phase: 'removing expired files', done: 4, total: 4, unit: 'files' })
    progress.stop()
    const text = stream.text()
    expect(text).toContain('cleanup: removing expired files [')
    expect(text).toContain('100% 4 files of 4 files')
    expect(text).toContain('[========================================] 100%')
    // Each redraw returns to the start of the line instead of printing a new one.
    expect(text.split('\u001b[1G')).toHaveLength(3)
    expect(text.trimEnd().split('\n')).toHaveLength(1)
  })

  it('formats bytes for people', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB')
  })
})
