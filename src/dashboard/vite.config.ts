import { fileURLToPath } from 'node:url'
import preact from '@preact/preset-vite'
import { defineConfig, type ProxyOptions } from 'vite'

/**
 * The dashboard's build: `npm run build` writes dist/dashboard/ (index.html and hashed files
 * under assets/), which the server serves at `/`. For working on it, `vite --config
 * src/dashboard/vite.config.ts` serves it with hot reload and passes /v1 to an API started with
 * `offload dev` (OFFLOAD_API, default http://127.0.0.1:7070): same origin, as in production, so
 * cookies and the event stream behave as they will there.
 */
const root = fileURLToPath(new URL('.', import.meta.url))
const api: Record<string, ProxyOptions> = { '/v1': { target: process.env.OFFLOAD_API ?? 'http://127.0.0.1:7070' } }

export default defineConfig({
  root,
  base: '/',
  // The dev tools bridge and hot reload are for `vite` (serve) only; the preset leaves them out of builds.
  plugins: [preact({ reactAliasesEnabled: false })],
  build: {
    outDir: '../../dist/dashboard',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The server's CSP allows no inline script or style: nothing may be inlined as a data: URL
    // either, except images (img-src allows data:).
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: { proxy: api },
  preview: { proxy: api },
})
