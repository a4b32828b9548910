/**
 * Versioned schema for the SQLite store. A migration is applied once, in order, inside the same
 * IMMEDIATE transaction that records it, so processes that start together cannot apply one twice:
 * the second waits for the write lock and then finds the version recorded.
 *
 * Never edit a migration that has shipped; add the next one.
 */
import type { Migration } from '../migration.js'

const STATES = `'scheduled', 'queued', 'running', 'retrying', 'completed', 'failed', 'cancelled'`

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, events, keys, leaders',
    sql: `
      CREATE TABLE offload_jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        task TEXT NOT NULL,
        queue TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN (${STATES})),
        priority INTEGER NOT NULL,
        run_at INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        lease INTEGER NOT NULL DEFAULT 0,
        worker_id TEXT,
        lease_expires_at INTEGER,
        timeout_ms INTEGER,
        backoff TEXT,
        key TEXT,
        key_ttl_ms INTEGER,
        payload TEXT NOT NULL,
        metadata TEXT,
        result TEXT,
        progress TEXT,
        errors TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      ) STRICT;

      -- The claim path reads only this partial index: finished history never slows a claim.
      CREATE INDEX offload_jobs_ready ON offload_jobs (queue, priority DESC, run_at, seq)
        WHERE state = 'queued';
      CREATE INDEX offload_jobs_due ON offload_jobs (run_at)
        WHERE state IN ('scheduled', 'retrying');
      CREATE INDEX offload_jobs_leases ON offload_jobs (lease_expires_at)
        WHERE state = 'running';
      -- Listing finished jobs by state, newest first, and pruning them oldest first.
      CREATE INDEX offload_jobs_finished ON offload_jobs (state, id)
        WHERE state IN ('completed', 'failed', 'cancelled');

      -- AUTOINCREMENT: seq is a cursor that followers of the log keep, so a seq is never reused,
      -- even after pruning deletes the newest rows.
      CREATE TABLE offload_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        data TEXT
      ) STRICT;
      CREATE INDEX offload_events_job ON offload_events (job_seq, seq);

      -- One row per held idempotency key. expires_at is NULL while the job is unfinished.
      CREATE TABLE offload_keys (
        task TEXT NOT NULL,
        key TEXT NOT NULL,
        job_seq INTEGER NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (task, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX offload_keys_expiry ON offload_keys (expires_at) WHERE expires_at IS NOT NULL;

      CREATE TABLE offload_leaders (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'drop the unused finished-jobs index',
    // No statement ever read offload_jobs_finished: SQLite uses a partial index only when the
    // query's WHERE implies the index's, and a bound `state = ?` or `state IN (?)` never implies
    // `state IN ('completed', 'failed', 'cancelled')`, so listing and pruning by state scan the id
    // index. Every write paid for it all the same: each insert, claim and completion evaluated its
    // IN list (about 2 µs a row) and each completion added an entry, a WAL page per commit.
    sql: `DROP INDEX IF EXISTS offload_jobs_finished;`,
  },
  {
    version: 3,
    name: 'completion webhooks, paused queues',
    sql: `
      -- webhook_due: a final transition of a job with a webhook sets it in the same statement; the
      -- dispatcher clears it in the transaction that creates the delivery job (an outbox). Only
      -- marked rows enter the partial index, so the dispatcher never reads finished history and
      -- jobs without a webhook never touch the index.
      ALTER TABLE offload_jobs ADD COLUMN webhook TEXT;
      ALTER TABLE offload_jobs ADD COLUMN webhook_due INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX offload_jobs_webhooks_due ON offload_jobs (finished_at, seq) WHERE webhook_due = 1;

      -- A row per queue ever paused. Claims look a queue up here by its primary key, once per
      -- claimed queue, so the table stays out of the way of the ready index.
      CREATE TABLE offload_queues (
        name TEXT PRIMARY KEY,
        paused INTEGER NOT NULL,
        paused_at INTEGER
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: 'failure fingerprints, key search, worker registry',
    sql: `
      -- error_fingerprint: set by the statement that fails a job for good, cleared by the one that
      -- takes it out of 'failed' (a retry). Only failed rows enter these two indexes, so no other
      -- job's writes touch them. Grouping failures reads the first alone (it covers the counts,
      -- first and last finish, tasks and queues, and finds a group's newest failure in one seek);
      -- listing one group newest first walks the second. Queries must say state = 'failed'
      -- literally: SQLite uses a partial index only when the query's WHERE implies the index's.
      ALTER TABLE offload_jobs ADD COLUMN error_fingerprint TEXT;
      CREATE INDEX offload_jobs_failure_groups ON offload_jobs (error_fingerprint, finished_at, queue, task)
        WHERE state = 'failed';
      CREATE INDEX offload_jobs_failures ON offload_jobs (error_fingerprint, id) WHERE state = 'failed';
      -- Finding jobs by idempotency key, whatever their task and whether or not the key is still
      -- held (offload_keys forgets a key when its TTL ends). key = ? implies key IS NOT NULL, so
      -- SQLite uses it; jobs without a key never enter it.
      CREATE INDEX offload_jobs_key ON offload_jobs (key, id) WHERE key IS NOT NULL;

      -- One row per worker process, upserted by its heartbeat and deleted when it stops cleanly.
      -- queues is a JSON array of names. Rows of workers that died are pruned after a day.
      CREATE TABLE offload_workers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    name: 'maintained job counts per queue and state',
    sql: `
      -- Jobs per queue and state, so queueList and jobCounts read a row per queue and state instead
      -- of counting the jobs table. Every statement that creates, moves or deletes jobs adds its
      -- batch's changes here in the same transaction (one upsert per queue and state it touched;
      -- per-row triggers would cost a fifth of a bulk enqueue). Rows may sit at 0; readers skip them.
      CREATE TABLE offload_queue_counts (
        queue TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (queue, state)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO offload_queue_counts (queue, state, n) SELECT queue, state, count(*) FROM offload_jobs GROUP BY queue, state;
    `,
  },
  {
    version: 6,
    name: 'cron schedules',
    sql: `
      -- One row per schedule. next_run_at is the tick the scheduler enqueues next: a tick moves it
      -- with a compare-and-set in the transaction that inserts the tick's jobs, so schedulers in
      -- several processes enqueue each tick once. NULL: the expression never fires again. job is
      -- the JSON of what each job is made of besides its payload (priority, attempts, …). A few
      -- rows at most per application: read whole, no index beyond the key.
      CREATE TABLE offload_schedules (
        name TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        queue TEXT NOT NULL,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        payload TEXT NOT NULL,
        job TEXT NOT NULL,
        catch_up INTEGER NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL CHECK (source IN ('code', 'api')),
        next_run_at INTEGER,
        last_run_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: 'job groups, queue limits',
    sql: `
      -- group_key: the job's group (a customer, a tenant). group_rank: its place in the round-robin
      -- between the groups of its queue — the k-th job of a group waiting gets rank head + k, so
      -- claims that walk the ready index in rank order take one job of each group in turn, and a
      -- group that arrives late starts at the head rather than behind a big group's backlog.
      -- Jobs without a group have no rank and sort first within their priority (NULLs first).
      ALTER TABLE offload_jobs ADD COLUMN group_key TEXT;
      ALTER TABLE offload_jobs ADD COLUMN group_rank INTEGER;
      DROP INDEX offload_jobs_ready;
      -- group_key last: a claim that passes over a group at its limit reads it from the index alone.
      CREATE INDEX offload_jobs_ready ON offload_jobs (queue, priority DESC, group_rank, run_at, seq, group_key)
        WHERE state = 'queued';
      -- Running jobs per group, for per-group concurrency; ungrouped jobs never enter it.
      CREATE INDEX offload_jobs_group_running ON offload_jobs (queue, group_key)
        WHERE state = 'running' AND group_key IS NOT NULL;

      -- The next rank of each group of a queue.
      CREATE TABLE offload_groups (
        queue TEXT NOT NULL,
        group_key TEXT NOT NULL,
        next_rank INTEGER NOT NULL,
        PRIMARY KEY (queue, group_key)
      ) STRICT, WITHOUT ROWID;
      -- Per queue: the highest rank claimed (where new groups start), and the rate limit's current
      -- window (its start, epoch ms) with the claims counted in it.
      CREATE TABLE offload_queue_flow (
        queue TEXT PRIMARY KEY,
        rank_head INTEGER NOT NULL DEFAULT 0,
        rate_window INTEGER NOT NULL DEFAULT 0,
        rate_used INTEGER NOT NULL DEFAULT 0
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    name: 'circuit breakers',
    sql: `
      -- One row per circuit breaker, keyed by task and group ('' for a task-wide breaker), shared
      -- by every worker on the file. Breakers never touch jobs, so writing one costs no job counts.
      -- The settings columns are the ones the last outcome came with: breakerList shows them and
      -- breakerProbe needs the cooldown and probe count without being told them.
      CREATE TABLE offload_breakers (
        task TEXT NOT NULL,
        grp TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
        window_start INTEGER NOT NULL,
        total INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        prev_total INTEGER NOT NULL,
        prev_failed INTEGER NOT NULL,
        opened_at INTEGER,
        cooldown_until INTEGER,
        probes_in_flight INTEGER NOT NULL,
        probe_taken_at INTEGER,
        threshold REAL NOT NULL,
        min_volume INTEGER NOT NULL,
        window_ms INTEGER NOT NULL,
        cooldown_ms INTEGER NOT NULL,
        probes INTEGER NOT NULL,
        opened INTEGER NOT NULL,
        half_opened INTEGER NOT NULL,
        closed INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (task, grp)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: 'debounce and throttle keys',
    sql: `
      -- The job a debounce key (per task) stands for, with its run time. An enqueue with the key
      -- updates that job while it is still scheduled, never started and not yet due; after that the
      -- row is stale, and the next enqueue points it at a new job. Stale rows go when their run time
      -- passes (jobPrune, through the run_at index); a lookup checks the job itself anyway. By job
      -- id, not seq: SQLite may give a deleted job's seq to the next one, and a stale row must
      -- never name another job.
      CREATE TABLE offload_debounces (
        task TEXT NOT NULL,
        key TEXT NOT NULL,
        job_id TEXT NOT NULL,
        run_at INTEGER NOT NULL,
        PRIMARY KEY (task, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX offload_debounces_run_at ON offload_debounces (run_at);

      -- A throttle key's (per task) current window: the job created at its start, and its end.
      -- jobPrune deletes windows that ended.
      CREATE TABLE offload_throttles (
        task TEXT NOT NULL,
        key TEXT NOT NULL,
        job_id TEXT NOT NULL,
        until INTEGER NOT NULL,
        PRIMARY KEY (task, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX offload_throttles_until ON offload_throttles (until);
    `,
  },
]

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version
