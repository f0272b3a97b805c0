import { SingleBar } from 'cli-progress'
import type { OnProgress, ProgressEvent } from '../domain/progress.js'

/** Bytes for people: 1.5 MiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

function amount(value: number, unit: ProgressEvent['unit']): string {
  return unit === 'bytes' ? formatBytes(value) : `${value} files`
}

function describe(event: ProgressEvent): string {
  return `${amount(event.done, event.unit)} of ${amount(Math.max(event.total, event.done), event.unit)}`
}

export interface ProgressReporter {
  readonly onProgress: OnProgress
  /** Ends the current bar or line; call before printing the report. */
  stop(): void
}

/** Plain lines without a terminal: one when a phase starts, then at most one per 10% step or 5 s. */
const LINE_INTERVAL_MS = 5_000

/**
 * Progress on stderr, so that stdout (and `--json` output) stays clean: a bar on a terminal,
 * plain `command: phase 40% (4/10 files)` lines otherwise (logs, cron mail, CI).
 */
export function createProgressReporter(command: string, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  return stream.isTTY ? terminalReporter(command, stream) : lineReporter(command, stream)
}

function terminalReporter(command: string, stream: NodeJS.WriteStream): ProgressReporter {
  let bar: SingleBar | undefined
  let phase: string | undefined
  const stop = () => {
    bar?.stop()
    bar = undefined
    phase = undefined
  }
  return {
    onProgress(event) {
      if (event.phase !== phase) {
        stop()
        phase = event.phase
        bar = new SingleBar({
          stream,
          format: `${command}: ${event.phase} [{bar}] {percentage}% {amount}`,
          hideCursor: true,
          clearOnComplete: false,
          fps: 10,
        })
        bar.start(Math.max(event.total, event.done, 1), event.done, { amount: describe(event) })
      }
      if (event.done > bar!.getTotal()) bar!.setTotal(event.done)
      bar!.update(event.done, { amount: describe(event) })
    },
    stop,
  }
}

function lineReporter(command: string, stream: NodeJS.WriteStream): ProgressReporter {
  let phase: string | undefined
  let lastStep = -1
  let lastAt = 0
  return {
    onProgress(event) {
      const total = Math.max(event.total, event.done)
      const percent = total === 0 ? 100 : Math.floor((event.done / total) * 100)
      const step = Math.floor(percent / 10)
      const now = Date.now()
      if (event.phase === phase && step === lastStep && now - lastAt < LINE_INTERVAL_MS) return
      phase = event.phase
      lastStep = step
      lastAt = now
      stream.write(`${command}: ${event.phase} ${percent}% (${amount(event.done, event.unit)} of ${amount(total, event.unit)})\n`)
    },
    stop() {},
  }
}
