import type { Store } from '../../src/index.js'
import { offloadWorker } from '../workers/offload-worker.js'
import { tunedStore } from './tuned-store.js'

// workers/offload.ts's drain, on a store with a tuning applied (experiments/variants.ts).
let store: Store | undefined
offloadWorker(
  (config) => (store = tunedStore(String(config.options.file), { tempStoreMemory: config.options.tempStoreMemory === true })),
  async () => store?.close(),
)
