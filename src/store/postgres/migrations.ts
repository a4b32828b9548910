/**
 * Versioned schema for the PostgreSQL store, inside the schema the store is configured with (the
 * `{schema}` placeholder, always a quoted identifier). `PostgresStore.migrate()` applies pending
 * versions in one transaction under an advisory lock, so processes that start together apply each
 * exactly once: the others wait on the lock and then find the versions recorded.
 *
 * Times are `timestamptz` and every time decision reads the database's `now()` (or the `now` a
 * caller passes); JSON the runtime already serialised is `json`, stored as given, so `\u0000` in a
 * payload and the key order of objects survive. Attempt errors are `jsonb`, to append cheaply.
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
      CREATE TABLE {schema}.jobs (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        task text NOT NULL,
        queue text NOT NULL,
        state text NOT NULL CHECK (state IN (${STATES})),
        priority integer NOT NULL,
        run_at timestamptz NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        lease integer NOT NULL DEFAULT 0,
        worker_id text,
        lease_expires_at timestamptz,
        timeout_ms bigint,
        backoff json,
        key text,
        key_ttl_ms bigint,
        payload json NOT NULL,
        metadata json,
        result json,
        progress json,
        errors jsonb,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz
      );

      -- Every job is updated a few times (claim, finish) and deleted by the pruner: vacuum after 2%
      -- of the rows changed rather than the default 20%, so dead tuples never pile up in a big table.
      ALTER TABLE {schema}.jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

      -- The claim path reads only this partial index: finished history never slows a claim.
      CREATE INDEX jobs_ready ON {schema}.jobs (queue, priority DESC, run_at, seq) WHERE state = 'queued';
      CREATE INDEX jobs_due ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retrying');
      CREATE INDEX jobs_leases ON {schema}.jobs (lease_expires_at) WHERE state = 'running';
      -- Listing finished jobs by state, newest first; pruning them by the time they finished, so a
      -- prune that finds nothing to do reads one index entry, not the whole history.
      CREATE INDEX jobs_finished ON {schema}.jobs (state, id) WHERE state IN ('completed', 'failed', 'cancelled');
      CREATE INDEX jobs_prunable ON {schema}.jobs (state, finished_at) WHERE state IN ('completed', 'failed', 'cancelled');

      -- seq is the cursor followers of the log keep. Writers append under a shared advisory lock
      -- and readers of the tail take it exclusively for an instant (see event_horizon), so a
      -- follower never sees an event after one with a larger seq.
      CREATE TABLE {schema}.events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_seq bigint NOT NULL,
        at timestamptz NOT NULL,
        type text NOT NULL,
        state text NOT NULL,
        attempt integer NOT NULL,
        data json
      );
      CREATE INDEX events_job ON {schema}.events (job_seq, seq);

      -- One row per held idempotency key. expires_at is NULL while the job is unfinished.
      CREATE TABLE {schema}.keys (
        task text NOT NULL,
        key text NOT NULL,
        job_id text NOT NULL,
        expires_at timestamptz,
        PRIMARY KEY (task, key)
      );
      CREATE INDEX keys_expiry ON {schema}.keys (expires_at) WHERE expires_at IS NOT NULL;

      CREATE TABLE {schema}.leaders (
        name text PRIMARY KEY,
        owner text NOT NULL,
        expires_at timestamptz NOT NULL
      );

      -- The highest seq below which every event is committed or rolled back: waits for the
      -- transactions appending events right now (they hold the lock shared), then reads the
      -- sequence. Run it alone in its statement; the next statement's snapshot sees those events.
      CREATE FUNCTION {schema}.event_horizon(lock_space integer, lock_key integer) RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(lock_space, lock_key);
        RETURN coalesce(pg_sequence_last_value(pg_get_serial_sequence('{schema}.events', 'seq')::regclass), 0);
      END
      $$;
    `,
  },
  {
    version: 2,
    name: 'completion webhooks, paused queues',
    sql: `
      -- webhook_due is the outbox: set by the statement that moves a job with a webhook into a
      -- final state, cleared by the dispatcher in the statement that creates the delivery job. A
      -- constant default adds both columns without rewriting the table.
      ALTER TABLE {schema}.jobs ADD COLUMN webhook text, ADD COLUMN webhook_due boolean NOT NULL DEFAULT false;
      -- Holds only the jobs owed a delivery, so the dispatcher's poll reads nothing when none is.
      CREATE INDEX jobs_webhook_due ON {schema}.jobs (finished_at, seq) WHERE webhook_due;

      -- A row per queue ever paused. Claims test it for each queue they read, so it stays tiny:
      -- a resumed queue keeps its row (queueList shows it) with paused false.
      CREATE TABLE {schema}.queues (
        name text PRIMARY KEY,
        paused boolean NOT NULL,
        paused_at timestamptz
      );
    `,
  },
  {
    version: 3,
    name: 'failure fingerprints, key search, worker registry',
    sql: `
      -- error_fingerprint: set by the statement that fails a job for good, cleared by the one that
      -- takes it out of 'failed'. Only failed rows enter these two indexes. Grouping failures is an
      -- index-only scan of the first (counts, first and last finish, tasks, queues; a group's
      -- newest failure is one seek); listing one group newest first walks the second. A nullable
      -- column without a default is added without rewriting the table.
      ALTER TABLE {schema}.jobs ADD COLUMN error_fingerprint text;
      CREATE INDEX jobs_failure_groups ON {schema}.jobs (error_fingerprint, finished_at, queue, task) WHERE state = 'failed';
      CREATE INDEX jobs_failures ON {schema}.jobs (error_fingerprint, id) WHERE state = 'failed';
      -- Finding jobs by idempotency key whatever their task, also after the key's TTL ended and
      -- the keys table forgot it. Jobs without a key never enter it.
      CREATE INDEX jobs_key ON {schema}.jobs (key, id) WHERE key IS NOT NULL;

      -- One row per worker process, upserted by its heartbeat and deleted when it stops cleanly;
      -- rows of workers that died are pruned after a day.
      CREATE TABLE {schema}.workers (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        queues jsonb NOT NULL,
        concurrency integer NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 4,
    name: 'maintained job counts per queue and state',
    sql: `
      -- Jobs per queue and state, so queueList and jobCounts read a few small rows instead of
      -- counting the jobs table. A row per queue and state updated by every write would be one
      -- hot row serialising concurrent claims and finishes across processes, so writers only
      -- append: every statement that creates, moves or deletes jobs inserts its net change per
      -- queue and state into queue_count_deltas, in the same transaction. A count is its
      -- queue_counts row plus its deltas; the maintenance leader folds the deltas into
      -- queue_counts every second (queueCountsCompact), so a read sums a few hundred rows at most.
      -- No index on the deltas: appends stay cheap, and folding reads them all anyway.
      CREATE TABLE {schema}.queue_counts (
        queue text NOT NULL,
        state text NOT NULL,
        n bigint NOT NULL,
        PRIMARY KEY (queue, state)
      );
      CREATE TABLE {schema}.queue_count_deltas (
        queue text NOT NULL,
        state text NOT NULL,
        delta bigint NOT NULL
      );
      INSERT INTO {schema}.queue_counts (queue, state, n) SELECT queue, state, count(*) FROM {schema}.jobs GROUP BY queue, state;
    `,
  },
  {
    version: 5,
    name: 'cron schedules',
    sql: `
      -- One row per schedule. next_run_at is the tick the scheduler enqueues next: a tick moves it
      -- with a compare-and-set in the transaction that inserts the tick's jobs, so schedulers in
      -- several processes enqueue each tick once (the row lock makes the losers find it moved).
      -- NULL: the expression never fires again. job: what each job is made of besides its payload.
      CREATE TABLE {schema}.schedules (
        name text PRIMARY KEY,
        task text NOT NULL,
        queue text NOT NULL,
        cron text NOT NULL,
        timezone text NOT NULL,
        payload text NOT NULL,
        job text NOT NULL,
        catch_up integer NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        source text NOT NULL CHECK (source IN ('code', 'api')),
        next_run_at timestamptz,
        last_run_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'job groups, queue limits',
    sql: `
      -- group_key: the job's group (a customer, a tenant). group_rank: its place in the round-robin
      -- between its queue's groups — a group's k-th waiting job gets rank head + k, so claims that
      -- walk the ready index in rank order take one job of each group in turn, and a group that
      -- arrives late starts at the head rather than behind a big group's backlog. Jobs without a
      -- group have no rank and come first within their priority (NULLS FIRST).
      ALTER TABLE {schema}.jobs ADD COLUMN group_key text, ADD COLUMN group_rank bigint;
      DROP INDEX {schema}.jobs_ready;
      CREATE INDEX jobs_ready ON {schema}.jobs (queue, priority DESC, group_rank NULLS FIRST, run_at, seq) WHERE state = 'queued';
      -- Running jobs per group, for per-group concurrency; ungrouped jobs never enter it.
      CREATE INDEX jobs_group_running ON {schema}.jobs (queue, group_key) WHERE state = 'running' AND group_key IS NOT NULL;

      -- The next rank of each group of a queue; an insert of a group's jobs locks its row.
      CREATE TABLE {schema}.groups (
        queue text NOT NULL,
        group_key text NOT NULL,
        next_rank bigint NOT NULL,
        PRIMARY KEY (queue, group_key)
      );
      -- Per queue: the highest rank claimed (where new groups start), and the rate limit's current
      -- window (its start, epoch ms) with the claims counted in it. Claims of grouped jobs update
      -- rank_head; claims of other jobs never touch the table.
      CREATE TABLE {schema}.queue_flow (
        queue text PRIMARY KEY,
        rank_head bigint NOT NULL DEFAULT 0,
        rate_window bigint NOT NULL DEFAULT 0,
        rate_used integer NOT NULL DEFAULT 0
      );
    `,
  },
  {
    version: 7,
    name: 'circuit breakers',
    sql: `
      -- One row per circuit breaker, keyed by task and group ('' for a task-wide breaker), shared
      -- by every worker on every machine. Writers lock the rows they change (FOR UPDATE, in key
      -- order) and apply the rules in breaker-row.ts, so both stores move breakers alike. Breakers
      -- never touch jobs, so writing one costs no job counts. The settings columns are the ones
      -- the last outcome came with: breakerList shows them, breakerProbe needs the cooldown and
      -- probe count without being told them.
      CREATE TABLE {schema}.breakers (
        task text NOT NULL,
        grp text NOT NULL,
        state text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
        window_start timestamptz NOT NULL,
        total integer NOT NULL,
        failed integer NOT NULL,
        prev_total integer NOT NULL,
        prev_failed integer NOT NULL,
        opened_at timestamptz,
        cooldown_until timestamptz,
        probes_in_flight integer NOT NULL,
        probe_taken_at timestamptz,
        threshold float8 NOT NULL,
        min_volume integer NOT NULL,
        window_ms bigint NOT NULL,
        cooldown_ms bigint NOT NULL,
        probes integer NOT NULL,
        opened bigint NOT NULL,
        half_opened bigint NOT NULL,
        closed bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (task, grp)
      );
    `,
  },
  {
    version: 8,
    name: 'debounce and throttle keys',
    sql: `
      -- The job a debounce key (per task) stands for, with its run time. An enqueue with the key
      -- locks the row (INSERT … ON CONFLICT DO UPDATE), so producers of one key take turns, and
      -- updates that job while it is still scheduled, never started and not yet due; after that the
      -- row is stale and the next enqueue points it at a new job. Stale rows go when their run time
      -- passes (jobPrune); a lookup checks the job itself anyway.
      CREATE TABLE {schema}.debounces (
        task text NOT NULL,
        key text NOT NULL,
        job_id text NOT NULL,
        run_at timestamptz NOT NULL,
        PRIMARY KEY (task, key)
      );
      CREATE INDEX debounces_run_at ON {schema}.debounces (run_at);

      -- A throttle key's (per task) current window: the job created at its start, and its end.
      -- Locked the same way by each enqueue with the key; jobPrune deletes windows that ended.
      CREATE TABLE {schema}.throttles (
        task text NOT NULL,
        key text NOT NULL,
        job_id text NOT NULL,
        until timestamptz NOT NULL,
        PRIMARY KEY (task, key)
      );
      CREATE INDEX throttles_until ON {schema}.throttles (until);
    `,
  },
]

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version
