import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import type { JobRunOutcome } from './db/metadata-store.js'
import type { TransferObserver } from './domain/files/file-service.js'

/**
 * Cabinet's Prometheus metrics, in a registry of its own per server. Every label has a bounded
 * set of values: route patterns (never raw URLs), methods, statuses, error codes, job names.
 */
export class Metrics implements TransferObserver {
  readonly registry = new Registry()
  private readonly requests = new Counter({
    name: 'cabinet_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  })
  private readonly latency = new Histogram({
    name: 'cabinet_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (to the last byte sent), by route pattern, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })
  private readonly uploads = new Counter({ name: 'cabinet_uploads_total', help: 'Files stored', registers: [this.registry] })
  private readonly uploadBytes = new Counter({ name: 'cabinet_upload_bytes_total', help: 'Bytes of files stored (bytes in)', registers: [this.registry] })
  private readonly downloads = new Counter({ name: 'cabinet_downloads_total', help: 'Downloads started, including redirects to the blob store', registers: [this.registry] })
  private readonly downloadBytes = new Counter({
    name: 'cabinet_download_bytes_total',
    help: 'Bytes of the downloads started (bytes out), counting ranges as their length',
    registers: [this.registry],
  })
  private readonly uploadFailures = new Counter({
    name: 'cabinet_upload_failures_total',
    help: 'Uploads refused or broken, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  })
  private readonly jobRuns = new Counter({
    name: 'cabinet_job_runs_total',
    help: 'Clean-up and backup runs finished by this instance, by job and outcome',
    labelNames: ['job', 'outcome'] as const,
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cabinet_' })
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status })
    this.latency.observe({ route, method, status_class: `${Math.floor(status / 100)}xx` }, seconds)
  }

  uploaded(bytes: number): void {
    this.uploads.inc()
    this.uploadBytes.inc(bytes)
  }

  downloaded(bytes: number): void {
    this.downloads.inc()
    this.downloadBytes.inc(bytes)
  }

  uploadFailed(code: string): void {
    this.uploadFailures.inc({ code })
  }

  jobFinished(job: string, outcome: Exclude<JobRunOutcome, 'running'>): void {
    this.jobRuns.inc({ job, outcome })
  }

  /** The text exposition format, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
