import { tempStoreUrl } from './postgres.js'
import { tempDb } from './temp.js'

/**
 * A fresh, empty store of each kind for one test, removed after it: tests that are about the
 * runtime or the CLI rather than one store run on both with `describe.each(STORE_KINDS)`.
 */
export const STORE_KINDS: [name: string, newStore: () => string][] = [
  ['SQLite', () => `sqlite:${tempDb()}`],
  ['PostgreSQL', () => tempStoreUrl('s')],
]
