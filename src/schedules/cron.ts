import { Cron } from 'croner'
import { describe } from '../duration.js'
import { OffloadError } from '../errors.js'

/**
 * A cron expression read in a time zone: 5 fields (minute hour day-of-month month day-of-week) or
 * 6 with seconds first. Parsed by croner; a day-of-month and a day-of-week both given match when
 * either does, as in Vixie cron.
 */
export class CronExpression {
  private constructor(
    readonly expression: string,
    readonly timezone: string,
    private readonly cron: Cron,
  ) {}

  /**
   * Parses and checks `expression` in `timezone`; throws `INVALID_OPTION` with croner's reason
   * ("Invalid value for minute: 61") for an expression that does not parse, an unknown zone, or an
   * expression that never fires (February 30th).
   */
  static parse(expression: unknown, timezone: unknown = 'UTC', now = Date.now()): CronExpression {
    const zone = checkTimezone(timezone)
    if (typeof expression !== 'string' || expression.trim() === '' || expression.length > 200) {
      throw new OffloadError('INVALID_OPTION', `cron must be a cron expression such as '0 3 * * *', got ${describe(expression)}`, { option: 'cron' })
    }
    const text = expression.trim().replace(/\s+/g, ' ')
    let cron: Cron
    try {
      // 5 or 6 fields only: croner's 7th field (years) would make schedules that silently stop.
      cron = new Cron(text, { timezone: zone, mode: '5-or-6-parts' })
    } catch (error) {
      const reason = (error as Error).message.replace(/^CronPattern: /, '')
      throw new OffloadError('INVALID_OPTION', `cron ${describe(expression)} is not valid: ${reason}`, { option: 'cron', cron: expression })
    }
    const parsed = new CronExpression(text, zone, cron)
    if (parsed.nextAfter(now) === null) {
      throw new OffloadError('INVALID_OPTION', `cron ${describe(expression)} never fires`, { option: 'cron', cron: expression })
    }
    return parsed
  }

  /** The first tick strictly after `at` (epoch ms), or null if none. */
  nextAfter(at: number): number | null {
    return this.cron.nextRun(new Date(at))?.getTime() ?? null
  }

  /** The first tick at or after `at`, or null if none. */
  nextFrom(at: number): number | null {
    // croner drops the milliseconds of the time it starts from, and ticks fall on whole seconds.
    return this.nextAfter(Math.ceil(at / 1000) * 1000 - 1)
  }

  /** Up to `n` ticks strictly before `at`, a whole second, oldest first. */
  previousBefore(at: number, n: number): number[] {
    return this.cron
      .previousRuns(n, new Date(at))
      .map((date) => date.getTime())
      .reverse()
  }
}

/** An IANA time zone name (`'Europe/Paris'`, `'UTC'`), in its canonical spelling. */
export function checkTimezone(value: unknown): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= 64) {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
    } catch {
      // Reported below, as any other bad value.
    }
  }
  throw new OffloadError('INVALID_OPTION', `timezone must be an IANA time zone such as 'Europe/Paris' or 'UTC', got ${describe(value)}`, {
    option: 'timezone',
  })
}
