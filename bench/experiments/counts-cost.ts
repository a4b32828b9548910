/**
 * What keeping job counts with triggers would cost writes: bulk enqueue (calls of 1,000) and a
 * claim 50 / complete 50 drain through the store, with trigger variants added to a fresh store from
 * outside, interleaved round by round. Store-level figures: the worker runtime's own cost is not in
 * them, so a trigger's share shows larger here than end to end.
 *
 * SQLite variants: `narrow` (a counts row per queue and state, row triggers), `wide` (a row per
 * queue, a column per state), `noop` (triggers with an empty body: the cost of firing at all),
 * `whenoff` (triggers whose WHEN is false). PostgreSQL (`--store postgres`, schema
 * bench_offload_counts_cost): `trigger`, statement triggers with transition tables appending
 * aggregated deltas. The stores count in their own statements instead: see docs/queues.md.
 *
 *   npx tsx bench/experiments/counts-cost.ts [--store sqlite|postgres] [--rounds 5] [--jobs 100000] [--variants none,narrow,wide,noop,whenoff]
 */
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { uuidv7 } from '../../src/ids.js'
import pg from 'pg'
import { PostgresStore } from '../../src/store/postgres/postgres-store.js'
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../src/store/store.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const ROUNDS = Number(option('--rounds', '5'))
const JOBS = Number(option('--jobs', '100000'))
const STORE = option('--store', 'sqlite')
const VARIANTS = option('--variants', STORE === 'sqlite' ? 'none,narrow,wide' : 'none,trigger').split(',')
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const PG_SCHEMA = 'bench_offload_counts_cost'

const STATES = ['scheduled', 'queued', 'running', 'retrying', 'completed', 'failed', 'cancelled']
const DDL: Record<string, string> = {
  none: '',
  narrow: `
    CREATE TABLE IF NOT EXISTS x_counts (queue TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, state)) STRICT, WITHOUT ROWID;
    CREATE TRIGGER x_ins AFTER INSERT ON offload_jobs BEGIN
      INSERT INTO x_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1) ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER x_del AFTER DELETE ON offload_jobs BEGIN
      UPDATE x_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    END;
    CREATE TRIGGER x_upd AFTER UPDATE OF state, queue ON offload_jobs WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue BEGIN
      UPDATE x_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
      INSERT INTO x_counts (queue, state, n) VALUES (NEW.queue, NEW.state, 1) ON CONFLICT (queue, state) DO UPDATE SET n = n + 1;
    END;`,
  wide: `
    CREATE TABLE IF NOT EXISTS x_counts (queue TEXT PRIMARY KEY, ${STATES.map((s) => `${s} INTEGER NOT NULL DEFAULT 0`).join(', ')}) STRICT, WITHOUT ROWID;
    CREATE TRIGGER x_ins AFTER INSERT ON offload_jobs BEGIN
      INSERT INTO x_counts (queue, ${STATES.join(', ')}) VALUES (NEW.queue, ${STATES.map((s) => `NEW.state = '${s}'`).join(', ')})
        ON CONFLICT (queue) DO UPDATE SET ${STATES.map((s) => `${s} = ${s} + (NEW.state = '${s}')`).join(', ')};
    END;
    CREATE TRIGGER x_del AFTER DELETE ON offload_jobs BEGIN
      UPDATE x_counts SET ${STATES.map((s) => `${s} = ${s} - (OLD.state = '${s}')`).join(', ')} WHERE queue = OLD.queue;
    END;
    CREATE TRIGGER x_upd AFTER UPDATE OF state ON offload_jobs WHEN OLD.state IS NOT NEW.state BEGIN
      UPDATE x_counts SET ${STATES.map((s) => `${s} = ${s} + (NEW.state = '${s}') - (OLD.state = '${s}')`).join(', ')} WHERE queue = NEW.queue;
    END;`,
  noop: `
    CREATE TRIGGER x_ins AFTER INSERT ON offload_jobs BEGIN SELECT 1; END;
    CREATE TRIGGER x_upd AFTER UPDATE OF state ON offload_jobs BEGIN SELECT 1; END;`,
  whenoff: `
    CREATE TABLE x_counts (queue TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, state)) STRICT, WITHOUT ROWID;
    CREATE TRIGGER x_ins AFTER INSERT ON offload_jobs WHEN 0 BEGIN
      INSERT INTO x_counts VALUES (NEW.queue, NEW.state, 1) ON CONFLICT DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER x_upd AFTER UPDATE OF state ON offload_jobs WHEN 0 BEGIN
      UPDATE x_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state;
    END;`,
}

/** PostgreSQL: statement-level triggers with transition tables append aggregated deltas. */
const PG_DDL: Record<string, string> = {
  none: '',
  trigger: `
    CREATE TABLE s.x_deltas (queue text NOT NULL, state text NOT NULL, delta bigint NOT NULL);
    CREATE FUNCTION s.x_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO s.x_deltas SELECT queue, state, count(*) FROM new_jobs GROUP BY queue, state; RETURN NULL; END $$;
    CREATE FUNCTION s.x_del() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO s.x_deltas SELECT queue, state, -count(*) FROM old_jobs GROUP BY queue, state; RETURN NULL; END $$;
    CREATE FUNCTION s.x_upd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO s.x_deltas SELECT c.queue, c.state, sum(c.d) FROM old_jobs o JOIN new_jobs n ON n.seq = o.seq
        CROSS JOIN LATERAL (VALUES (o.queue, o.state, -1), (n.queue, n.state, 1)) AS c(queue, state, d)
        WHERE o.state <> n.state OR o.queue <> n.queue GROUP BY c.queue, c.state HAVING sum(c.d) <> 0;
      RETURN NULL; END $$;
    CREATE TRIGGER x_ins AFTER INSERT ON s.jobs REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION s.x_ins();
    CREATE TRIGGER x_del AFTER DELETE ON s.jobs REFERENCING OLD TABLE AS old_jobs FOR EACH STATEMENT EXECUTE FUNCTION s.x_del();
    CREATE TRIGGER x_upd AFTER UPDATE ON s.jobs REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION s.x_upd();`,
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

const dir = mkdtempSync(join(tmpdir(), 'offload-counts-'))
let files = 0

async function measure(variant: string): Promise<{ bulk: number; drain: number }> {
  const file = join(dir, `${variant}-${++files}.db`)
  try {
    let store: Store
    if (STORE === 'sqlite') {
      const setup = new SqliteStore({ path: file })
      await setup.migrate()
      await setup.close()
      const raw = new Database(file)
      raw.exec(DDL[variant]!)
      raw.close()
      store = new SqliteStore({ path: file })
    } else {
      await admin(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`)
      const setup = new PostgresStore({ url: PG_URL, schema: PG_SCHEMA })
      await setup.migrate()
      await setup.close()
      if (PG_DDL[variant]) await admin(PG_DDL[variant].replaceAll('s.', `${PG_SCHEMA}.`))
      await admin(`VACUUM ANALYZE ${PG_SCHEMA}.jobs`)
      store = new PostgresStore({ url: PG_URL, schema: PG_SCHEMA })
    }
    let started = performance.now()
    for (let first = 0; first < JOBS; first += 1000) {
      await store.jobInsertMany({
        jobs: Array.from({ length: 1000 }, (_, k) => ({ id: uuidv7(), task: 't', queue: 'q', payload: `{"i":${first + k}}`, priority: 0, maxAttempts: 3 })),
      })
    }
    const bulk = (JOBS / (performance.now() - started)) * 1000
    started = performance.now()
    for (;;) {
      const claimed = await store.jobClaim({ queues: ['q'], workerId: 'w', limit: 50, leaseMs: 60_000 })
      if (claimed.length === 0) break
      await store.jobFinishMany({ finishes: claimed.map((job) => ({ id: job.id, lease: job.lease, outcome: 'completed', result: 'null' })) })
    }
    const drain = (JOBS / (performance.now() - started)) * 1000
    await store.close()
    return { bulk, drain }
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
    if (STORE !== 'sqlite') await admin(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`)
  }
}

const results = new Map<string, { bulk: number[]; drain: number[] }>()
for (let round = 1; round <= ROUNDS; round++) {
  const order = [...VARIANTS.slice(round % VARIANTS.length), ...VARIANTS.slice(0, round % VARIANTS.length)]
  for (const variant of order) {
    const { bulk, drain } = await measure(variant)
    const seen = results.get(variant) ?? { bulk: [], drain: [] }
    seen.bulk.push(bulk)
    seen.drain.push(drain)
    results.set(variant, seen)
    console.log(`round ${round} ${variant.padEnd(8)} bulk ${bulk.toFixed(0).padStart(7)} jobs/s  drain ${drain.toFixed(0).padStart(7)} jobs/s`)
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const base = results.get(VARIANTS[0]!)!
console.log(`\nmedians over ${ROUNDS} rounds (${JOBS.toLocaleString('en-US')} jobs):`)
for (const [variant, seen] of results) {
  const b = median(seen.bulk)
  const d = median(seen.drain)
  console.log(`${variant.padEnd(8)} bulk ${b.toFixed(0).padStart(7)} (${((b / median(base.bulk) - 1) * 100).toFixed(1)}%)  drain ${d.toFixed(0).padStart(7)} (${((d / median(base.drain) - 1) * 100).toFixed(1)}%)`)
}
rmSync(dir, { recursive: true, force: true })
