import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { keepDaysProblem, keepDaysText, type RetainedRow, rowsToDrop } from "../../src/core/retention.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** 12:30 UTC: hour and day marks fall between the times the cases use. */
const NOW = Date.UTC(2026, 11, 1, 12, 30);

/** One commit: the path, how long before NOW (null: a row from before stamps), and whether it deletes. */
type Commit = [path: string, ago: number | null, deleted?: boolean];

/** The journal of `commits` in order, each path's last row current. */
function journal(commits: readonly Commit[]): RetainedRow[] {
  const rows = commits.map(([path, ago, deleted], i): RetainedRow => ({ seq: i + 1, path, committedAt: ago === null ? null : NOW - ago, deleted: deleted ?? false, current: false }));
  const last = new Map(rows.map((r) => [r.path, r]));
  for (const r of last.values()) r.current = true;
  return rows;
}

describe("rowsToDrop", () => {
  const cases: [name: string, commits: Commit[], keepDays: number, dropped: number[]][] = [
    ["keeps everything with -1", [["a", 90 * DAY], ["a", 60 * DAY], ["b", 50 * DAY], ["b", 40 * DAY, true]], -1, []],
    ["with 0 drops every old version and tombstone, never a current file", [["a", 2 * MIN], ["a", MIN], ["b", MIN], ["b", 0, true], ["c", 3 * DAY]], 0, [1, 3, 4]],
    ["keeps every version replaced within the hour", [["a", 3 * HOUR], ["a", 40 * MIN], ["a", 30 * MIN]], 30, []],
    ["keeps only the version current at each hour mark of the last day", [["a", 5 * HOUR + 10 * MIN], ["a", 5 * HOUR + 5 * MIN], ["a", 5 * HOUR + MIN], ["a", 2 * HOUR]], 30, [1, 2]],
    ["keeps the version current at each midnight back to keepDays", [["a", 3 * DAY + 2 * HOUR], ["a", 3 * DAY - 2 * HOUR], ["a", 10 * MIN]], 30, [1]],
    ["drops a version replaced before keepDays", [["a", 40 * DAY], ["a", 35 * DAY], ["a", 10 * MIN]], 30, [1]],
    ["drops a trashed file, tombstone and versions, past keepDays", [["a", 50 * DAY], ["a", 45 * DAY], ["a", 40 * DAY, true], ["b", 60 * DAY]], 30, [1, 2, 3]],
    ["keeps a trashed file within keepDays", [["a", 50 * DAY], ["a", 10 * DAY, true]], 30, []],
    ["counts rows from before stamps as the oldest", [["a", null], ["a", null], ["a", 2 * DAY], ["b", null], ["b", null, true]], 30, [1, 4, 5]],
    ["weighs a move's tombstone as the next row of the path moved away", [["a", 40 * DAY], ["a", 20 * DAY, true], ["b", 20 * DAY]], 30, []],
    ["keeps a 1-day share's versions at the hour marks only", [["a", 26 * HOUR], ["a", 24 * HOUR + 10 * MIN], ["a", 23 * HOUR + 5 * MIN], ["a", 23 * HOUR + 2 * MIN], ["a", 3 * HOUR]], 1, [1, 3]],
  ];
  test.each(cases)("%s", (_name, commits, keepDays, dropped) => {
    expect(rowsToDrop(journal(commits), keepDays, NOW)).toEqual(dropped);
  });
});

describe("keepDays settings", () => {
  test.each([
    [30, undefined],
    [0, undefined],
    [-1, undefined],
    [-2, "bad"],
    [1.5, "bad"],
    [Number.NaN, "bad"],
  ])("keepDaysProblem(%p)", (days, want) => {
    expect(keepDaysProblem(days) === undefined ? undefined : "bad").toBe(want as string | undefined);
  });
  test.each([
    [-1, "forever"],
    [0, "current only"],
    [1, "1 day"],
    [30, "30 days"],
  ])("keepDaysText(%p) is %p", (days, text) => {
    expect(keepDaysText(days)).toBe(text);
  });
});

describe("rowsToDrop properties", () => {
  /** Commits over the last 70 days, oldest first; a few from before stamps at the start. */
  const commits = fc
    .tuple(
      fc.nat({ max: 3 }),
      fc.array(fc.record({ path: fc.constantFrom("a", "b", "c", "d/e"), gap: fc.oneof(fc.nat({ max: 10 * MIN }), fc.nat({ max: 3 * HOUR }), fc.nat({ max: 4 * DAY })), deleted: fc.boolean() }), { maxLength: 60 }),
      fc.nat({ max: 70 * DAY }),
    )
    .map(([unstamped, steps, start]) => {
      let at = NOW - start;
      const out: Commit[] = steps.slice(0, unstamped).map((s) => [s.path, null, s.deleted]);
      for (const s of steps.slice(unstamped)) {
        at = Math.min(NOW, at + s.gap);
        out.push([s.path, NOW - at, s.deleted]);
      }
      return journal(out);
    });
  const keepDays = fc.oneof(fc.constantFrom(-1, 0, 1, 30), fc.integer({ min: 1, max: 90 }));

  test("never drops a current live row, nor anything with -1", () => {
    fc.assert(
      fc.property(commits, keepDays, (rows, days) => {
        const dropped = new Set(rowsToDrop(rows, days, NOW));
        for (const r of rows) if (r.current && !r.deleted) expect(dropped.has(r.seq)).toBe(false);
        if (days === -1) expect(dropped.size).toBe(0);
      }),
    );
  });

  test("keeps every row replaced within the last hour", () => {
    fc.assert(
      fc.property(commits, fc.integer({ min: 1, max: 90 }), (rows, days) => {
        const dropped = new Set(rowsToDrop(rows, days, NOW));
        for (const r of rows) {
          const next = rows.find((n) => n.seq > r.seq && n.path === r.path);
          if (next?.committedAt != null && next.committedAt > NOW - HOUR) expect(dropped.has(r.seq)).toBe(false);
        }
      }),
    );
  });

  test("drops a trashed path whole and is idempotent", () => {
    fc.assert(
      fc.property(commits, keepDays, (rows, days) => {
        const dropped = new Set(rowsToDrop(rows, days, NOW));
        const gone = new Set(rows.filter((r) => r.current && dropped.has(r.seq)).map((r) => r.path));
        for (const r of rows) if (gone.has(r.path)) expect(dropped.has(r.seq)).toBe(true);
        const kept = rows.filter((r) => !dropped.has(r.seq));
        expect(rowsToDrop(kept, days, NOW)).toEqual([]);
      }),
    );
  });
});
