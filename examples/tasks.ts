/**
 * Example tasks: what `npm start` (`offload dev --tasks examples/tasks.ts`) runs. Each shows one
 * part of the API; `seed` enqueues a job of each so the dev output tells the whole story.
 * test/examples.test.ts runs them, so they keep working as the API changes.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { defineTask, PermanentError, SnoozeError, type Offload } from '../src/index.js'

/** Progress, log lines and cancellation: a handler reports as it goes and stops when told to. */
export const resizeImage = defineTask('image.resize', {
  queue: 'images',
  attempts: 3,
  timeout: '10s',
  async run(input: { url: string; width: number }, ctx) {
    await ctx.log(`downloading ${input.url}`)
    for (const step of [25, 50, 75, 100]) {
      // Passing the signal ends the wait at once on timeout, cancel or shutdown.
      await sleep(60, undefined, { signal: ctx.signal })
      await ctx.progress(step)
    }
    await ctx.log(`resized to ${input.width}px`)
    return { url: input.url.replace(/(\.\w+)?$/, `-${input.width}w$1`), width: input.width }
  },
})

/**
 * Retries with backoff: the first attempt fails the way a flaky SMTP server does, the second
 * succeeds. A short fixed backoff keeps the demo quick; the default is exponential from 1s.
 */
export const sendEmail = defineTask('email.send', {
  queue: 'emails',
  attempts: 3,
  backoff: { type: 'fixed', delay: '300ms' },
  async run(input: { to: string; subject: string }, ctx) {
    if (ctx.attempt === 1) throw new Error('connection reset by smtp.example.com')
    await sleep(20, undefined, { signal: ctx.signal })
    // jobId is stable across attempts: a real mailer would pass it as an idempotency key.
    return { messageId: `<${ctx.jobId}@example.com>`, to: input.to }
  },
})

/** Snooze: "not yet" is not a failure, so it spends no attempt. */
export const buildReport = defineTask('report.build', {
  queue: 'reports',
  async run(input: { month: string; dataReadyAt: string }) {
    const wait = Date.parse(input.dataReadyAt) - Date.now()
    if (wait > 0) throw new SnoozeError(Math.max(wait, 100), 'the month\'s data is not loaded yet')
    return { month: input.month, rows: 1234 }
  },
})

/** A permanent error: no retry can fix a bad URL, so the job fails at once, attempts unspent. */
export const deliverWebhook = defineTask('webhook.deliver', {
  attempts: 5,
  async run(input: { url: string; event: string }) {
    if (!input.url.startsWith('https://')) throw new PermanentError(`refusing to deliver to ${input.url}: webhooks need https`)
    await sleep(30)
    return { status: 202, event: input.event }
  },
})

/** `offload dev` calls this once its worker runs: a handful of demo jobs. */
export async function seed(offload: Offload, log: (message: string) => void = console.log): Promise<void> {
  // offload.task(definition) binds a definition to this instance, typing enqueue() by its payload.
  const resize = offload.task(resizeImage)
  const email = offload.task(sendEmail)
  await resize.enqueue({ url: 'https://example.com/cat.png', width: 200 })
  await resize.enqueue({ url: 'https://example.com/dog.png', width: 640 }, { priority: 10 })
  await email.enqueue({ to: 'ada@example.com', subject: 'Welcome!' }, { key: 'welcome:ada' })
  // Same key while the first job is unfinished: no second job, the first comes back.
  const again = await email.enqueue({ to: 'ada@example.com', subject: 'Welcome!' }, { key: 'welcome:ada' })
  log(`enqueue with key 'welcome:ada' again: existing=${again.existing}, job ${again.id}`)
  await email.enqueue({ to: 'grace@example.com', subject: 'Your invoice' }, { delay: '2s' })
  const month = new Date().toISOString().slice(0, 7)
  await offload.task(buildReport).enqueue({ month, dataReadyAt: new Date(Date.now() + 400).toISOString() })
  await offload.task(deliverWebhook).enqueue({ url: 'https://hooks.example.com/orders', event: 'order.paid' })
  await offload.task(deliverWebhook).enqueue({ url: 'http://insecure.example.com/hook', event: 'order.paid' })
}
