import { createRequire } from 'node:module'
import type pg from 'pg'

/**
 * The `pg` the store loads: the package's own copy (bench/ has another for the peers), so patching
 * this one reaches the store's connections. Experiments only.
 */
export const storePg = createRequire(new URL('../../src/store/postgres/', import.meta.url))('pg') as typeof pg

export interface QueryConfig {
  name?: string
  text: string
  values?: unknown[]
}

/**
 * Calls `see` with every statement the store sends as a config object (all of its statements are
 * named, prepared ones); what `see` returns is sent instead. For capturing SQL to EXPLAIN, and for
 * trying a change to a statement before anyone edits the store.
 */
export function onStoreQuery(see: (config: QueryConfig) => QueryConfig): void {
  const query = storePg.Client.prototype.query as (...args: unknown[]) => unknown
  storePg.Client.prototype.query = function (this: pg.Client, ...rest: unknown[]) {
    const config = rest[0]
    if (typeof config === 'object' && config !== null && typeof (config as QueryConfig).text === 'string') rest[0] = see(config as QueryConfig)
    return query.apply(this, rest)
  } as typeof pg.Client.prototype.query
}

/** The prune's victims picked oldest first (`ORDER BY finished_at`), as suggested for the store. */
export function pruneByAge(config: QueryConfig): QueryConfig {
  const text = config.text
  if (!text.trimStart().startsWith('WITH victims AS')) return config
  const byAge = text.replaceAll('ORDER BY id LIMIT $2', 'ORDER BY finished_at LIMIT $2')
  if (byAge === text) throw new Error("the prune no longer picks 'ORDER BY id LIMIT $2': update bench/experiments/store-pg.ts")
  return { ...config, name: config.name === undefined ? undefined : `${config.name}_by_age`, text: byAge }
}

/**
 * The claim and the completion without their `events` CTE: what the event log costs the drain
 * (not a suggestion — the log is a feature — but the size of the bill).
 */
export function withoutEvents(config: QueryConfig): QueryConfig {
  const text = config.text
  const start = text.indexOf('events AS (')
  const kind = text.trimStart().slice(0, 14)
  if (start < 0 || !(kind.startsWith('WITH picked') || kind.startsWith('WITH input AS'))) return config
  let depth = 0
  let end = start + 'events AS '.length
  for (; end < text.length; end++) {
    if (text[end] === '(') depth++
    else if (text[end] === ')' && --depth === 0) break
  }
  const rest = text.slice(0, start) + text.slice(end + 1)
  // Parameters only the removed CTE used must still appear, with their types, for the bind to fit.
  const orphans = [...new Set(text.slice(start, end).match(/\$\d+::\w+/g) ?? [])].filter((cast) => !rest.includes(cast.split('::')[0]!))
  const bare = `${text.slice(0, start)}events AS (SELECT ${['1', ...orphans].join(', ')})${text.slice(end + 1)}`
  return { ...config, name: config.name === undefined ? undefined : `${config.name}_no_events`, text: bare }
}

const LEASE_FENCE = "FROM input WHERE j.id = input.id AND j.lease = input.lease AND j.state = 'running'"

/**
 * The completion and the heartbeat with the fence's state compared with a parameter: a generic plan
 * cannot match that to the partial lease index (whose statistics say "no running jobs" in a table
 * of finished ones), so it finds the rows through jobs_id_key — one lookup per input row.
 */
export function stateAsParameter(config: QueryConfig): QueryConfig {
  if (!config.text.includes(LEASE_FENCE)) return config
  const values = [...(config.values ?? []), ['running']]
  const text = config.text.replace(LEASE_FENCE, LEASE_FENCE.replace("'running'", `ANY($${values.length}::text[])`))
  return { ...config, name: config.name === undefined ? undefined : `${config.name}_state_param`, text, values }
}
