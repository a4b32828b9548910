import { readFileSync } from 'node:fs'

/** Offload's version, from its package.json: one level up from src/ and from dist/ alike. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
}
