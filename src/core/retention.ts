/** Days of history a share keeps unless told otherwise (`share create/set --keep-days`). */
export const DEFAULT_KEEP_DAYS = 30;
/** `--keep-days` meaning "never drop anything". */
export const KEEP_FOREVER = -1;

/** A journal row as retention weighs it (store/meta-store.ts's VersionRow has this shape). */
export interface RetainedRow {
  seq: number;
  path: string;
  committedAt: number | null;
  deleted: boolean;
  /** The path's current row. */
  current: boolean;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Why `days` is not a retention setting (an integer from -1 up), or undefined when it is. */
export function keepDaysProblem(days: number): string | undefined {
  return Number.isSafeInteger(days) && days >= KEEP_FOREVER ? undefined : "expected a whole number of days, 0 to keep only the current version or -1 to keep every version";
}

/** "30 days", "forever", "current only": the setting as `share list` shows it. */
export function keepDaysText(days: number): string {
  if (days === KEEP_FOREVER) return "forever";
  if (days === 0) return "current only";
  return days === 1 ? "1 day" : `${days} days`;
}

/**
 * The seqs of the journal rows a share with retention `keepDays` lets go at time `now`
 * (ascending). Staggered versioning, as Syncthing's:
 *  - a path's current live row is never dropped; keepDays -1 drops nothing;
 *  - a non-current row is weighed by the span it was current: from its own `committedAt` to
 *    the next row of its path (a move's tombstone is that next row); NULL times (rows from
 *    before stamps) count as old as possible;
 *  - every row replaced less than an hour ago is kept; beyond that, for each hour of the last
 *    day and each day back to `keepDays`, the row that was current at that hour's (day's)
 *    mark, on the clock's grid, is kept: the newest version of each bucket as seen at its
 *    end. Marks are a property of a row alone, so dropping others never changes whether a kept
 *    row is kept (the policy is idempotent), and `restore --at` a mark finds exactly what was
 *    there;
 *  - a current tombstone (a file in the trash) goes once it is older than `keepDays`, and with it
 *    every older row of its path; keepDays 0 drops every non-current row and current tombstone.
 * `rows` is the journal in seq order, whose times follow it (one server clock stamps them).
 */
export function rowsToDrop(rows: readonly RetainedRow[], keepDays: number, now: number): number[] {
  if (keepDays === KEEP_FOREVER) return [];
  const horizon = now - keepDays * DAY;
  const next = _nextRowTimes(rows);
  const drop: number[] = [];
  for (const r of rows) {
    if (r.current) {
      if (r.deleted && (keepDays === 0 || _time(r.committedAt) < horizon)) drop.push(r.seq);
      continue;
    }
    const end = next.get(r.seq) ?? Infinity;
    if (keepDays === 0 || !_kept(_time(r.committedAt), end, now, horizon)) drop.push(r.seq);
  }
  return drop.sort((a, b) => a - b);
}

/** For each row with a later row of its path: that row's time (when this one stopped being current). */
function _nextRowTimes(rows: readonly RetainedRow[]): Map<number, number> {
  const ends = new Map<number, number>();
  const newest = new Map<string, RetainedRow>();
  for (const r of [...rows].sort((a, b) => a.seq - b.seq)) {
    const before = newest.get(r.path);
    if (before) ends.set(before.seq, _time(r.committedAt));
    newest.set(r.path, r);
  }
  return ends;
}

/** Whether a version current over [start, end) is kept: replaced within the hour, or current at a mark. */
function _kept(start: number, end: number, now: number, horizon: number): boolean {
  if (end > now - HOUR) return true;
  return _coversMark(start, end, HOUR, Math.max(now - DAY, horizon)) || _coversMark(start, end, DAY, horizon);
}

/** Whether [start, end) holds a multiple of `step` that is at least `from` (marks run up to now; end is before it). */
function _coversMark(start: number, end: number, step: number, from: number): boolean {
  const first = Math.ceil(Math.max(start, from) / step) * step;
  return first < end;
}

function _time(at: number | null): number {
  return at ?? -Infinity;
}
