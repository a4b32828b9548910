import { formatDuration } from '../../duration.js'
import { openStore } from '../../store/open-store.js'
import { redact } from '../../store/redact.js'
import type { Store } from '../../store/store.js'
import type { Command } from '../command.js'
import { UsageError } from '../exit.js'
import type { CliIo } from '../output.js'

const MAX_BATCH = 10_000

export const copyCommand: Command = {
  name: 'copy',
  usage: 'copy',
  summary: 'copy jobs and their event logs from one store to another',
  description:
    'Copies every job, in every state, with its timeline, from the --from store to the --to store\n' +
    '(SQLite to PostgreSQL, say), a batch per transaction. Jobs keep their ids, states, attempts,\n' +
    'times, results and errors; a running job arrives queued, its attempt given back, since no\n' +
    'worker of the new store holds it. Jobs the target already has are skipped, so an interrupted\n' +
    'copy is finished by running it again. A job whose idempotency key a job of the target already\n' +
    'holds is copied without holding it, and reported. Stop the workers on the source first: jobs\n' +
    'that change there after they were copied are not copied again.',
  options: {
    from: { type: 'string', value: '<url>', description: 'the store to copy from (required); it is migrated, and only read' },
    to: { type: 'string', value: '<url>', description: 'the store to copy into (required); it is migrated first' },
    batch: { type: 'string', value: '<n>', description: `jobs per transaction, at most ${MAX_BATCH}`, defaultText: '1000' },
  },
  positionals: { min: 0, max: 0 },
  examples: [
    'offload copy --from sqlite:./data/offload.db --to postgres://app@db.internal/app',
    'offload copy --from sqlite:./data/offload.db --to sqlite:./backup.db --batch 200 --json',
  ],
  async run({ args, out, io }) {
    const from = args.string('from')
    const to = args.string('to')
    if (from === undefined || to === undefined) {
      const missing = [from === undefined ? '--from <url>' : '', to === undefined ? '--to <url>' : ''].filter(Boolean).join(' and ')
      throw new UsageError(`'offload copy' needs ${missing}; usage: offload copy --from <url> --to <url>`)
    }
    // --store names the one store of every other command; here it would be ambiguous.
    if (args.has('store')) throw new UsageError('offload copy takes --from and --to, not --store')
    if (from === to) throw new UsageError(`--from and --to name the same store ('${redact(from)}'): nothing to copy`)
    const batch = args.integer('batch') ?? 1000
    if (batch < 1 || batch > MAX_BATCH) throw new UsageError(`--batch must be an integer from 1 to ${MAX_BATCH}, got ${batch}`)

    // Opened one after the other so that a bad --to URL closes the source again; both close however
    // the copy ends.
    const source = openStore(from)
    try {
      const target = openStore(to)
      try {
        await source.migrate()
        await target.migrate()
        const started = Date.now()
        const estimate = (await source.jobCounts()).reduce((sum, count) => sum + count.count, 0)
        // A mistyped --from opens (and, for SQLite, creates) an empty store: say so rather than
        // report a successful copy of nothing.
        if (estimate === 0) out.note(`offload: warning: ${source.description} holds no jobs; is --from the store you meant?`)
        else if (!out.json) out.note(`copying ~${estimate} job${estimate === 1 ? '' : 's'} from ${source.description} to ${target.description} …`)
        const progress = new Progress(io, estimate, out.json)
        let totals: CopyTotals
        try {
          totals = await copyJobs(source, target, batch, (copied) => progress.update(copied))
        } finally {
          progress.done()
        }
        const elapsedMs = Date.now() - started
        if (out.json) {
          out.data({ from: source.description, to: target.description, ...totals, elapsedMs })
          return 0
        }
        const conflicts = totals.keyConflicts
        out.line(
          `imported ${totals.imported} job${totals.imported === 1 ? '' : 's'} into ${target.description} in ${formatDuration(elapsedMs)}; ` +
            `${totals.skipped} skipped (already there), ${conflicts.length} key conflict${conflicts.length === 1 ? '' : 's'}`,
        )
        if (conflicts.length > 0) {
          const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? `, … (--json lists all ${conflicts.length})` : '')
          out.line(`copied without holding their key, which a job of the target holds: ${shown}`)
        }
        return 0
      } finally {
        await target.close()
      }
    } finally {
      await source.close()
    }
  },
}

interface CopyTotals {
  imported: number
  skipped: number
  keyConflicts: string[]
}

/** Pages through the source in id order, one import (one transaction) per page. */
async function copyJobs(source: Store, target: Store, batch: number, onPage: (copied: number) => void): Promise<CopyTotals> {
  const totals: CopyTotals = { imported: 0, skipped: 0, keyConflicts: [] }
  let after: string | undefined
  while (true) {
    const records = await source.jobExport({ after, limit: batch })
    if (records.length === 0) break
    const result = await target.jobImport({ records })
    totals.imported += result.imported
    totals.skipped += result.skipped
    totals.keyConflicts.push(...result.keyConflicts)
    onPage(totals.imported + totals.skipped)
    if (records.length < batch) break
    after = records[records.length - 1]!.job.id
  }
  return totals
}

/**
 * "copied N of ~M jobs" on stderr: a bar and that line rewritten in place at a terminal, else a line every
 * few seconds for a log. The estimate is the source's count when the copy began, hence the `~`.
 */
class Progress {
  private readonly tty: boolean
  private lastAt = 0
  private drawn = false

  constructor(
    private readonly io: CliIo,
    private readonly estimate: number,
    json: boolean,
  ) {
    this.tty = io.stderr.isTTY === true
    // JSON mode keeps a log's stderr quiet for scripts; a person at a terminal still sees progress.
    if (json && !this.tty) this.lastAt = Infinity
    else if (!this.tty) this.lastAt = Date.now()
  }

  update(copied: number): void {
    const now = Date.now()
    if (now - this.lastAt < (this.tty ? TTY_EVERY_MS : LOG_EVERY_MS)) return
    this.lastAt = now
    const text = `copied ${copied} of ~${this.estimate} jobs`
    if (this.tty) {
      this.io.stderr.write(`\r${bar(copied, this.estimate)} ${text}\x1b[K`)
      this.drawn = true
    } else this.io.stderr.write(text + '\n')
  }

  /** Clears the terminal's progress line, so the summary or an error starts on a clean line. */
  done(): void {
    if (this.drawn) this.io.stderr.write('\r\x1b[K')
    this.drawn = false
  }
}

/** `[########............]  40%`: the share of the estimate copied, capped at full (it is an estimate). */
function bar(done: number, total: number): string {
  const share = total <= 0 ? 1 : Math.min(1, done / total)
  const filled = Math.round(share * BAR_WIDTH)
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(share * 100)).padStart(3)}%`
}

const BAR_WIDTH = 20

/** How often the line redraws at a terminal, and how often a log gets a line. */
const TTY_EVERY_MS = 100
const LOG_EVERY_MS = 5000
