/**
 * What the HTTP API answers, as the dashboard reads it (docs/http-api.md). Declared here rather
 * than imported from the server: the dashboard talks only to the API, and these are its JSON.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

export const JOB_STATES = ['scheduled', 'queued', 'running', 'retrying', 'completed', 'failed', 'cancelled'] as const
export type JobState = (typeof JOB_STATES)[number]
export const FINISHED_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled']

export type Scope = 'read' | 'write' | 'admin'

export interface Session {
  authenticated: boolean
  tokensRequired: boolean
  scope: Scope | null
  name: string | null
}

export interface Windows {
  '1m': number
  '5m': number
  '15m': number
}

export interface QueueSummary {
  queue: string
  paused: boolean
  counts: Partial<Record<JobState, number>>
  oldestQueuedAgeSeconds: number | null
  enqueued: Windows
  completed: Windows
  failed: Windows
}

export interface QueuesAnswer {
  activitySince: string
  queues: QueueSummary[]
}

export interface QueueActivity {
  queue: string
  enqueued: number[]
  completed: number[]
  failed: number[]
}

export interface ActivityAnswer {
  bucketSeconds: number
  start: string
  since: string
  queues: QueueActivity[]
}

export interface AttemptError {
  attempt: number
  at: string | null
  name: string
  message: string
  stack?: string
}

export interface WebhookDelivery {
  outcome?: 'delivered' | 'retrying' | 'dead' | string
  status?: number
  error?: string
  attempt?: number
  at: string | null
  [field: string]: Json | undefined
}

export interface Job {
  id: string
  task: string
  queue: string
  state: JobState
  payload: Json
  result: Json
  metadata: Record<string, Json>
  priority: number
  attempts: number
  maxAttempts: number
  progress: Json
  errors: AttemptError[]
  key: string | null
  timeoutMs: number | null
  runAt: string | null
  createdAt: string | null
  startedAt: string | null
  finishedAt: string | null
  workerId: string | null
  /** While the job is failed: its failure group. */
  errorFingerprint: string | null
  group: string | null
  webhook: null | { url: string; deliveries: WebhookDelivery[] | null }
  links: { self: string; events: string; cancel?: string; retry?: string }
}

export interface JobPage {
  jobs: Job[]
  nextCursor?: string | null
}

export interface JobEvent {
  seq: number
  jobId: string
  task: string
  queue: string
  at: string
  type: string
  state: JobState
  attempt: number
  data?: Record<string, Json>
}

export type BulkAction = 'retry' | 'cancel' | 'delete'

export type BulkResult = { id: string; ok: true; job?: Job } | { id: string; ok: false; error: { code: string; message: string } }

export interface FailureGroup {
  fingerprint: string
  name: string
  message: string
  frame: string | null
  count: number
  firstSeenAt: string
  lastSeenAt: string
  tasks: string[]
  queues: string[]
  sample: { jobId: string; message: string; stack: string | null }
}

export interface RunningJob {
  id: string
  task: string
  queue: string
  attempt: number
  startedAt: string | null
  progress: Json
}

/** A cron schedule as `GET /v1/schedules` lists it. */
export interface Schedule {
  name: string
  task: string
  queue: string
  cron: string
  timezone: string
  paused: boolean
  source: 'code' | 'api'
  nextRunAt: string | null
  lastRunAt: string | null
}

export interface Worker {
  id: string
  host: string
  pid: number
  queues: string[]
  concurrency: number
  startedAt: string
  lastSeenAt: string
  running: RunningJob[]
}
