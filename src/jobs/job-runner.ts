import type { Logger } from 'pino'
import type { Job, JobQueue } from './job-queue.js'

/** How often a yielding slot looks again whether the server is still busy. */
const YIELD_STEP_MS = 20
/** Longest pause between polls while the queue's database does not answer (the pause doubles from the poll interval). */
const MAX_RETRY_MS = 30_000

/** Does one job; throwing marks the attempt failed (retried with backoff until its attempts run out). */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>

/** Thrown by a handler for a failure no retry can fix (a malformed file): the job fails at once with this message. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PermanentJobError'
  }
}

export interface JobRunnerOptions {
  /** This instance's identity in the queue's leases; each concurrent slot adds `:<n>` from the second on. */
  readonly workerId: string
  readonly handlers: Readonly<Record<string, JobHandler>>
  /** Pause between polls of an empty queue. */
  readonly pollIntervalMs: number
  /** How long a claim lasts without renewal; renewed at a third of it while the handler runs. */
  readonly leaseMs: number
  /** Jobs run at once by this instance; default 1. */
  readonly concurrency?: number
  /**
   * Background priority: while this says the server is busy, a slot waits before claiming, up to
   * `maxWaitMs` (so some work always gets done). Requests are answered first; the queue waits.
   */
  readonly yieldWhileBusy?: { readonly isBusy: () => boolean; readonly maxWaitMs: number }
  readonly logger: Logger
}

/** Claims jobs of the kinds it has handlers for from the shared queue, `concurrency` at a time, until stopped. */
export class JobRunner {
  private running = false
  private loops: Promise<void>[] = []
  private readonly sleepers = new Set<() => void>()
  private readonly abort = new AbortController()

  constructor(
    private readonly queue: JobQueue,
    private readonly options: JobRunnerOptions,
  ) {}

  start(): void {
    if (this.running) return
    this.running = true
    const slots = Math.max(1, this.options.concurrency ?? 1)
    this.loops = Array.from({ length: slots }, (_, slot) => this.run(slot === 0 ? this.options.workerId : `${this.options.workerId}:${slot}`))
  }

  /** Ends the pause of one idle slot now, e.g. right after this instance queued a job. */
  wake(): void {
    this.sleepers.values().next().value?.()
  }

  /** Stops claiming; jobs already running get the abort signal and are awaited. */
  async stop(): Promise<void> {
    this.running = false
    this.abort.abort()
    for (const wake of [...this.sleepers]) wake()
    await Promise.all(this.loops)
  }

  private async run(workerId: string): Promise<void> {
    const kinds = Object.keys(this.options.handlers)
    const log = this.options.logger.child({ worker: workerId })
    // Polls failed in a row: while the database is down, each slot waits twice as long as before, so an
    // outage costs a few log lines a minute rather than one per poll.
    let failedPolls = 0
    while (this.running) {
      await this.yieldToRequests()
      let job: Job | undefined
      let pauseMs = this.options.pollIntervalMs
      try {
        job = await this.queue.claim({ kinds, workerId, leaseMs: this.options.leaseMs })
        if (failedPolls > 0) log.info({ failedPolls }, 'the job queue answers again')
        failedPolls = 0
      } catch (error) {
        failedPolls += 1
        pauseMs = Math.min(this.options.pollIntervalMs * 2 ** failedPolls, MAX_RETRY_MS)
        log.error({ err: error, retryInMs: pauseMs }, 'could not poll the job queue')
      }
      if (job) await this.runOne(job, workerId, log)
      else await this.sleep(pauseMs * (0.75 + Math.random() / 2))
    }
  }

  private async runOne(job: Job, workerId: string, log: Logger): Promise<void> {
    const { leaseMs } = this.options
    const jobLog = log.child({ jobId: job.id, kind: job.kind, attempt: job.attempts })
    const renew = setInterval(() => void this.queue.extendLease(job.id, workerId, leaseMs).catch(() => {}), leaseMs / 3)
    const started = Date.now()
    try {
      await this.options.handlers[job.kind]!(job, this.abort.signal)
      await this.queue.complete(job.id, workerId)
      // One per upload (its extraction): debug, or the log doubles under load.
      jobLog.debug({ ms: Date.now() - started }, 'job done')
    } catch (error) {
      const retryable = !(error instanceof PermanentJobError)
      const state = await this.queue
        .fail(job.id, workerId, { error: error instanceof Error ? error.message : String(error), retryable })
        .catch(() => undefined)
      jobLog.warn({ err: error, state }, 'job failed')
    } finally {
      clearInterval(renew)
    }
  }

  private async yieldToRequests(): Promise<void> {
    const busy = this.options.yieldWhileBusy
    if (!busy) return
    const until = Date.now() + busy.maxWaitMs
    while (this.running && busy.isBusy() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, YIELD_STEP_MS))
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.sleepers.add(wake)
    })
  }
}
