import { access, constants } from 'node:fs/promises'
import type { BlobStore } from '../../blob/blob-store.js'
import type { DailyTraffic, FileTotals, JobRun, MetadataStore, StoredFile } from '../../db/metadata-store.js'
import type { OperationsJob } from '../operations/exclusive-run.js'
import { utcDay, type TrafficRecorder } from './traffic-recorder.js'

export interface JobStatus {
  /** The newest run, whatever its outcome. */
  readonly last: JobRun | undefined
  readonly lastSucceeded: JobRun | undefined
  /** Cron expression, or undefined when not scheduled. */
  readonly schedule: string | undefined
}

/** What `cabinet stats` and GET /api/admin/stats show. */
export interface CabinetStats {
  readonly generatedAt: Date
  readonly files: FileTotals & { readonly pinned: number; readonly users: number }
  readonly byType: ReadonlyArray<FileTotals & { readonly type: string }>
  readonly topUsers: ReadonlyArray<FileTotals & { readonly userId: string }>
  readonly largest: readonly StoredFile[]
  readonly storage: {
    /** File bytes plus the metadata database. */
    readonly usedBytes: number
    readonly metadataBytes: number | undefined
    /** Free on the blob store's disk; undefined on object storage. */
    readonly diskFreeBytes: number | undefined
    readonly minFreeBytes: number
  }
  /** The last 30 UTC days with traffic, oldest first. */
  readonly perDay: readonly DailyTraffic[]
  readonly jobs: Readonly<Record<OperationsJob, JobStatus>>
}

export interface StatsOptions {
  readonly minFreeBytes: number
  readonly schedules: Readonly<Record<OperationsJob, string | undefined>>
  /** This instance's unflushed counters, written first so the numbers include them. */
  readonly recorder?: TrafficRecorder
}

const DAYS = 30
const TOP = 10

export class StatsService {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly options: StatsOptions,
  ) {}

  async collect(now = new Date()): Promise<CabinetStats> {
    await this.options.recorder?.flush()
    const [files, byKind, topUsers, largest, metadataBytes, diskFreeBytes, perDay, cleanup, backup] = await Promise.all([
      this.metadata.stats.totals(),
      this.metadata.stats.byKind(),
      this.metadata.stats.topUsers(TOP),
      this.metadata.stats.largest(TOP),
      this.metadata.sizeBytes(),
      this.blobs.availableBytes(),
      this.metadata.traffic.list(utcDay(now.getTime() - (DAYS - 1) * 86_400_000)),
      this.jobStatus('cleanup'),
      this.jobStatus('backup'),
    ])
    return {
      generatedAt: now,
      files,
      byType: byKind.map(({ kind, ...totals }) => ({ type: kind, ...totals })),
      topUsers,
      largest,
      storage: { usedBytes: files.bytes + (metadataBytes ?? 0), metadataBytes, diskFreeBytes, minFreeBytes: this.options.minFreeBytes },
      perDay,
      jobs: { cleanup, backup },
    }
  }

  private async jobStatus(job: OperationsJob): Promise<JobStatus> {
    const runs = await this.metadata.jobRuns.list({ job, limit: 50 })
    return { last: runs[0], lastSucceeded: runs.find((run) => run.outcome === 'succeeded'), schedule: this.options.schedules[job] }
  }
}

/** GET /readyz: the database answers, the data dir takes writes, object storage answers, the disk is above the floor. */
export class Readiness {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly options: { dataDir: string; minFreeBytes: number },
  ) {}

  /** What is wrong; empty when ready. */
  async problems(): Promise<string[]> {
    const problems: string[] = []
    await this.metadata.ping().catch(() => problems.push('the metadata database does not answer'))
    await access(this.options.dataDir, constants.W_OK).catch(() => problems.push('the data dir is not writable'))
    await this.blobs.ping?.().catch(() => problems.push('object storage does not answer'))
    const free = await this.blobs.availableBytes().catch(() => undefined)
    if (free !== undefined && free < this.options.minFreeBytes) {
      problems.push(`the disk is below its free-space floor (${free} bytes free, CABINET_MIN_FREE_BYTES ${this.options.minFreeBytes})`)
    }
    return problems
  }
}
