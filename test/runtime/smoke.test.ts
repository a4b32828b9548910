import { afterEach, expect, test } from 'vitest'
import { createOffload, type Offload } from '../../src/index.js'
import { tempDb } from '../support/temp.js'

let offload: Offload
afterEach(() => offload?.close())

test('a job enqueued in this process runs and its result comes back', async () => {
  offload = createOffload({ store: `sqlite:${tempDb()}`, logger: false })
  const add = offload.task('math.add', { run: (input: { a: number; b: number }) => input.a + input.b })
  await offload.work({ handleSignals: false })
  const job = await add.enqueue({ a: 2, b: 3 })
  expect(await job.result({ timeout: '10s' })).toBe(5)
})
