export { createOffload, Offload, DEFAULT_STORE } from './offload.js'
export type {
  OffloadConfig,
  WorkOptions,
  EnqueueItem,
  ListJobsOptions,
  JobPage,
  Task,
  QueueOptions,
  WebhookOptions,
  ListFailureGroupsOptions,
  RetryFailureGroupOptions,
  ListWorkersOptions,
} from './offload.js'
export { errorFingerprint, normaliseErrorMessage, topStackFrame } from './fingerprint.js'
export { defineTask, DEFAULT_QUEUE, DEFAULT_ATTEMPTS } from './task.js'
export type { TaskOptions, TaskDefinition, TaskHandler, JobContext } from './task.js'
export type { BreakerOptions, ResolvedBreaker, ResetBreakerOptions } from './breaker/breaker-options.js'
export { JobHandle } from './job-handle.js'
export type { ResultOptions } from './job-handle.js'
export { JOB_STATES, FINISHED_STATES, UNFINISHED_STATES, isFinished } from './job.js'
export type { Json, JobState, JobInfo, JobEvent, JobEventType, AttemptError, EnqueueOptions, TransactionClient } from './job.js'
export { OffloadError, isOffloadError, QueueFullError, PermanentError, isPermanentError, SnoozeError, isSnoozeError, JobAbortError, isJobAbortError } from './errors.js'
export type { OffloadErrorCode, AbortKind } from './errors.js'
export { DEFAULT_BACKOFF, backoffDelay } from './backoff.js'
export type { Backoff, BackoffOptions, BackoffFunction, ResolvedBackoff } from './backoff.js'
export { parseDuration, formatDuration } from './duration.js'
export type { Duration } from './duration.js'
export { NAME_PATTERN } from './config.js'
export { consoleLogger, silentLogger } from './logger.js'
export type { Logger } from './logger.js'
export { signWebhook, verifyWebhookSignature } from './webhooks/signature.js'
export type { SignWebhookOptions, VerifyWebhookSignatureOptions } from './webhooks/signature.js'
export type { WebhookEvent, WebhookEventType, PrunedWebhookJob } from './webhooks/delivery.js'
export { Worker } from './worker/worker.js'
export { openStore } from './store/open-store.js'
export { SqliteStore } from './store/sqlite/sqlite-store.js'
export type { SqliteStoreOptions } from './store/sqlite/sqlite-store.js'
export { PostgresStore } from './store/postgres/postgres-store.js'
export type { PostgresStoreOptions } from './store/postgres/postgres-store.js'
export type * from './store/store.js'
export { createServer, startServer } from './server/app.js'
export type { ServerOptions, RunningServer } from './server/app.js'
export { loadApiTokens } from './server/auth.js'
export type { ApiToken, RateLimitOptions } from './server/auth.js'
export type { Scope } from './server/context.js'
export type { ScheduleOptions } from './schedules/schedule-options.js'
