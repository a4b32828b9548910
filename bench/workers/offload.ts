import { offloadWorker } from './offload-worker.js'

// Offload's worker process on the store the bench made: `options.store`, a SQLite file or a
// PostgreSQL schema, by URL.
offloadWorker((config) => String(config.options.store))
