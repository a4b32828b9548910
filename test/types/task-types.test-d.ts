/**
 * Types flow from a task's definition to enqueue() and result(): a wrong payload is a compile
 * error. Checked by vitest's typecheck (tsc), not run.
 */
import { expectTypeOf, test } from 'vitest'
import { createOffload, defineTask, type JobHandle } from '../../src/index.js'

const offload = createOffload({ store: 'sqlite::memory:' })

test('payload and result types come from run()', () => {
  const resize = offload.task('image.resize', {
    async run(input: { url: string; width: number }) {
      return { url: `${input.url}?w=${input.width}`, bytes: 1 }
    },
  })
  expectTypeOf(resize.enqueue).parameter(0).toEqualTypeOf<{ url: string; width: number }>()
  expectTypeOf(resize.enqueue({ url: 'a', width: 1 })).resolves.toEqualTypeOf<
    JobHandle<{ url: string; width: number }, { url: string; bytes: number }>
  >()
  expectTypeOf<Awaited<ReturnType<JobHandle<unknown, { url: string; bytes: number }>['result']>>>().toEqualTypeOf<{
    url: string
    bytes: number
  }>()

  // @ts-expect-error width must be a number
  void resize.enqueue({ url: 'a', width: '200' })
  // @ts-expect-error url is required
  void resize.enqueue({ width: 200 })
})

test('a task without input is enqueued without a payload', () => {
  const tick = offload.task('clock.tick', { run: () => Date.now() })
  void tick.enqueue()
  expectTypeOf(tick.enqueue()).resolves.toEqualTypeOf<JobHandle<void, number>>()
})

test('definitions made apart keep their types when bound', () => {
  const send = defineTask('email.send', { run: async (input: { to: string }) => ({ id: input.to }) })
  const bound = offload.task(send)
  // @ts-expect-error to must be a string
  void bound.enqueue({ to: 1 })
  expectTypeOf(bound.enqueue({ to: 'a@b.c' })).resolves.toEqualTypeOf<JobHandle<{ to: string }, { id: string }>>()
})
