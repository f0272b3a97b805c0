import type { Logger } from 'pino'
import type { DailyTraffic, TrafficRepository } from '../../db/metadata-store.js'
import type { TransferObserver } from '../files/file-service.js'

type Counts = { uploads: number; uploadBytes: number; downloads: number; downloadBytes: number }

/** UTC day of `ms`, as YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/**
 * Uploads and downloads per day, counted in memory and added to the shared table every few
 * seconds (and on stop): the download path pays an increment, never a database write. A crash
 * loses at most one interval's counts.
 */
export class TrafficRecorder implements TransferObserver {
  private pending = new Map<string, Counts>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  /** The current UTC day and the ms at which it ends, so that counting allocates nothing. */
  private day = ''
  private dayEndsAtMs = 0

  constructor(
    private readonly traffic: TrafficRepository,
    private readonly options: { flushIntervalMs: number; logger: Logger; now?: () => number },
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.flush()
  }

  uploaded(bytes: number): void {
    const counts = this.today()
    counts.uploads += 1
    counts.uploadBytes += bytes
  }

  downloaded(bytes: number): void {
    const counts = this.today()
    counts.downloads += 1
    counts.downloadBytes += bytes
  }

  /** Adds what was counted so far to the table; one flush at a time, in order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending
      this.pending = new Map()
      for (const [day, counts] of batch) {
        const traffic: DailyTraffic = { day, ...counts }
        try {
          await this.traffic.add(traffic)
        } catch (error) {
          // Kept for the next flush rather than lost.
          this.options.logger.warn({ err: error }, 'could not record traffic counters; retrying later')
          const again = this.pending.get(day) ?? { uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0 }
          for (const key of Object.keys(again) as Array<keyof Counts>) again[key] += counts[key]
          this.pending.set(day, again)
        }
      }
    })
    return this.flushing
  }

  private today(): Counts {
    const now = (this.options.now ?? Date.now)()
    if (now >= this.dayEndsAtMs || now < this.dayEndsAtMs - 86_400_000) {
      this.day = utcDay(now)
      this.dayEndsAtMs = Date.parse(`${this.day}T00:00:00.000Z`) + 86_400_000
    }
    const day = this.day
    let counts = this.pending.get(day)
    if (!counts) {
      counts = { uploads: 0, uploadBytes: 0, downloads: 0, downloadBytes: 0 }
      this.pending.set(day, counts)
    }
    return counts
  }
}
