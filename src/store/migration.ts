/**
 * One version of a store's schema. Each store applies its list in order, once, inside the
 * transaction that records it. Never edit a migration that has shipped; add the next one.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}
