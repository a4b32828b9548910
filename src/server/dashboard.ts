import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { HttpError } from './http-error.js'

/**
 * Where `npm run build` puts the dashboard: two levels up from src/server/ (run through tsx) and
 * from dist/server/ (the published package) alike.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/dashboard/', import.meta.url))

/**
 * What a dashboard page may do: load its own scripts, styles and images, and talk to this server —
 * nothing inline, nothing from elsewhere, never inside another site's frame. A payload that holds
 * markup can therefore never run, even if it were rendered as markup by mistake.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ')

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
}

interface StaticFile {
  body: Buffer
  type: string
  etag: string
  /** Vite names what it builds under assets/ by content hash: such a file never changes. */
  immutable: boolean
}

/**
 * Serves the built dashboard: `/` is its page, the files beside it keep their paths. Files are
 * read once, at start-up: a few hundred kilobytes, answered from memory with an ETag. The page
 * talks to the API like any client (ARCHITECTURE.md: the dashboard uses only the HTTP API). Without
 * a build, `/` says how to make one.
 */
export function dashboardRoutes(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const files = readBuild(dir)
  const index = files.get('index.html')
  app.get('/', { config: { scope: 'public', hidden: true } }, async (request, reply) => {
    if (index === undefined) {
      throw new HttpError(503, 'DASHBOARD_NOT_BUILT', `the dashboard is not built (no ${join(dir, 'index.html')}): run npm run build`, {})
    }
    return send(reply, index, request.headers['if-none-match'])
  })
  for (const [path, file] of files) {
    if (path === 'index.html') continue
    app.get(`/${path}`, { config: { scope: 'public', hidden: true } }, async (request, reply) => send(reply, file, request.headers['if-none-match']))
  }
}

function send(reply: FastifyReply, file: StaticFile, ifNoneMatch: string | undefined): FastifyReply {
  reply.headers(SECURITY_HEADERS)
  reply.header('etag', file.etag)
  reply.header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  if (ifNoneMatch === file.etag) return reply.code(304).send()
  return reply.type(file.type).send(file.body)
}

function readBuild(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  if (!existsSync(dir)) return files
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name)
      if (statSync(path).isDirectory()) {
        walk(path)
        continue
      }
      const type = TYPES[extname(name)]
      // Source maps and anything unexpected stay unserved.
      if (type === undefined) continue
      const body = readFileSync(path)
      const key = relative(dir, path).split(sep).join('/')
      files.set(key, {
        body,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: key.startsWith('assets/'),
      })
    }
  }
  walk(dir)
  return files
}
