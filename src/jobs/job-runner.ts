import type { Logger } from 'pino'
import type { Job, JobQueue } from './job-queue.js'

/** Does one job; throwing marks the attempt failed (retried with backoff until its attempts run out). */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>

export interface JobRunnerOptions {
  /** This instance's identity in the queue's leases. */
  readonly workerId: string
  readonly handlers: Readonly<Record<string, JobHandler>>
  /** Pause between polls of an empty queue. */
  readonly pollIntervalMs: number
  /** How long a claim lasts without renewal; renewed at a third of it while the handler runs. */
  readonly leaseMs: number
  readonly logger: Logger
}

/** Claims jobs of the kinds it has handlers for from the shared queue, one at a time, until stopped. */
export class JobRunner {
  private running = false
  private loop: Promise<void> | undefined
  private wake: (() => void) | undefined
  private readonly abort = new AbortController()

  constructor(
    private readonly queue: JobQueue,
    private readonly options: JobRunnerOptions,
  ) {}

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** Stops claiming; a job already running gets its abort signal and is awaited. */
  async stop(): Promise<void> {
    this.running = false
    this.abort.abort()
    this.wake?.()
    await this.loop
  }

  private async run(): Promise<void> {
    const kinds = Object.keys(this.options.handlers)
    const log = this.options.logger.child({ worker: this.options.workerId })
    while (this.running) {
      let job: Job | undefined
      try {
        job = await this.queue.claim({ kinds, workerId: this.options.workerId, leaseMs: this.options.leaseMs })
      } catch (error) {
        log.error({ err: error }, 'could not poll the job queue')
      }
      if (job) await this.runOne(job, log)
      else await this.sleep(this.options.pollIntervalMs * (0.75 + Math.random() / 2))
    }
  }

  private async runOne(job: Job, log: Logger): Promise<void> {
    const { workerId, leaseMs } = this.options
    const jobLog = log.child({ jobId: job.id, kind: job.kind, attempt: job.attempts })
    const renew = setInterval(() => void this.queue.extendLease(job.id, workerId, leaseMs).catch(() => {}), leaseMs / 3)
    const started = Date.now()
    try {
      await this.options.handlers[job.kind]!(job, this.abort.signal)
      await this.queue.complete(job.id, workerId)
      jobLog.info({ ms: Date.now() - started }, 'job done')
    } catch (error) {
      const state = await this.queue
        .fail(job.id, workerId, { error: error instanceof Error ? error.message : String(error), retryable: true })
        .catch(() => undefined)
      jobLog.warn({ err: error, state }, 'job failed')
    } finally {
      clearInterval(renew)
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
