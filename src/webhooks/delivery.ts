import { performance } from 'node:perf_hooks'
import { isJobAbortError } from '../errors.js'
import type { JobInfo, JobState, Json } from '../job.js'
import type { WebhookSettings } from '../offload.js'
import { packageVersion } from '../package-version.js'
import type { Store, WebhookDeliveryPayload, WebhookDeliveryTemplate } from '../store/store.js'
import { defineTask, type JobContext, type TaskDefinition } from '../task.js'
import { signWebhook, SIGNATURE_HEADER } from './signature.js'

/** The internal task that delivers completion webhooks, and its queue (workers on default queues claim from it). */
export const WEBHOOK_TASK = 'offload.webhook'
export const WEBHOOK_QUEUE = 'offload.webhooks'

/**
 * How long a delivery job may run beyond its request timeout before the worker fails the attempt
 * itself. The request has its own timeout (`webhooks.timeout`), which fails the attempt with a
 * clear message and records it on the job; this margin only catches a store call that hangs.
 */
const STORE_MARGIN_MS = 5000
/** How much of a failing receiver's answer goes into the attempt's error. */
const ANSWER_EXCERPT = 200

export type WebhookEventType = 'job.completed' | 'job.failed' | 'job.cancelled'

/** A value as it comes out of `JSON.parse`: Dates become ISO strings. */
export type Jsonified<T> =
  T extends Date ? string
  : T extends readonly (infer U)[] ? Jsonified<U>[]
  : T extends object ? { [K in keyof T]: Jsonified<T[K]> }
  : T

/** The job of a delivery made after it was pruned: only what the delivery itself recorded. */
export interface PrunedWebhookJob {
  id: string
  state: JobState
  attempt: number
  finishedAt: string
  pruned: true
}

/** The JSON body of a completion webhook, as a receiver parses it. */
export interface WebhookEvent {
  /** Which finish this announces: the state the job reached. */
  type: WebhookEventType
  /**
   * The delivery's id, also sent as `Offload-Delivery`. Every attempt of one delivery carries the
   * same id, and a delivery may arrive more than once (a worker may die after the receiver
   * answered): receivers dedupe on it.
   */
  deliveryId: string
  /** The job as stored when the delivery was made, dates as ISO strings. */
  job: Jsonified<JobInfo> | PrunedWebhookJob
}

/** What a delivery needs of its Offload instance, read when a delivery runs. */
export interface DeliveryHost {
  readonly store: Store
  readonly webhookSettings: WebhookSettings
}

/** What a delivery job stores as its result. */
export interface DeliveryResult {
  status: number
  durationMs: number
}

/** The delivery jobs the maintenance leader creates: their attempts, backoff and timeout come from `webhooks`. */
export function webhookDeliveryTemplate(settings: WebhookSettings): WebhookDeliveryTemplate {
  return {
    task: WEBHOOK_TASK,
    queue: WEBHOOK_QUEUE,
    maxAttempts: settings.attempts,
    backoff: settings.backoff,
    timeoutMs: settings.timeoutMs + STORE_MARGIN_MS,
  }
}

/**
 * The task that POSTs a finished job's outcome to its webhook. One delivery job per finish (the
 * store's outbox guarantees it); the job's own retries, backoff and dead state (`failed`, in the
 * DLQ like any failed job, retryable by hand) are the delivery's. Every attempt appends a
 * `webhook` event to the timeline of the job it announces, which is where deliveries are seen.
 */
export function webhookDeliveryTask(host: DeliveryHost): TaskDefinition<WebhookDeliveryPayload, DeliveryResult> {
  return defineTask<WebhookDeliveryPayload, DeliveryResult>(WEBHOOK_TASK, {
    queue: WEBHOOK_QUEUE,
    run: (payload, ctx) => deliver(host, payload, ctx),
  })
}

/** Why an attempt failed, in words for the timeline; `status` when the receiver answered. */
class DeliveryError extends Error {
  override readonly name = 'WebhookDeliveryError'
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

async function deliver(host: DeliveryHost, payload: WebhookDeliveryPayload, ctx: JobContext<WebhookDeliveryPayload>): Promise<DeliveryResult> {
  const started = performance.now()
  const { store, webhookSettings: settings } = host
  const attempt = { url: payload.url, deliveryId: ctx.jobId, attempt: ctx.attempt, maxAttempts: ctx.maxAttempts }
  try {
    if (settings.secret === undefined) {
      throw new DeliveryError('this worker has no webhook signing secret: set webhooks.secret in createOffload() or OFFLOAD_WEBHOOK_SECRET')
    }
    const job = await store.jobGet({ id: payload.jobId })
    const event: WebhookEvent = {
      // The store dispatches final transitions only: completed, failed or cancelled.
      type: `job.${payload.state}` as WebhookEventType,
      deliveryId: ctx.jobId,
      job: job === undefined ? prunedJob(payload) : (job as unknown as Jsonified<JobInfo>),
    }
    const body = JSON.stringify(event)
    const headers = {
      'Content-Type': 'application/json',
      'User-Agent': userAgent(),
      [SIGNATURE_HEADER]: signWebhook({ secret: settings.secret, body }),
      'Offload-Event': event.type,
      'Offload-Delivery': ctx.jobId,
    }
    const status = await post(payload.url, body, headers, settings.timeoutMs, ctx.signal)
    const durationMs = Math.round(performance.now() - started)
    await record(store, payload.jobId, { ...attempt, status, durationMs, outcome: 'delivered' }, ctx)
    return { status, durationMs }
  } catch (error) {
    // Shut down, cancelled or taken over: the attempt is given back or belongs to someone else,
    // so it is not one of the delivery's attempts to show. A job timeout (the store hung) is.
    const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : undefined
    if (isJobAbortError(reason) && reason.kind !== 'timeout') throw error
    const failed: Record<string, Json> = {
      ...attempt,
      error: isJobAbortError(reason) ? reason.message : error instanceof Error ? error.message : String(error),
      durationMs: Math.round(performance.now() - started),
      outcome: ctx.attempt >= ctx.maxAttempts ? 'dead' : 'retrying',
    }
    if (error instanceof DeliveryError && error.status !== undefined) failed.status = error.status
    await record(store, payload.jobId, failed, ctx)
    throw error
  }
}

function prunedJob(payload: WebhookDeliveryPayload): PrunedWebhookJob {
  return { id: payload.jobId, state: payload.state, attempt: payload.attempt, finishedAt: payload.finishedAt, pruned: true }
}

/**
 * POSTs `body` and resolves with the status of a 2xx answer; throws a `DeliveryError` for any
 * other answer (a 3xx too: redirects are not followed, so a signed body never goes where the job
 * did not say), for no answer within `timeoutMs`, and for a network error.
 */
async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<number> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new DeliveryError(`no answer within ${timeoutMs} ms`)), timeoutMs)
  const onAbort = (): void => controller.abort(signal.reason)
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, { once: true })
  try {
    const response = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: controller.signal })
    if (response.status >= 200 && response.status < 300) {
      // The answer's body is not needed; cancelling it frees the connection now.
      await response.body?.cancel().catch(() => {})
      return response.status
    }
    const answer = await excerpt(response)
    const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : ''
    throw new DeliveryError(`the receiver answered HTTP ${response.status}${redirect}${answer === '' ? '' : `: ${answer}`}`, response.status)
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof DeliveryError) throw controller.signal.reason
    if (error instanceof DeliveryError || controller.signal.aborted) throw error
    // fetch says only "fetch failed"; the cause (ECONNREFUSED, a DNS failure, …) is what helps.
    const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause
    const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (error as Error).message
    throw new DeliveryError(`could not reach ${new URL(url).host}: ${detail}`)
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  }
}

/** The start of a failing receiver's answer, on one line: enough to say why, never a whole page. */
async function excerpt(response: Response): Promise<string> {
  const reader = response.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < ANSWER_EXCERPT) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    // The answer's status is the news; a body cut short is not.
  } finally {
    await reader.cancel().catch(() => {})
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim()
  return text.length > ANSWER_EXCERPT ? `${text.slice(0, ANSWER_EXCERPT)}…` : text
}

/**
 * Appends the attempt's `webhook` event to the announced job's timeline. A delivery is not made
 * again because its record failed: the receiver has it (or the attempt is retried anyway), and the
 * delivery job's own log says what happened. A pruned job has no timeline; nothing is written.
 */
async function record(store: Store, jobId: string, data: Record<string, Json>, ctx: JobContext<WebhookDeliveryPayload>): Promise<void> {
  try {
    await store.eventAppend({ jobId, type: 'webhook', data })
  } catch (error) {
    await ctx.log(`recording this attempt on job ${jobId} failed: ${error instanceof Error ? error.message : String(error)}`).catch(() => {})
  }
}

let agent: string | undefined

/** `offload/<version>`. */
function userAgent(): string {
  if (agent === undefined) {
    let version = 'unknown'
    try {
      version = packageVersion()
    } catch {
      // A bundled copy without its package.json still delivers.
    }
    agent = `offload/${version}`
  }
  return agent
}
