import { OffloadError } from '../errors.js'
import { PostgresStore } from './postgres/postgres-store.js'
import { redact } from './redact.js'
import { SqliteStore } from './sqlite/sqlite-store.js'
import type { Store } from './store.js'

/**
 * Opens the store a URL names. `sqlite:<path>` (relative to the working directory, or absolute as
 * `sqlite:/var/lib/app/offload.db`) and `sqlite::memory:` are understood, and
 * `postgres://user:password@host:5432/database` (or `postgresql://`), where `?schema=name` picks
 * the schema (default `offload`) and the other parameters go to `pg` as they are.
 */
export function openStore(url: string): Store {
  if (typeof url !== 'string' || url.length === 0) {
    throw new OffloadError('INVALID_STORE', 'the store must be a URL such as sqlite:./data/offload.db', { store: null })
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  if (scheme === 'sqlite') {
    let path = url.slice('sqlite:'.length)
    // Accept the URL-ish spellings people type: sqlite://relative/path and sqlite:///absolute/path.
    if (path.startsWith('//')) path = path.slice(2)
    if (path.length === 0) {
      throw new OffloadError('INVALID_STORE', `the store URL '${url}' names no file: use sqlite:./data/offload.db or sqlite::memory:`, {
        store: url,
      })
    }
    return new SqliteStore({ path })
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new OffloadError('INVALID_STORE', `the store URL '${redact(url)}' is not a valid URL`, { store: redact(url) })
    }
    const schema = parsed.searchParams.get('schema') ?? undefined
    parsed.searchParams.delete('schema')
    return new PostgresStore({ url: parsed.toString(), schema })
  }
  throw new OffloadError(
    'INVALID_STORE',
    `cannot open store '${redact(url)}': ` + (scheme === undefined ? 'it is not a URL' : `unsupported scheme '${scheme}:'`) + '; supported: sqlite:<path>, postgres://…',
    { store: redact(url) },
  )
}
