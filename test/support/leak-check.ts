import { afterEach, beforeEach, expect } from 'vitest'

/**
 * Fails a test that leaves timers or handles behind: a worker, watcher or store it did not close.
 * Registered from vitest's setupFiles, so its afterEach runs after the test file's own cleanup.
 */
let before: Map<string, number>

function census(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return counts
}

beforeEach(() => {
  before = census()
})

function grown(): string[] {
  const after = census()
  const leaked: string[] = []
  for (const kind of ['Timeout', 'Immediate', 'ChildProcess', 'TCPSocketWrap', 'PipeWrap', 'ProcessWrap']) {
    const more = (after.get(kind) ?? 0) - (before.get(kind) ?? 0)
    if (more > 0) leaked.push(`${more} ${kind}`)
  }
  return leaked
}

afterEach(async () => {
  // Let timers cleared by close() callbacks and closing handles settle.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  // vitest throttles its own progress reports with a 100 ms timer that may be armed now and not
  // at beforeEach; a real leak is still there after that timer has fired.
  if (grown().length > 0) await new Promise((resolve) => setTimeout(resolve, 150))
  expect(grown(), 'the test left these running').toEqual([])
})
