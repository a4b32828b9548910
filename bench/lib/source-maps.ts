import { readdirSync, writeFileSync } from 'node:fs'
import { findSourceMap, type SourceMapPayload } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function typescriptFiles(dir: string): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'results') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...typescriptFiles(path))
    else if (entry.name.endsWith('.ts')) files.push(path)
  }
  return files
}

/**
 * tsx compiles each TypeScript file to one line of JavaScript, so a CPU profile's positions point
 * into that line. The source maps of the files this process loaded let `profile-summary` turn
 * them back into `src/…ts:line`; written beside the profile as `<name>.sourcemaps.json`.
 */
export function writeSourceMaps(file: string): void {
  const maps: Record<string, SourceMapPayload> = {}
  for (const dir of ['src', 'bench']) {
    for (const path of typescriptFiles(join(ROOT, dir))) {
      const url = pathToFileURL(path).href
      const map = findSourceMap(url)
      if (map !== undefined) maps[url] = map.payload
    }
  }
  writeFileSync(file, JSON.stringify(maps))
}

export function sourceMapsFileFor(profile: string): string {
  return profile.replace(/\.cpuprofile$/, '') + '.sourcemaps.json'
}
