import type { Server } from 'node:http'
import { performance } from 'node:perf_hooks'

const SAMPLE_MS = 100

/**
 * Tells background work when the server is busy answering requests: a request arrived within
 * the last sample and the event loop was more than `utilization` busy over it. Work that runs
 * with no requests coming in never counts as busy, so a backlog drains at full speed when idle.
 */
export class LoadMonitor {
  private lastRequestAt = 0
  private busy = false
  private mark = performance.eventLoopUtilization()
  private readonly timer: NodeJS.Timeout
  private readonly onRequest = () => {
    this.lastRequestAt = performance.now()
  }

  constructor(
    private readonly server: Server,
    private readonly utilization = 0.5,
  ) {
    server.on('request', this.onRequest)
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
  }

  isBusy(): boolean {
    return this.busy
  }

  close(): void {
    clearInterval(this.timer)
    this.server.off('request', this.onRequest)
  }

  private sample(): void {
    const used = performance.eventLoopUtilization(this.mark)
    this.mark = performance.eventLoopUtilization()
    this.busy = used.utilization > this.utilization && performance.now() - this.lastRequestAt < SAMPLE_MS
  }
}
