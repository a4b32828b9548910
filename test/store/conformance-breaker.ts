/**
 * Conformance of the circuit-breaker methods (`breakerRecord`, `breakerProbe`, `breakerList`,
 * `breakerReset`): every store runs these through its own harness, next to the main suite. Time is
 * the `now` parameter, so cooldowns and rolling windows pass without waiting.
 */
import { describe, expect, test } from 'vitest'
import type { BreakerOutcome, BreakerSettings, Store } from '../../src/store/store.js'
import { databaseSetup, type StoreHarness } from './conformance.js'

/** The start of a one-minute window: the suite's clock. */
const W = 1_700_000_040_000
const MINUTE = 60_000
const SETTINGS: BreakerSettings = { threshold: 0.5, minVolume: 4, windowMs: MINUTE, cooldownMs: 30_000, probes: 1 }

function outcomes(task: string, pattern: string, group?: string): BreakerOutcome[] {
  // 'x' a failure, '.' a success.
  return [...pattern].map((mark) => (group === undefined ? { task, failed: mark === 'x' } : { task, group, failed: mark === 'x' }))
}

export function describeBreakerConformance(harness: StoreHarness): void {
  describe(`Store conformance, circuit breakers: ${harness.name}`, () => {
    const setup = databaseSetup(harness)

    const settings = (task = 't', overrides: Partial<BreakerSettings> = {}): Map<string, BreakerSettings> =>
      new Map([[task, { ...SETTINGS, ...overrides }]])

    /** Records outcomes until `task`'s breaker is open (at `at`): four failures. */
    async function openBreaker(store: Store, at = W, overrides: Partial<BreakerSettings> = {}, group?: string): Promise<void> {
      const transitions = await store.breakerRecord({ outcomes: outcomes('t', 'xxxx', group), settings: settings('t', overrides), now: at })
      expect(transitions.map((transition) => transition.to)).toEqual(['open'])
    }

    test('a breaker opens only once its window holds the minimum volume and the failure rate reaches the threshold', async () => {
      const { store } = await setup()
      // Three failures: a rate of 1, but under the minimum volume of 4.
      expect(await store.breakerRecord({ outcomes: outcomes('t', 'xxx'), settings: settings(), now: W })).toEqual([])
      // Ten attempts, four failed: enough volume, and the rate is under the threshold at every one of them.
      expect(await store.breakerRecord({ outcomes: outcomes('u', '..x.x.x.x.'), settings: settings('u'), now: W })).toEqual([])
      const [first, u] = await store.breakerList({ now: W + 1 })
      let t = first
      expect(t).toMatchObject({ task: 't', state: 'closed', failureRate: 1, probesInFlight: 0, settings: SETTINGS })
      expect(t!.volume).toBeCloseTo(3)
      expect(t!.group).toBeUndefined()
      expect(u).toMatchObject({ task: 'u', state: 'closed', failureRate: 0.4 })
      // A success brings the volume to 4 at a rate of 3/4: it opens, on that outcome.
      const transitions = await store.breakerRecord({ outcomes: outcomes('t', '.'), settings: settings(), now: W + 10 })
      expect(transitions).toEqual([{ task: 't', from: 'closed', to: 'open', at: new Date(W + 10) }])
      ;[t] = await store.breakerList({ now: W + 20 })
      expect(t).toMatchObject({ state: 'open', failureRate: 0.75, openedAt: new Date(W + 10), cooldownUntil: new Date(W + 30_010) })
      expect(t!.transitions).toEqual({ closed: 0, open: 1, half_open: 0 })
    })

    test('outcomes of a task without settings are ignored, and a breaker never recorded admits every job', async () => {
      const { store } = await setup()
      expect(await store.breakerRecord({ outcomes: outcomes('other', 'xxxxxx'), settings: settings(), now: W })).toEqual([])
      expect(await store.breakerList({ now: W })).toEqual([])
      expect(await store.breakerProbe({ task: 'other', now: W })).toBe('closed')
    })

    test('the rolling window weighs the previous minute by how much of it is still inside the window, and forgets older ones', async () => {
      const { store } = await setup()
      await store.breakerRecord({ outcomes: outcomes('t', 'xx.'), settings: settings(), now: W })
      // Half-way through the next minute, the previous one counts half: 1.5 attempts.
      let [t] = await store.breakerList({ now: W + MINUTE + 30_000 })
      expect(t!.volume).toBeCloseTo(1.5)
      expect(t!.failureRate).toBeCloseTo(2 / 3)
      // Three failures now: 3 + 1.5 ≥ 4 attempts at a rate of (3 + 1) / 4.5: it opens.
      const transitions = await store.breakerRecord({ outcomes: outcomes('t', 'xxx'), settings: settings(), now: W + MINUTE + 30_000 })
      expect(transitions.map((transition) => transition.to)).toEqual(['open'])
      // Two minutes on, nothing of that is left in the window.
      ;[t] = await store.breakerList({ now: W + 3 * MINUTE })
      expect(t).toMatchObject({ volume: 0, failureRate: 0 })
    })

    test('an open breaker refuses jobs until its cooldown ends, then half-opens and hands out its probe slots', async () => {
      const { store } = await setup()
      await openBreaker(store, W, { probes: 2 })
      expect(await store.breakerProbe({ task: 't', now: W + 29_999 })).toBe('refused')
      expect((await store.breakerList({ now: W + 29_999 }))[0]!.state).toBe('open')
      // Past the cooldown it reads half-open before anyone asks, and the first asks take the slots.
      expect((await store.breakerList({ now: W + 30_000 }))[0]).toMatchObject({ state: 'half_open', probesInFlight: 0 })
      expect(await store.breakerProbe({ task: 't', now: W + 30_000 })).toBe('probe')
      expect(await store.breakerProbe({ task: 't', now: W + 30_001 })).toBe('probe')
      expect(await store.breakerProbe({ task: 't', now: W + 30_002 })).toBe('refused')
      const [t] = await store.breakerList({ now: W + 30_003 })
      expect(t).toMatchObject({ state: 'half_open', probesInFlight: 2, openedAt: new Date(W) })
      expect(t!.cooldownUntil).toBeUndefined()
      expect(t!.transitions).toEqual({ closed: 0, open: 1, half_open: 1 })
    })

    test("a probe's success closes the breaker and clears its window", async () => {
      const { store } = await setup()
      await openBreaker(store)
      expect(await store.breakerProbe({ task: 't', now: W + 30_000 })).toBe('probe')
      const transitions = await store.breakerRecord({ outcomes: outcomes('t', '.'), settings: settings(), now: W + 31_000 })
      expect(transitions).toEqual([{ task: 't', from: 'half_open', to: 'closed', at: new Date(W + 31_000) }])
      const [t] = await store.breakerList({ now: W + 31_000 })
      expect(t).toMatchObject({ state: 'closed', volume: 0, failureRate: 0, probesInFlight: 0 })
      expect(t!.openedAt).toBeUndefined()
      expect(t!.transitions).toEqual({ closed: 1, open: 1, half_open: 1 })
      expect(await store.breakerProbe({ task: 't', now: W + 31_001 })).toBe('closed')
      // Counting starts again: three failures are under the minimum volume.
      expect(await store.breakerRecord({ outcomes: outcomes('t', 'xxx'), settings: settings(), now: W + 32_000 })).toEqual([])
    })

    test("a probe's failure opens the breaker again for another cooldown", async () => {
      const { store } = await setup()
      await openBreaker(store)
      expect(await store.breakerProbe({ task: 't', now: W + 30_000 })).toBe('probe')
      const transitions = await store.breakerRecord({ outcomes: outcomes('t', 'x'), settings: settings(), now: W + 35_000 })
      expect(transitions).toEqual([{ task: 't', from: 'half_open', to: 'open', at: new Date(W + 35_000) }])
      expect((await store.breakerList({ now: W + 35_000 }))[0]).toMatchObject({ state: 'open', cooldownUntil: new Date(W + 65_000) })
      expect(await store.breakerProbe({ task: 't', now: W + 64_999 })).toBe('refused')
      expect(await store.breakerProbe({ task: 't', now: W + 65_000 })).toBe('probe')
    })

    test('a probe slot whose outcome never comes is freed after a cooldown', async () => {
      const { store } = await setup()
      await openBreaker(store)
      expect(await store.breakerProbe({ task: 't', now: W + 30_000 })).toBe('probe')
      expect(await store.breakerProbe({ task: 't', now: W + 59_999 })).toBe('refused')
      expect((await store.breakerList({ now: W + 59_999 }))[0]!.probesInFlight).toBe(1)
      // Listed free too, so workers that exclude a breaker whose slots are taken ask again.
      expect((await store.breakerList({ now: W + 60_000 }))[0]!.probesInFlight).toBe(0)
      expect(await store.breakerProbe({ task: 't', now: W + 60_000 })).toBe('probe')
    })

    test('per-group breakers of one task open and close apart from each other and from the task-wide one', async () => {
      const { store } = await setup()
      await openBreaker(store, W, {}, 'acme')
      await store.breakerRecord({ outcomes: outcomes('t', '....', 'globex'), settings: settings(), now: W })
      expect(await store.breakerProbe({ task: 't', group: 'acme', now: W + 1 })).toBe('refused')
      expect(await store.breakerProbe({ task: 't', group: 'globex', now: W + 1 })).toBe('closed')
      expect(await store.breakerProbe({ task: 't', now: W + 1 })).toBe('closed')
      const list = await store.breakerList({ now: W + 1 })
      expect(list.map((info) => [info.group, info.state])).toEqual([
        ['acme', 'open'],
        ['globex', 'closed'],
      ])
    })

    test('reset closes one group’s breaker, or every breaker of a task, and says how many it found', async () => {
      const { store } = await setup()
      await openBreaker(store, W, {}, 'acme')
      await openBreaker(store, W, {}, 'globex')
      await openBreaker(store, W)
      expect(await store.breakerReset({ task: 't', group: 'acme', now: W + 1 })).toBe(1)
      expect((await store.breakerList({ now: W + 1 })).map((info) => [info.group ?? '', info.state])).toEqual([
        ['', 'open'],
        ['acme', 'closed'],
        ['globex', 'open'],
      ])
      expect(await store.breakerReset({ task: 't', now: W + 2 })).toBe(3)
      const list = await store.breakerList({ now: W + 2 })
      expect(list.map((info) => info.state)).toEqual(['closed', 'closed', 'closed'])
      expect(list.map((info) => info.volume)).toEqual([0, 0, 0])
      expect(list.map((info) => info.transitions)).toEqual(Array(3).fill({ closed: 1, open: 1, half_open: 0 }))
      expect(await store.breakerProbe({ task: 't', group: 'globex', now: W + 3 })).toBe('closed')
      expect(await store.breakerReset({ task: 'nothing', now: W + 3 })).toBe(0)
    })

    test('outcomes recorded from several connections at once are all counted, and one breaker opens once', async () => {
      const { store, open } = await setup()
      const others = await Promise.all([open(), open(), open()])
      const connections = [store, ...others]
      const calls = connections.flatMap((connection) =>
        Array.from({ length: 5 }, () => connection.breakerRecord({ outcomes: outcomes('t', 'x'), settings: settings('t', { minVolume: 20 }), now: W })),
      )
      const transitions = (await Promise.all(calls)).flat()
      expect(transitions.map((transition) => transition.to)).toEqual(['open'])
      const [t] = await store.breakerList({ now: W })
      expect(t!.volume).toBeCloseTo(20)
      expect(t!.transitions.open).toBe(1)
    })
  })
}
