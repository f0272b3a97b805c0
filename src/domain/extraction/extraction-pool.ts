import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Piscina } from 'piscina'
import type { WorkerAnswer, WorkerTask } from './extract-worker.js'
import type { ExtractionResult } from './extraction-types.js'
import { ExtractionFailure } from './limits.js'

export interface ExtractionPoolOptions {
  /** Worker threads at most; each is created on demand and ends after `idleTimeoutMs` without work. */
  readonly threads: number
  /** V8 heap cap of each worker (old generation); a file that needs more fails, the worker is replaced. */
  readonly heapMb: number
  /** One file's time limit; past it, its worker is terminated and the extraction fails. */
  readonly timeoutMs: number
  readonly idleTimeoutMs: number
}

/**
 * The worker file as built. Under the test runner this module runs from src/ (TypeScript), but
 * worker threads run plain JavaScript, so they use the build in dist/ (`npm test` builds first).
 */
function workerFilename(): string {
  const built = fileURLToPath(new URL('./extract-worker.js', import.meta.url))
  return existsSync(built) ? built : built.replace(/([/\\])src([/\\])(?!.*[/\\]src[/\\])/, '$1dist$2')
}

/**
 * Document parsing off the main thread, in a small piscina pool that exists only while there is
 * work: piscina itself is loaded on the first task, and idle threads exit.
 */
export class ExtractionPool {
  private pool: Piscina | undefined
  private closed = false

  constructor(private readonly options: ExtractionPoolOptions) {}

  /**
   * Runs one file; rejects with ExtractionFailure for the file's own faults (malformed, a bomb,
   * too slow, too big). `stop` (shutdown) ends the work early with a plain error, so the job is retried later.
   */
  async run(task: WorkerTask, stop?: AbortSignal): Promise<ExtractionResult> {
    const pool = await this.open()
    const timeout = AbortSignal.timeout(this.options.timeoutMs)
    const signal = stop ? AbortSignal.any([timeout, stop]) : timeout
    let answer: WorkerAnswer
    try {
      answer = (await pool.run(task, { signal, transferList: [task.bytes.buffer as ArrayBuffer] })) as WorkerAnswer
    } catch (error) {
      if (stop?.aborted) throw new Error('Extraction interrupted by shutdown', { cause: error })
      if (timeout.aborted) throw new ExtractionFailure(`Extraction took longer than the limit of ${this.options.timeoutMs} ms`, { cause: error })
      if ((error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
        throw new ExtractionFailure(`Extraction needed more than the memory limit of ${this.options.heapMb} MB`, { cause: error })
      }
      throw error
    }
    if (!answer.ok) throw new ExtractionFailure(answer.reason)
    return answer.result
  }

  /** Threads alive now (0 when idle), for tests and diagnostics. */
  get threadCount(): number {
    return this.pool?.threads.length ?? 0
  }

  async close(): Promise<void> {
    this.closed = true
    const pool = this.pool
    this.pool = undefined
    await pool?.close({ force: true })
  }

  private async open(): Promise<Piscina> {
    if (this.closed) throw new Error('The extraction pool is closed')
    if (this.pool) return this.pool
    const { Piscina } = await import('piscina')
    this.pool ??= new Piscina({
      filename: workerFilename(),
      minThreads: 0,
      maxThreads: this.options.threads,
      idleTimeout: this.options.idleTimeoutMs,
      concurrentTasksPerWorker: 1,
      resourceLimits: { maxOldGenerationSizeMb: this.options.heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    })
    return this.pool
  }
}
