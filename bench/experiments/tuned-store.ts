import type { Database } from 'better-sqlite3'
import { SqliteStore, type Store } from '../../src/index.js'

export interface Tuning {
  /** PRAGMA temp_store = MEMORY on the store's connection. */
  tempStoreMemory?: boolean
  /** Commit claim transactions with synchronous=NORMAL (no fsync); everything else stays FULL. */
  claimsWithoutFsync?: boolean
}

/**
 * A SqliteStore with one change applied from outside, to measure a suggestion for src/ before
 * anyone writes it. Reaches the private connection on purpose: experiments only.
 */
export function tunedStore(path: string, tuning: Tuning): Store {
  const store = new SqliteStore({ path })
  const db = (store as unknown as { db: Database }).db
  if (tuning.tempStoreMemory === true) db.pragma('temp_store = MEMORY')
  if (tuning.claimsWithoutFsync !== true) return store
  // The claim's write is committed by the group commit in a later turn; NORMAL from the call
  // until it resolves covers that commit. Other writes committed in the same window (rare: one
  // job at a time) skip their fsync too, so this is an estimate of the gain, not the design.
  const claim = store.jobClaim.bind(store)
  store.jobClaim = async (params) => {
    db.pragma('synchronous = NORMAL')
    try {
      return await claim(params)
    } finally {
      db.pragma('synchronous = FULL')
    }
  }
  return store
}
