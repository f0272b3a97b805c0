/** How far a long piece of work (clean-up, verify, backup, restore) has got, in one of its phases. */
export interface ProgressEvent {
  /** What is being done now, e.g. "removing expired files"; a new phase starts a new bar. */
  readonly phase: string
  readonly done: number
  /** Best estimate; `done` may pass it when the work grew meanwhile. */
  readonly total: number
  readonly unit: 'files' | 'bytes'
}

/** Long work reports to this; the CLI draws it, scheduled runs pass nothing. Must be cheap. */
export type OnProgress = (event: ProgressEvent) => void
